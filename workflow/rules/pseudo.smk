# Teacher {t} of iteration i - 1 labels the unlabeled set for iteration i of a run. Both sets of a
# mutual iteration come from iteration i - 1 models, so its two trainings are independent jobs.
rule pseudo_spec:
    output:
        "results/{run}/iter{i}/pseudo_{t}.spec.json",
    log:
        "logs/{run}/iter{i}/pseudo_{t}.spec.log",
    conda:
        CONDA_ENV
    params:
        spec=lambda w: to_json(PLAN.run(w.run).pseudo_job(int(w.i), w.t)),
    # A shell line, not a `run:` block: Snakemake runs each `run:` job in a Snakemake process of
    # its own (seconds each), a shell line costs milliseconds. Written beside, then renamed.
    shell:
        "printf '%s' {params.spec:q} > {output:q}.tmp && mv {output:q}.tmp {output:q}"


rule pseudo_label:
    input:
        spec="results/{run}/iter{i}/pseudo_{t}.spec.json",
        reads=lambda w: PLAN.run(w.run).pseudo_job(int(w.i), w.t).inputs(),
    output:
        h5="results/{run}/iter{i}/pseudo_{t}.h5",
        summary="results/{run}/iter{i}/pseudo_{t}.json",
    log:
        "logs/{run}/iter{i}/pseudo_{t}.log",
    benchmark:
        "logs/{run}/iter{i}/pseudo_{t}.tsv"
    priority: 10  # the critical path, as the trainings (train.smk)
    conda:
        CONDA_ENV
    threads: threads_of
    resources:
        **resources_of("pseudo"),
    params:
        runtime=runtime,
        code=code_digest("pseudo"),
    shell:
        "python -m dmt --log {log:q} pseudo --spec {input.spec:q} {params.runtime:q} --out {output.h5:q}"


# Two-model runs: how often the teachers of iteration i's two sets (models A and B of iteration
# i - 1) predict the same class on the unlabeled set, read from the sets' stored argmax (no
# forward pass); for the final job's collapse check.
rule agreement:
    input:
        lambda w: PLAN.run(w.run).agreement_inputs(int(w.i)),
    output:
        "results/{run}/iter{i}/agreement.json",
    log:
        "logs/{run}/iter{i}/agreement.log",
    benchmark:
        "logs/{run}/iter{i}/agreement.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: PLAN.run(w.run).agreement_options(int(w.i))),
        code=code_digest("pseudo"),
    shell:
        "python -m dmt --log {log:q} agreement {params.args:q} --out {output:q}"
