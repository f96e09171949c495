# One preparation rule for every data set: the registry (dmt/data/registry.py) says which local
# files it reads (checked to exist, named when missing, before any job) and which function runs.
# A data set of the user's own files is prepared into a folder named by their fingerprint
# (resources/data/folder-<16 hex>, dmt.plan Experiment.data_root).
rule prepare:
    output:
        directory("resources/data/{prepared}"),
    log:
        "logs/prepare_{prepared}.log",
    benchmark:
        "logs/prepare_{prepared}.tsv"
    wildcard_constraints:
        prepared=f"(?:{_one_of(DATASETS)})(?:-[0-9a-f]{{16}})?",
    conda:
        CONDA_ENV
    params:
        dataset=lambda w: PLAN.prepared_dataset(w.prepared),
        args=options(lambda w: PLAN.prepare_options(w.prepared)),
        code=lambda w: code_digest(f"prepare:{PLAN.prepared_dataset(w.prepared)}"),
    shell:
        "python -m dmt --log {log:q} prepare {params.dataset:q} {params.args:q} --out {output:q}"


# The COCO init: the original Caffe-converted checkpoint mapped once onto deeplab_v2's names.
rule convert_coco:
    input:
        lambda w: raw_file("coco_checkpoint", "an experiment with weights: coco"),
    output:
        COCO_WEIGHTS,
    log:
        "logs/convert_coco.log",
    benchmark:
        "logs/convert_coco.tsv"
    conda:
        CONDA_ENV
    params:
        code=code_digest("convert_coco"),
    shell:
        "python -m dmt --log {log:q} convert-coco --checkpoint {input:q} --out {output:q}"
