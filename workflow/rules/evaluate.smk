rule evaluate:
    input:
        data=lambda w: experiment_of(w).data_root,
        model="results/{job}/model.pt",
        valtiny=lambda w: experiment_of(w).split_file("valtiny"),
    output:
        metrics="results/{job}/metrics.json",
    log:
        "logs/{job}/evaluate.log",
    benchmark:
        "logs/{job}/evaluate.tsv"
    wildcard_constraints:
        job=MODEL_JOB,
    conda:
        CONDA_ENV
    threads: threads_of
    resources:
        **resources_of("evaluate"),
    params:
        runtime=runtime,
        args=options(lambda w: experiment_of(w).evaluate_options()),
        code=code_digest("evaluate"),
    shell:
        "python -m dmt --log {log:q} evaluate --data {input.data:q} "
        "--model {input.model:q} --valtiny {input.valtiny:q} {params.runtime:q} {params.args:q} --out {output.metrics:q}"


# The run's result: the selected final model (segmentation: the better of the last A / B on
# valtiny; classification: the best iteration on valtiny), reported on val (test), beside its
# baseline and the per-iteration history. Beside it, the collapse check of every round
# (dmt.evaluation.rounds): its margins are params of this rule alone, so changing one reruns only it.
rule final:
    input:
        lambda w: PLAN.final_inputs(w.run, w.metric),
    output:
        final="results/{run}/final_{metric}.json",
        rounds="results/{run}/rounds_{metric}.json",
    log:
        "logs/{run}/final_{metric}.log",
    benchmark:
        "logs/{run}/final_{metric}.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: PLAN.run(w.run).final_options(w.metric)),
        code=code_digest("evaluate"),
    shell:
        "python -m dmt --log {log:q} final {params.args:q} --out {output.final:q} --rounds {output.rounds:q}"
