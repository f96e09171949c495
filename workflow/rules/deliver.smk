# What a run delivers beyond its scores: the selected model as one self-describing file
# (dmt/deliver/export.py), and, where the experiment names a folder in predict_images, that folder's
# images labeled with it (dmt/deliver/predict.py).
rule final_model:
    input:
        final=lambda w: PLAN.run(w.run).final_path,
        models=lambda w: list(PLAN.run(w.run).final_candidates().values()),
        data=lambda w: experiment_of(w).data_root,
    output:
        model="results/{run}/final_model.pt",
        sidecar="results/{run}/final_model.json",
    log:
        "logs/{run}/final_model.log",
    benchmark:
        "logs/{run}/final_model.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: PLAN.run(w.run).export_options()),
        code=code_digest("deliver"),
    shell:
        "python -m dmt --log {log:q} export --final {input.final:q} --data {input.data:q} {params.args:q} --out {output.model:q}"


from dmt.deliver.predict import images_fingerprint


rule predict:
    input:
        model="results/{run}/final_model.pt",
        images=lambda w: experiment_of(w).predict_images(),
    output:
        directory("results/{run}/predictions"),
    log:
        "logs/{run}/predict.log",
    benchmark:
        "logs/{run}/predict.tsv"
    conda:
        CONDA_ENV
    threads: threads_of
    resources:
        **resources_of("evaluate"),
    params:
        # The images' names, sizes and times: an image replaced in place (same name, the folder's
        # time unchanged) predicts again, as do images added, removed or renamed.
        images=lambda w: images_fingerprint(experiment_of(w).predict_images()),
        args=options(lambda w: PLAN.run(w.run).predict_options()),
        runtime=runtime,
        code=code_digest("deliver"),
    shell:
        "python -m dmt --log {log:q} predict --model {input.model:q} --images {input.images:q} "
        "{params.args:q} {params.runtime:q} --out {output:q}"
