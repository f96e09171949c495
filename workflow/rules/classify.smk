# Image classification, Algorithm 1: one model per iteration, each re-trained from scratch on the
# labeled set plus the previous model's top-alpha pseudo-labeled images. The same commands as the
# segmentation rules (train, pseudo, evaluate, final), with the classification data sets.
use rule baseline as train_cls with:
    input:
        data=lambda w: data_root(w.exp),
        labeled=split_file("{exp}", "labeled"),
        valtiny=split_file("{exp}", "valtiny"),
        pseudo=lambda w: [] if w.i == "0" else f"results/{w.exp}/iter{w.i}/pseudo.h5",
        unlabeled=split_file("{exp}", "unlabeled"),
    output:
        model="results/{exp}/iter{i}/model.pt",
    wildcard_constraints:
        exp="|".join(CLS_EXPERIMENTS) or "^$",
        i="[0-9]+",
    params:
        spec=cls_spec,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        extra=lambda w, input: f"--pseudo {input.pseudo} --unlabeled {input.unlabeled}" if input.pseudo else "",
        runtime=lambda w, threads: runtime_flags(w, threads),
        workers=lambda w: E(w)["num_workers"],
        ckpt=lambda w: E(w)["checkpoint_every"],
        eval_every=lambda w: E(w)["eval_every"],
        tensorboard=lambda w: f"results/{w.exp}/tensorboard/iter{w.i}",
    log:
        "logs/{exp}/iter{i}/train.log",
    benchmark:
        "logs/{exp}/benchmarks/iter{i}_train.tsv"


use rule pseudo_label as pseudo_cls with:
    input:
        data=lambda w: data_root(w.exp),
        teacher=lambda w: f"results/{w.exp}/iter{int(w.i) - 1}/model.pt",
        unlabeled=split_file("{exp}", "unlabeled"),
    output:
        h5="results/{exp}/iter{i}/pseudo.h5",
        summary="results/{exp}/iter{i}/pseudo.json",
    params:
        alpha=alpha,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        runtime=lambda w, threads: runtime_flags(w, threads),
        batch=lambda w: E(w)["inference_batch_size"],
        pad=lambda w: " ".join(map(str, E(w)["crop_size"])),
        selection=lambda w: "--classwise" if E(w)["classification"]["selection"] == "classwise" else "",
    wildcard_constraints:
        exp="|".join(CLS_EXPERIMENTS) or "^$",
    log:
        "logs/{exp}/iter{i}/pseudo.log",
    benchmark:
        "logs/{exp}/benchmarks/iter{i}_pseudo.tsv"


use rule evaluate as evaluate_cls with:
    output:
        metrics="results/{exp}/{stage}/metrics.json",
    wildcard_constraints:
        exp="|".join(CLS_EXPERIMENTS) or "^$",
        stage="iter[0-9]+",


rule final_cls:
    input:
        lambda w: expand("results/{exp}/iter{n}/metrics.json", exp=w.exp, n=range(iterations(w.exp) + 1)),
    output:
        "results/{exp}/final_acc.json",
    wildcard_constraints:
        exp="|".join(CLS_EXPERIMENTS) or "^$",
    params:
        iterations=lambda w: iterations(w.exp),
    log:
        "logs/{exp}/final.log",
    benchmark:
        "logs/{exp}/benchmarks/final.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt final --task classification --results results/{wildcards.exp} "
        "--iterations {params.iterations} --out {output} > {log} 2>&1"
