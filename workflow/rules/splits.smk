rule split:
    input:
        data=lambda w: data_root(w.exp),
        labeled_list=labeled_list_file,
    output:
        labeled=split_file("{exp}", "labeled"),
        unlabeled=split_file("{exp}", "unlabeled"),
        valtiny=split_file("{exp}", "valtiny"),
    params:
        labeled=lambda w: E(w)["labeled"],
        seed=lambda w: E(w)["split_seed"],
        valtiny=lambda w: E(w)["valtiny"],
        train_split=lambda w: dataset_info(E(w)["dataset"]).train_split,
        fixed=lambda w: f"--labeled-list {E(w)['labeled_list']}" if E(w).get("labeled_list") else "",
        valtiny_from=lambda w: "--valtiny-from-train" if task(w.exp) == "classification" else "",
    log:
        "logs/{exp}/split.log",
    benchmark:
        "logs/{exp}/benchmarks/split.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt split --data {input.data} --labeled {params.labeled} --valtiny {params.valtiny} "
        "--seed {params.seed} --train-split {params.train_split} {params.fixed} {params.valtiny_from} "
        "--out-dir $(dirname {output.labeled}) > {log} 2>&1"


rule dms:
    input:
        labeled=split_file("{exp}", "labeled"),
    output:
        a="results/{exp}/dms/A.txt",
        b="results/{exp}/dms/B.txt",
    params:
        alpha=lambda w: E(w)["dms_alpha"],
        seed=lambda w: E(w)["split_seed"],
    log:
        "logs/{exp}/dms.log",
    benchmark:
        "logs/{exp}/benchmarks/dms.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt dms --labeled {input.labeled} --alpha {params.alpha} --seed {params.seed} "
        "--out-a {output.a} --out-b {output.b} > {log} 2>&1"
