"""What the report shows of a run, and which files each of its figures reads (the rules of
``workflow/rules/report.smk`` ask here, as the other rules ask ``dmt.plan``).

Figures of a run: results/{run}/plots/{metric}_by_iteration.png, pseudo_labels.png,
dynamic_weights.png, examples.png, and its collapse check's table rounds_{metric}.html; of an
experiment: results/{exp}/final_table.csv / .html (the summary of its runs); of a comparison:
results/tables/{comparison}.html and, per experiment, results/tables/{comparison}/{exp}.png (one
line per method).
"""

from __future__ import annotations

import os

from dmt.plan import Plan, Run

FIGURES = ("pseudo_labels", "dynamic_weights", "examples")
# The model whose predictions the segmentation examples follow, and the iteration whose pseudo
# labels they show: iteration 1 keeps the fewest pixels (the smallest alpha), so it shows most.
EXAMPLE_MODEL = "A"
EXAMPLE_PSEUDO_ITERATION = 1


def example_iterations(last: int) -> list[int]:
    """The iterations whose predictions are shown: 0, 1, the middle one and the last (0, 1, 3, 5
    of five), fewer where the run has fewer."""
    return sorted({0, min(1, last), (last + 1) // 2, last})


def placement(plan: Plan, section: str, figure: str) -> dict:
    """report() arguments of a figure: a category per experiment, a subcategory per section (numbered
    so that the report lists them in this order), a label naming the figure and the run's method.

    One label only: with two, Snakemake's report turns a second label that has two values into a
    switch between results of the same first label, and fails to show a section holding e.g. one
    run's figure beside the experiment's table (no such pair exists)."""
    def experiment(wildcards) -> str:
        return plan.run(wildcards.run).exp.name if "run" in wildcards.keys() else wildcards.exp  # noqa: SIM118 - `in` tests values

    def labels(wildcards) -> dict:
        method = plan.run(wildcards.run).method.name if "run" in wildcards.keys() else "every run"  # noqa: SIM118
        return {"figure": f"{figure} ({method})"}

    return {"category": experiment, "subcategory": section, "labels": labels}


def metric_plot_options(run: Run, final: str, oracle: list[str]) -> dict:
    """Options of ``python -m dmt plot metric`` for one run: its final JSON, the oracle's line where
    its metrics exist."""
    return {"dataset": run.exp.dataset, "final": {run.method.name: final}, "oracle": oracle[0] if oracle else None}


def comparison_plot_options(plan: Plan, comparison: str, exp: str) -> dict:
    """Options of ``python -m dmt plot metric`` for a comparison on one experiment: a line per method."""
    runs = [plan.run(r) for r in plan.comparison_runs(comparison, exp)]
    return {"dataset": plan.experiment(exp).dataset, "final": {r.method.name: r.final_path for r in runs},
            "name": f"{comparison}, {exp}"}


def pseudo_plot_options(run: Run) -> dict:
    return {"dataset": run.exp.dataset, "sets": pseudo_sets(run)}


def figure_paths(run: Run) -> list[str]:
    """A run's figures, then its collapse check's table (``rounds_table``); online self-training
    labels inside its training, so it has no pseudo-label files to show."""
    plots = f"results/{run.name}/plots"
    names = [n for n in FIGURES if not (run.method.online and n == "pseudo_labels")]
    return [f"{plots}/{run.metric}_by_iteration.png", *(f"{plots}/{name}.png" for name in names),
            f"{plots}/rounds_{run.metric}.html"]


def table_paths(exp: str) -> list[str]:
    return [f"results/{exp}/final_table.csv", f"results/{exp}/final_table.html"]


def comparison_figure(comparison: str, exp: str) -> str:
    """A comparison's figure of one experiment (split seed): one line per method."""
    return f"results/tables/{comparison}/{exp}.png"


def comparison_files(plan: Plan) -> list[str]:
    """The tables and figures of every comparison whose runs all have results."""
    out = []
    for name in plan.comparisons:
        if all(os.path.exists(p) for p in plan.comparison_inputs(name).values()):
            out += [f"results/tables/{name}.html"]
            out += [comparison_figure(name, e) for e in plan.comparison(name).experiments]
    return out


def report_files(plan: Plan) -> list[str]:
    """Every figure and table of the reported runs: the inputs of the rule ``plots``."""
    runs = plan.with_results()
    exps = sorted({run.exp.name for run in runs})
    return ([path for run in runs for path in figure_paths(run)] + [p for e in exps for p in table_paths(e)]
            + comparison_files(plan))


def oracle_metrics(exp: str) -> list[str]:
    """The oracle's metrics where they exist: a full supervised training is not worth running for
    a figure (``snakemake results/{exp}/oracle/metrics.json`` makes it; the figure follows)."""
    path = f"results/{exp}/oracle/metrics.json"
    return [path] if os.path.exists(path) else []


def pseudo_sets(run: Run) -> dict[str, str]:
    """``"{i}:{t}"`` -> every pseudo-label file of the run (teacher t of iteration i - 1)."""
    teachers = sorted({run.teacher(m) for m in run.models})
    return {f"{i}:{t}": run.pseudo_path(i, t) for i in range(1, run.iterations + 1) for t in teachers}


def trained_models(run: Run) -> dict[str, str]:
    """``"{i}:{m}"`` -> the sidecar model.json of every model trained on pseudo labels (their
    training summaries hold the dynamic weights' histogram)."""
    return {f"{i}:{m}": run.model_path(i, m).replace("/model.pt", "/model.json")
            for i in range(1, run.iterations + 1) for m in run.models}


def example_models(run: Run) -> dict[str, str]:
    """``"{i}:{m}"`` -> the models whose predictions the segmentation examples show."""
    return {f"{i}:{EXAMPLE_MODEL}": run.model_path(i, EXAMPLE_MODEL) for i in example_iterations(run.iterations)}


def example_teacher(run: Run) -> tuple[str, str, str]:
    """(name, model file, pseudo-label file) of the teacher whose labels the examples show."""
    t, i = run.teacher(EXAMPLE_MODEL), EXAMPLE_PSEUDO_ITERATION
    return f"{t}{i - 1}", run.model_path(i - 1, t), run.pseudo_path(i, t)


def example_inputs(run: Run) -> dict[str, list[str]]:
    """The files ``python -m dmt examples`` reads for a run, besides the data."""
    return run.strategy.example_inputs(run)


def example_options(run: Run) -> dict:
    """Options of ``python -m dmt examples`` naming those files, and how the models predict."""
    return run.strategy.example_options(run)


def segmentation_example_inputs(run: Run) -> dict[str, list[str]]:
    """Predictions of model A on valtiny, and the teacher's pseudo labels beside its prediction."""
    inputs = {"models": list(example_models(run).values()), "valtiny": [run.exp.split_file("valtiny")]}
    if not run.method.online:
        _, teacher, pseudo = example_teacher(run)
        inputs.update(teacher=[teacher], pseudo=[pseudo])
    return inputs


def segmentation_example_options(run: Run) -> dict:
    options = {"valtiny": run.exp.split_file("valtiny"), "models": example_models(run)}
    if not run.method.online:
        name, teacher, pseudo = example_teacher(run)
        options.update(teacher=teacher, teacher_name=name, pseudo=pseudo)
    return {**options, **run.exp.evaluate_options()}


def classification_example_inputs(run: Run) -> dict[str, list[str]]:
    """The most and least confident images of every pseudo-label set."""
    return {"sets": list(pseudo_sets(run).values())}


def classification_example_options(run: Run) -> dict:
    return {"sets": pseudo_sets(run), "dataset": run.exp.dataset}
