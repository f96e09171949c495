# Baselines, DMT fine-tunings and the oracle share one command; they differ in their inputs and
# their spec (everything the result depends on, so a change reruns exactly these jobs).
rule baseline:
    input:
        data=lambda w: data_root(w.exp),
        labeled=labeled_for,
        valtiny=split_file("{exp}", "valtiny"),
        weights=lambda w: weights_files(w, model_index(w.m)),
    output:
        model="results/{exp}/iter0/{m}/model.pt",
    params:
        spec=baseline_spec,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        extra="",
        runtime=lambda w, threads: runtime_flags(w, threads),
        workers=lambda w: E(w)["num_workers"],
        ckpt=lambda w: E(w)["checkpoint_every"],
        eval_every=lambda w: E(w)["eval_every"],
        tensorboard=lambda w: f"results/{w.exp}/tensorboard/iter0_{w.m}",
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu"),
    log:
        "logs/{exp}/iter0/{m}/train.log",
    benchmark:
        "logs/{exp}/benchmarks/iter0_{m}_train.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt train --dataset {params.dataset} --data {input.data} --spec {params.spec:q} "
        "--labeled {input.labeled} {params.extra} --valtiny {input.valtiny} {params.runtime} "
        "--num-workers {params.workers} --checkpoint-every {params.ckpt} "
        "--eval-every {params.eval_every} --tensorboard {params.tensorboard} "
        "--out {output.model} > {log} 2>&1"


use rule baseline as finetune with:
    input:
        data=lambda w: data_root(w.exp),
        init=lambda w: f"results/{w.exp}/iter{int(w.i) - 1}/{w.m}/model.pt",
        pseudo=lambda w: f"results/{w.exp}/iter{w.i}/pseudo_{other(w.m)}.h5",
        labeled=split_file("{exp}", "labeled"),
        unlabeled=split_file("{exp}", "unlabeled"),
        valtiny=split_file("{exp}", "valtiny"),
    output:
        model="results/{exp}/iter{i}/{m}/model.pt",
    params:
        spec=finetune_spec,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        extra=lambda w, input: f"--pseudo {input.pseudo} --unlabeled {input.unlabeled} --init-from {input.init}",
        runtime=lambda w, threads: runtime_flags(w, threads),
        workers=lambda w: E(w)["num_workers"],
        ckpt=lambda w: E(w)["checkpoint_every"],
        eval_every=lambda w: E(w)["eval_every"],
        tensorboard=lambda w: f"results/{w.exp}/tensorboard/iter{w.i}_{w.m}",
    log:
        "logs/{exp}/iter{i}/{m}/train.log",
    benchmark:
        "logs/{exp}/benchmarks/iter{i}_{m}_train.tsv"


# Fully supervised reference: every train id labeled (labeled + unlabeled lists).
use rule baseline as oracle with:
    input:
        data=lambda w: data_root(w.exp),
        labeled=[split_file("{exp}", "labeled"), split_file("{exp}", "unlabeled")],
        valtiny=split_file("{exp}", "valtiny"),
        weights=lambda w: weights_files(w, 0),
    output:
        model="results/{exp}/oracle/model.pt",
    params:
        spec=oracle_spec,
        version=DMT_VERSION,
        dataset=lambda w: E(w)["dataset"],
        extra="",
        runtime=lambda w, threads: runtime_flags(w, threads),
        workers=lambda w: E(w)["num_workers"],
        ckpt=lambda w: E(w)["checkpoint_every"],
        eval_every=lambda w: E(w)["eval_every"],
        tensorboard=lambda w: f"results/{w.exp}/tensorboard/oracle",
    log:
        "logs/{exp}/oracle/train.log",
    benchmark:
        "logs/{exp}/benchmarks/oracle_train.tsv"
