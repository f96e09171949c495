# One preparation rule for every data set: the registry (dmt/data/registry.py) says which local
# files it reads (checked to exist, named when missing, before any job) and which function runs.
rule prepare:
    output:
        directory("resources/data/{dataset}"),
    params:
        args=lambda w: PLAN.prepare_args(w.dataset),
        code=lambda w: code_digest(f"prepare:{w.dataset}"),
    log:
        "logs/prepare_{dataset}.log",
    benchmark:
        "logs/benchmarks/prepare_{dataset}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt --log {log} prepare {wildcards.dataset} {params.args} --out {output}"


# The COCO init: the original Caffe-converted checkpoint mapped once onto deeplab_v2's names.
rule convert_coco:
    input:
        lambda w: raw_input(config, "coco_checkpoint", "an experiment with weights: coco"),
    output:
        COCO_WEIGHTS,
    params:
        code=code_digest("convert_coco"),
    log:
        "logs/convert_coco.log",
    benchmark:
        "logs/benchmarks/convert_coco.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt --log {log} convert-coco --checkpoint {input:q} --out {output}"
