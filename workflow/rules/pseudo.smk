# Teacher {m} of iteration i-1 labels the unlabeled subset for the other model's iteration-i
# fine-tuning. Both sets of an iteration come from iteration i-1 models, so the two fine-tunings
# are independent jobs.
rule pseudo_label:
    input:
        data=lambda w: data_root(w.exp),
        teacher=lambda w: f"results/{w.exp}/iter{int(w.i) - 1}/{w.m}/model.pt",
        unlabeled=split_file("{exp}", "unlabeled"),
    output:
        h5="results/{exp}/iter{i}/pseudo_{m}.h5",
        summary="results/{exp}/iter{i}/pseudo_{m}.json",
    params:
        alpha=alpha,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        runtime=lambda w, threads: runtime_flags(w, threads),
        batch=lambda w: E(w)["inference_batch_size"],
        pad=lambda w: " ".join(map(str, E(w)["crop_size"])),
        selection="",
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        mem_mb=res("pseudo", "mem_mb"),
        runtime=res("pseudo", "runtime"),
        gpu=res("pseudo", "gpu"),
    log:
        "logs/{exp}/iter{i}/pseudo_{m}.log",
    benchmark:
        "logs/{exp}/benchmarks/iter{i}_pseudo_{m}.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt pseudo --dataset {params.dataset} --data {input.data} --teacher {input.teacher} "
        "--unlabeled {input.unlabeled} --alpha {params.alpha} --with-truth {params.runtime} "
        "--batch-size {params.batch} --pad-to {params.pad} {params.selection} --summary {output.summary} "
        "--out {output.h5} > {log} 2>&1"
