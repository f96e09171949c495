rule evaluate:
    input:
        data=lambda w: data_root(w.exp),
        model="results/{exp}/{stage}/model.pt",
        valtiny=split_file("{exp}", "valtiny"),
    output:
        metrics="results/{exp}/{stage}/metrics.json",
    wildcard_constraints:
        stage="iter[0-9]+/[AB]|oracle",
    params:
        dataset=lambda w: E(w)["dataset"],
        runtime=lambda w, threads: runtime_flags(w, threads),
        batch=lambda w: E(w)["inference_batch_size"],
        pad=lambda w: " ".join(map(str, E(w)["crop_size"])),
    threads: lambda w: EXPERIMENTS[w.exp]["threads"]
    resources:
        mem_mb=res("evaluate", "mem_mb"),
        runtime=res("evaluate", "runtime"),
        gpu=res("evaluate", "gpu"),
    log:
        "logs/{exp}/{stage}/evaluate.log",
    benchmark:
        "logs/{exp}/benchmarks/{stage}_evaluate.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt evaluate --dataset {params.dataset} --data {input.data} --model {input.model} "
        "--val-split val --valtiny {input.valtiny} {params.runtime} --batch-size {params.batch} "
        "--pad-to {params.pad} --out {output.metrics} > {log} 2>&1"


rule final:
    input:
        lambda w: expand("results/{exp}/iter{n}/{m}/metrics.json", exp=w.exp,
                         n=range(iterations(w.exp) + 1), m=["A", "B"]),
    output:
        "results/{exp}/final_miou.json",
    params:
        iterations=lambda w: iterations(w.exp),
    log:
        "logs/{exp}/final.log",
    benchmark:
        "logs/{exp}/benchmarks/final.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m dmt final --results results/{wildcards.exp} --iterations {params.iterations} "
        "--out {output} > {log} 2>&1"
