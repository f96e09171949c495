rule prepare_digits:
    output:
        directory("resources/data/digits"),
    params:
        seed=config["digits"]["seed"],
        n_train=config["digits"]["n_train"],
        n_val=config["digits"]["n_val"],
        version=DMT_VERSION,
    log:
        "logs/prepare_digits.log",
    benchmark:
        "logs/benchmarks/prepare_digits.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt prepare digits --out {output} --seed {params.seed} "
        "--n-train {params.n_train} --n-val {params.n_val} > {log} 2>&1"


# Real data sets: the user's local copies, checked and converted into the VOC layout once.
rule prepare_voc:
    output:
        directory("resources/data/voc"),
    params:
        voc_root=lambda w: raw_input("voc_root", "PASCAL VOC experiments"),
        sbd_root=lambda w: raw_input("sbd_root", "PASCAL VOC experiments (train_aug needs SBD)"),
        version=DMT_VERSION,
    log:
        "logs/prepare_voc.log",
    benchmark:
        "logs/benchmarks/prepare_voc.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt prepare voc --voc-root {params.voc_root:q} --sbd-root {params.sbd_root:q} "
        "--out {output} > {log} 2>&1 || {{ tail -n 1 {log} >&2; exit 1; }}"


rule prepare_cityscapes:
    output:
        directory("resources/data/cityscapes"),
    params:
        root=lambda w: raw_input("cityscapes_root", "Cityscapes experiments"),
        version=DMT_VERSION,
    log:
        "logs/prepare_cityscapes.log",
    benchmark:
        "logs/benchmarks/prepare_cityscapes.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt prepare cityscapes --cityscapes-root {params.root:q} --out {output} "
        "> {log} 2>&1 || {{ tail -n 1 {log} >&2; exit 1; }}"


# The COCO init: the original Caffe-converted checkpoint mapped once onto deeplab_v2's names.
rule convert_coco:
    input:
        lambda w: raw_input("coco_checkpoint", "an experiment with weights: coco"),
    output:
        COCO_WEIGHTS,
    params:
        version=DMT_VERSION,
    log:
        "logs/convert_coco.log",
    benchmark:
        "logs/benchmarks/convert_coco.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt convert-coco --checkpoint {input:q} --out {output} > {log} 2>&1 "
        "|| {{ tail -n 1 {log} >&2; exit 1; }}"


rule prepare_digits_cls:
    output:
        directory("resources/data/digits_cls"),
    params:
        seed=config["digits"]["seed"],
        version=DMT_VERSION,
    log:
        "logs/prepare_digits_cls.log",
    benchmark:
        "logs/benchmarks/prepare_digits_cls.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt prepare digits_cls --out {output} --seed {params.seed} > {log} 2>&1"


rule prepare_cifar10:
    output:
        directory("resources/data/cifar10"),
    params:
        root=lambda w: raw_input("cifar10_root", "CIFAR-10 experiments"),
        version=DMT_VERSION,
    log:
        "logs/prepare_cifar10.log",
    benchmark:
        "logs/benchmarks/prepare_cifar10.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt prepare cifar10 --cifar10-root {params.root:q} --out {output} "
        "> {log} 2>&1 || {{ tail -n 1 {log} >&2; exit 1; }}"
