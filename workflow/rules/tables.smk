# Tables (pandas): a comparison's methods x split seeds (mean, std, 95% intervals, paired differences to
# dmt; the last iteration's models of every run beside it), and a summary of every run with results.
rule compare:
    input:
        lambda w: list(PLAN.comparison_inputs(w.comparison).values()),
    output:
        table="results/tables/{comparison}.csv",
        markdown="results/tables/{comparison}.md",
        html=report(
            "results/tables/{comparison}.html",
            caption="../report/comparison_table.rst",
            category="comparisons",
            subcategory=lambda w: w.comparison,
            labels={"figure": "table"},
        ),
        iterations="results/tables/{comparison}_iterations.csv",
        models="results/tables/{comparison}_models.csv",
    log:
        "logs/tables/{comparison}.log",
    benchmark:
        "logs/tables/{comparison}.tsv"
    wildcard_constraints:
        comparison=_one_of(PLAN.comparisons),
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: {"task": PLAN.comparison_task(w.comparison)}),
        inputs=lambda w: items(PLAN.comparison_inputs(w.comparison)),
        code=code_digest("tables"),
    shell:
        "python -m dmt --log {log:q} compare --name {wildcards.comparison:q} --out-dir results/tables "
        "{params.args:q} {params.inputs:q}"


# Runs whose results exist when the DAG is built: a new result changes the inputs, which reruns it.
rule summary:
    input:
        lambda w: PLAN.runs_inputs(PLAN.runs_json(PLAN.with_results())),
    output:
        table="results/tables/summary.csv",
        markdown="results/tables/summary.md",
        html="results/tables/summary.html",
    log:
        "logs/tables/summary.log",
    benchmark:
        "logs/tables/summary.tsv"
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: {"runs": PLAN.runs_json(PLAN.with_results())}),
        code=code_digest("tables"),
    shell:
        "python -m dmt --log {log:q} summary {params.args:q} --out {output.table:q}"


# The modern protocol's tables: a comparison's runs where they exist when the DAG is built (empty
# cells elsewhere; a new result changes the inputs, which reruns it) beside the published results
# it names (`references:`).
rule protocol_table:
    input:
        lambda w: sorted({p for row in PLAN.protocol_runs(w.comparison).values() for p in row.values() if p}),
    output:
        table="results/tables/protocol_{comparison}.csv",
        markdown="results/tables/protocol_{comparison}.md",
        html="results/tables/protocol_{comparison}.html",
    log:
        "logs/tables/protocol_{comparison}.log",
    benchmark:
        "logs/tables/protocol_{comparison}.tsv"
    wildcard_constraints:
        comparison=_one_of(PLAN.comparisons),
    conda:
        CONDA_ENV
    params:
        args=options(lambda w: PLAN.protocol_options(w.comparison)),
        code=code_digest("tables"),
    shell:
        "python -m dmt --log {log:q} protocol-table {params.args:q} --out {output.table:q}"
