# Every training (baselines, DMT iterations of any method, the oracle) is one command reading one
# spec file, which the plan writes; the rules differ only in which model folders they make, so
# that `-R finetune` reruns the iterations and nothing else.
rule train_spec:
    output:
        "results/{job}/spec.json",
    log:
        "logs/{job}/spec.log",
    wildcard_constraints:
        job=MODEL_JOB,
    conda:
        CONDA_ENV
    params:
        spec=lambda w: to_json(PLAN.train_job(w.job)),
    # A shell line, not a `run:` block: Snakemake runs each `run:` job in a Snakemake process of
    # its own (seconds each), a shell line costs milliseconds. Written beside, then renamed.
    shell:
        "printf '%s' {params.spec:q} > {output:q}.tmp && mv {output:q}.tmp {output:q}"


rule baseline:
    input:
        spec="results/{job}/spec.json",
        reads=lambda w: PLAN.train_job(w.job).inputs(),
    output:
        model="results/{job}/model.pt",
        # its digest (checked by every job that reads the model), meta, spec and training summary
        sidecar="results/{job}/model.json",
    log:
        "logs/{job}/train.log",
    benchmark:
        "logs/{job}/train.tsv"
    wildcard_constraints:
        job=BASELINE_JOB,
    # Trainings and pseudo labels are a run's critical path; an evaluation (or the agreement) that
    # is ready at the same time waits for a free core instead of delaying the next iteration.
    priority: 10
    conda:
        CONDA_ENV
    threads: threads_of
    resources:
        **resources_of("train"),
    params:
        runtime=runtime,
        args=options(lambda w: experiment_of(w).training_options(f"results/{w.job}")),
        code=code_digest("train"),
    shell:
        "python -m dmt --log {log:q} train --spec {input.spec:q} {params.runtime:q} {params.args:q} "
        "--out {output.model:q}"


# Iteration i >= 1 of a run: fine-tuning (segmentation) or re-training (classification).
use rule baseline as finetune with:
    wildcard_constraints:
        job=ITERATION_JOB,


# Fully supervised reference: every train id labeled.
use rule baseline as oracle with:
    wildcard_constraints:
        job=ORACLE_JOB,


# A pre-training (config `pretrainings:`): trained once from scratch on its own data set, then the
# init of every experiment's model that names it (weights: pretrained:NAME), whatever its split
# seed or method. Its spec, like a training's, is written by the plan.
rule pretrain_spec:
    output:
        "resources/pretrained/{name}/spec.json",
    log:
        "logs/pretrained/{name}/spec.log",
    wildcard_constraints:
        name=PRETRAININGS,
    conda:
        CONDA_ENV
    params:
        spec=lambda w: to_json(PLAN.pretrain_job(w.name)),
    shell:
        "printf '%s' {params.spec:q} > {output:q}.tmp && mv {output:q}.tmp {output:q}"


use rule baseline as pretrain with:
    input:
        spec="resources/pretrained/{name}/spec.json",
        reads=lambda w: PLAN.pretraining(w.name).rule_inputs(),
    output:
        model="resources/pretrained/{name}/model.pt",
        sidecar="resources/pretrained/{name}/model.json",
    log:
        "logs/pretrained/{name}/train.log",
    benchmark:
        "logs/pretrained/{name}/train.tsv"
    wildcard_constraints:
        name=PRETRAININGS,
    params:
        runtime=runtime,
        args=options(lambda w: PLAN.pretraining(w.name).training_options()),
        code=code_digest("train"),
