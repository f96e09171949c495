rule split:
    input:
        data=lambda w: experiment_of(w).data_root,
        lists=lambda w: experiment_of(w).list_files(),
    output:
        labeled="resources/splits/{exp}/labeled.txt",
        unlabeled="resources/splits/{exp}/unlabeled.txt",
        valtiny="resources/splits/{exp}/valtiny.txt",
    log:
        "logs/{exp}/split.log",
    benchmark:
        "logs/{exp}/split.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: experiment_of(w).split_options()),
        code=code_digest("split"),
    shell:
        "python -m dmt --log {log:q} split --data {input.data:q} {params.args:q} --out-dir $(dirname {output.labeled:q})"


rule dms:
    input:
        labeled="resources/splits/{exp}/labeled.txt",
    output:
        a="results/{exp}/dms/A.txt",
        b="results/{exp}/dms/B.txt",
    log:
        "logs/{exp}/dms.log",
    benchmark:
        "logs/{exp}/dms.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: experiment_of(w).dms_options()),
        code=code_digest("split"),
    shell:
        "python -m dmt --log {log:q} dms --labeled {input.labeled:q} {params.args:q} "
        "--out-a {output.a:q} --out-b {output.b:q}"
