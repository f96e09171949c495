# The report: figures of every run that was run and each experiment's final table, as report()
# outputs. `snakemake --cores N plots` makes them, `snakemake --report results/report.html plots`
# bundles them into one HTML file. They read finished results only (dmt.report.plan says which).
from dmt.report.plan import (
    comparison_plot_options,
    example_inputs,
    example_options,
    metric_plot_options,
    oracle_metrics,
    placement,
    pseudo_plot_options,
    pseudo_sets,
    report_files,
    trained_models,
)


report: "../report/workflow.rst"


# Every figure and table of the runs whose final result exists.
rule plots:
    input:
        lambda w: report_files(PLAN),


rule plot_metric:
    input:
        final="results/{run}/final_{metric}.json",
        oracle=lambda w: oracle_metrics(experiment_of(w).name),
    output:
        report(
            "results/{run}/plots/{metric}_by_iteration.png",
            caption="../report/metric_by_iteration.rst",
            **placement(PLAN, "1 results", "metric per iteration"),
        ),
    log:
        "logs/{run}/plots/{metric}_by_iteration.log",
    benchmark:
        "logs/{run}/plots/{metric}_by_iteration.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        args=lambda w, input: flags(metric_plot_options(PLAN.run(w.run), input.final, input.oracle)),
        code=code_digest("report"),
    shell:
        "python -m dmt --log {log:q} plot metric {params.args:q} --name {wildcards.run:q} --out {output:q}"


rule plot_pseudo:
    input:
        sets=lambda w: list(pseudo_sets(PLAN.run(w.run)).values()),
        summaries=lambda w: [p.replace(".h5", ".json") for p in pseudo_sets(PLAN.run(w.run)).values()],
        data=lambda w: experiment_of(w).data_root,
    output:
        report(
            "results/{run}/plots/pseudo_labels.png",
            caption="../report/pseudo_labels.rst",
            **placement(PLAN, "2 pseudo labels", "kept share and precision per class"),
        ),
    log:
        "logs/{run}/plots/pseudo_labels.log",
    benchmark:
        "logs/{run}/plots/pseudo_labels.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: pseudo_plot_options(PLAN.run(w.run))),
        code=code_digest("report"),
    shell:
        "python -m dmt --log {log:q} plot pseudo --data {input.data:q} {params.args:q} "
        "--name {wildcards.run:q} --out {output:q}"


rule plot_weights:
    input:
        lambda w: list(trained_models(PLAN.run(w.run)).values()),
    output:
        report(
            "results/{run}/plots/dynamic_weights.png",
            caption="../report/dynamic_weights.rst",
            **placement(PLAN, "3 dynamic weights", "histograms per iteration"),
        ),
    log:
        "logs/{run}/plots/dynamic_weights.log",
    benchmark:
        "logs/{run}/plots/dynamic_weights.tsv"
    priority: 1
    localrule: True
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: {"models": trained_models(PLAN.run(w.run))}),
        code=code_digest("report"),
    shell:
        "python -m dmt --log {log:q} plot weights {params.args:q} --name {wildcards.run:q} --out {output:q}"


rule examples:
    input:
        unpack(lambda w: example_inputs(PLAN.run(w.run))),
        data=lambda w: experiment_of(w).data_root,
    output:
        report(
            "results/{run}/plots/examples.png",
            caption="../report/examples.rst",
            **placement(PLAN, "4 examples", "example predictions"),
        ),
    log:
        "logs/{run}/plots/examples.log",
    benchmark:
        "logs/{run}/plots/examples.tsv"
    priority: 2  # the longest figure job (it predicts): started first, the others beside it
    conda:
        CONDA_ENV
    threads: threads_of
    resources:
        **resources_of("evaluate"),
    params:
        args=options(lambda w: example_options(PLAN.run(w.run))),
        runtime=runtime,
        code=code_digest("report"),
    shell:
        "python -m dmt --log {log:q} examples --data {input.data:q} {params.args:q} "
        "{params.runtime:q} --name {wildcards.run:q} --out {output:q}"


# A run's collapse check (the final job's rounds record) as a table: one row per round with its
# warnings; the final job's log holds the same warnings in one line.
rule rounds_table:
    input:
        "results/{run}/rounds_{metric}.json",
    output:
        csv="results/{run}/plots/rounds_{metric}.csv",
        markdown="results/{run}/plots/rounds_{metric}.md",
        html=report(
            "results/{run}/plots/rounds_{metric}.html",
            caption="../report/rounds.rst",
            **placement(PLAN, "5 collapse check", "per round"),
        ),
    log:
        "logs/{run}/plots/rounds_{metric}.log",
    benchmark:
        "logs/{run}/plots/rounds_{metric}.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=code_digest("tables"),
    shell:
        "python -m dmt --log {log:q} rounds --rounds {input:q} --name {wildcards.run:q} --out {output.csv:q}"


# An experiment's runs side by side: the summary table restricted to them.
rule final_table:
    input:
        lambda w: PLAN.runs_inputs(PLAN.runs_json(PLAN.experiment_runs(w.exp))),
    output:
        csv="results/{exp}/final_table.csv",
        markdown="results/{exp}/final_table.md",
        html=report(
            "results/{exp}/final_table.html",
            caption="../report/final_table.rst",
            **placement(PLAN, "1 results", "final table"),
        ),
    log:
        "logs/{exp}/final_table.log",
    benchmark:
        "logs/{exp}/final_table.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        args=options(
            lambda w: {"runs": PLAN.runs_json(PLAN.experiment_runs(w.exp)), "title": f"{w.exp}: final results (%)"}
        ),
        code=code_digest("tables"),
    shell:
        "python -m dmt --log {log:q} summary {params.args:q} --out {output.csv:q}"


# A comparison's score per iteration on one split seed: one line per method.
rule plot_comparison:
    input:
        lambda w: [PLAN.run(r).final_path for r in PLAN.comparison_runs(w.comparison, w.exp)],
    output:
        report(
            "results/tables/{comparison}/{exp}.png",
            caption="../report/comparison.rst",
            category="comparisons",
            subcategory=lambda w: w.comparison,
            labels=lambda w: {"figure": f"per iteration ({w.exp})"},
        ),
    log:
        "logs/tables/{comparison}/{exp}.log",
    benchmark:
        "logs/tables/{comparison}/{exp}.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: comparison_plot_options(PLAN, w.comparison, w.exp)),
        code=code_digest("report"),
    shell:
        "python -m dmt --log {log:q} plot metric {params.args:q} --out {output:q}"
