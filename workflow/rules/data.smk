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
