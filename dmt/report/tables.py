"""Tables of results, made with pandas: a comparison of methods over split seeds (the paper's
Table 7 / Table 2) with its statistics, the per-iteration scores of every method in long form (for
plots), the last iteration's models of every run of a comparison, and a Table-1-style summary of
runs (every run that has results; an experiment's runs for the report).

Scores are percentages (val mIoU for segmentation, test accuracy for classification), read from
the runs' ``final_*.json`` and the oracle's ``metrics.json``. A comparison's ``baseline`` row is
model A after iteration 0, where every method of an experiment starts; a run's own baseline (in
the summary, as in its final JSON) is the iteration-0 model it selects on valtiny like its final
model (A0 or B0 for two models).

A comparison's statistics are over split seeds: per row the mean, standard deviation and the
Student-t 95% interval of the mean, and the paired difference to dmt (the row's score minus dmt's
on the same seed), its mean and interval; one seed gives no interval (NaN, an empty cell). Its
models table (``compare`` writes it as ``{name}_models.csv``) puts selection in the open: one row
per run (method and seed) and model of the run's last iteration (A5 and B5; classification: its
last iteration, iter5, beside the selected one), with the model's valtiny score that selects, its
reported score, the model the run selected and the one a look at the reported split would have
picked (``oracle choice``: no valid selection, for reference).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from dmt.errors import DMTError
from dmt.store.atomic import read_json, write_text
from dmt.tasks import recorded_task, task_of


def _read(path) -> dict:
    return read_json(path, "results file")


def score_name(path) -> str:
    """What the scores of a run's final JSON are (its recorded task's metric)."""
    return recorded_task(_read(path), path).metric_label


def comparison_task(inputs: dict[str, str], task: str | None = None):
    """The task of a comparison (the plan allows one): ``task`` where given, else the one its runs'
    final JSONs record; every final JSON must record it."""
    recorded = {recorded_task(_read(path), path) for key, path in inputs.items() if not key.startswith("oracle:")}
    expected = {task_of(task)} if task else recorded
    if len(expected) != 1 or not recorded <= expected:
        names = ", ".join(sorted(t.name for t in recorded | expected)) or "none: give --task"
        raise DMTError(f"a comparison is of one task; its inputs are of: {names}")
    return expected.pop()


class Comparison(NamedTuple):
    table: pd.DataFrame  # one row per method
    iterations: pd.DataFrame  # long form: every model after every iteration
    models: pd.DataFrame  # the last iteration's models of every run
    experiments: list[str]  # the split seeds, in table order


STATISTICS = ["n", "mean", "std", "ci95 low", "ci95 high", "diff to dmt", "diff ci95 low", "diff ci95 high"]
REFERENCE = "dmt"  # the method every row's paired difference is to


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, standard deviation (ddof 1), low, high) of ``values``: the Student-t interval of the
    mean, n - 1 degrees of freedom. One value has a mean and no spread, so std and interval are NaN;
    none has nothing (all NaN)."""
    from scipy.stats import t  # here: its ~0.9 s import is the comparison's alone, not the summary's

    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return (math.nan,) * 4
    mean = float(v.mean())
    if len(v) == 1:
        return mean, math.nan, math.nan, math.nan
    std = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2, len(v) - 1)) * std / math.sqrt(len(v))
    return mean, std, mean - half, mean + half


def _statistics(rows: list[dict], experiments: list[str]) -> None:
    """Adds STATISTICS to every row: over the seeds it has, and of its per-seed differences to the
    reference's row on the seeds both have (pairing removes what a split does to every method)."""
    reference = next((r for r in rows if r["method"] == REFERENCE), None)
    for row in rows:
        values = [row[e] for e in experiments if e in row]
        row["n"] = len(values)
        row["mean"], row["std"], row["ci95 low"], row["ci95 high"] = mean_interval(values)
        diffs = [] if reference is None or row is reference else [
            row[e] - reference[e] for e in experiments if e in row and e in reference]
        row["diff to dmt"], _, row["diff ci95 low"], row["diff ci95 high"] = mean_interval(diffs)


def _run_rows(name: str, method: str, exp: str, data: dict, kind, where: str) -> tuple[list[dict], list[dict]]:
    """A run's rows of the long form (every model after every iteration) and of the models table."""
    long = [{"comparison": name, "experiment": exp, "method": method, "model": model, "iteration": i,
             "score": score} for model, i, score in kind.iteration_scores(data)]
    try:
        last, oracle = kind.last_models(data), kind.oracle_choice(data)
    except (KeyError, TypeError, AttributeError):
        raise DMTError(f"{where} does not set its last models side by side: it was written by an older dmt; "
                       f"rerun the final rule that makes it (snakemake --forcerun {where})") from None
    models = [{"comparison": name, "experiment": exp, "method": method, "selected": data["selected"],
               "model": model, kind.selection_label: tiny, kind.metric_label: score, "oracle choice": oracle}
              for model, tiny, score in last]
    return long, models


def comparison(name: str, inputs: dict[str, str], descriptions: dict[str, str],
               task: str | None = None) -> Comparison:
    """``inputs``: ``"{method}:{exp}"`` -> final JSON (``baseline:{exp}`` reads the experiment's own
    run; ``oracle:{exp}`` -> the oracle's metrics.json), methods and experiments in table order;
    ``task``: theirs, else the one the final JSONs record (comparison_task).

    The table has one row per method with a column per experiment (split seed), then STATISTICS
    (the number of seeds, their mean, standard deviation and the mean's 95% interval, the mean
    paired difference to dmt and its interval: mean_interval) and the models each seed's run
    selected. The models table has a row per run (method and seed) and model of its last
    iteration: the run's selected model, the model's valtiny score that selects and its reported
    score, and the oracle's choice (on the reported split: for reference only).
    """
    methods = list(dict.fromkeys(key.split(":", 1)[0] for key in inputs))
    experiments = list(dict.fromkeys(key.split(":", 1)[1] for key in inputs if not key.startswith("oracle:")))
    kind = comparison_task(inputs, task)
    rows, long, models = [], [], []
    for method in methods:
        row = {"method": method, "description": descriptions.get(method, "")}
        selected = []
        for key, path in inputs.items():
            m, exp = key.split(":", 1)
            if m != method:
                continue
            data = _read(path)
            if method == "oracle":
                row[exp] = 100 * kind.oracle_score(data)
                continue
            # a comparison's baseline is model A after iteration 0, where every method starts
            row[exp] = kind.baseline_score(data) if method == "baseline" else kind.score(data)
            if method != "baseline":
                selected.append(data["selected"])
                run_long, run_models = _run_rows(name, method, exp, data, kind, path)
                long += run_long
                models += run_models
        row["selected"] = " ".join(selected)
        rows.append(row)
    _statistics(rows, experiments)
    table = pd.DataFrame(rows, columns=["method", "description", *experiments, *STATISTICS, "selected"])
    long_columns = ["comparison", "experiment", "method", "model", "iteration", "score"]
    model_columns = ["comparison", "experiment", "method", "selected", "model", kind.selection_label,
                     kind.metric_label, "oracle choice"]
    return Comparison(table, pd.DataFrame(long, columns=long_columns), pd.DataFrame(models, columns=model_columns),
                      experiments)


def seeds_line(experiments: list[str]) -> str:
    """What the statistics of a comparison's table are over, for the line under its title."""
    return (f"{len(experiments)} split seed{'s' * (len(experiments) != 1)}: {', '.join(experiments)}. "
            f"n: the seeds a row has; ci95: the 95% Student-t interval of the mean (n - 1 degrees of "
            f"freedom; empty with one seed); diff to dmt: the mean over the seeds of the method's score "
            f"minus dmt's on the same seed, with its interval.")


def summary(runs: dict[str, dict]) -> pd.DataFrame:
    """Table-1-style, one row per run: ``runs`` maps a run to {final (its final JSON), experiment,
    dataset, labeled, method, oracle (the experiment's oracle metrics, or None)}."""
    rows = []
    for run, r in runs.items():
        data = _read(r["final"])
        task = recorded_task(data, r["final"])
        baseline, baseline_model = task.own_baseline(data)
        final = task.score(data)
        oracle = 100 * task.oracle_score(_read(r["oracle"])) if r.get("oracle") else math.nan
        rows.append({"run": run, "experiment": r["experiment"], "dataset": r["dataset"],
                     "labeled": r["labeled"], "method": r["method"], "metric": task.metric_label,
                     "baseline": baseline, "baseline model": baseline_model, "final": final,
                     "selected": data["selected"], "gain": final - baseline, "oracle": oracle,
                     # the share of the way from the baseline to the oracle this run went
                     "oracle gap closed": 100 * (final - baseline) / (oracle - baseline)
                     if oracle > baseline else math.nan})
    columns = ["run", "experiment", "dataset", "labeled", "method", "metric", "baseline", "baseline model",
               "final", "selected", "gain", "oracle", "oracle gap closed"]
    return pd.DataFrame(rows, columns=columns)


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """Floats with two decimals, empty where missing."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return shown


STYLE = ("body{font-family:sans-serif;margin:1em} table.dmt{border-collapse:collapse}"
         "table.dmt th,table.dmt td{padding:4px 10px;border-bottom:1px solid #ccc;text-align:right}"
         "table.dmt th{background:#f0f0f0}")


def write(table: pd.DataFrame, csv_path, title: str | None = None, note: str | None = None) -> None:
    """``table`` as CSV (full precision) and, beside it, Markdown and a small HTML page (for the
    report) with two decimals and empty cells blank; ``note`` is a line under the title."""
    csv_path = Path(csv_path)
    write_text(csv_path, table.to_csv(index=False))
    shown = _shown(table)
    text = (f"# {title}\n\n" if title else "") + (f"{note}\n\n" if note else "")
    write_text(csv_path.with_suffix(".md"), text + shown.to_markdown(index=False, disable_numparse=True) + "\n")
    head = html.escape(title or csv_path.stem)
    line = f"<p>{html.escape(note)}</p>\n" if note else ""
    body = shown.to_html(index=False, border=0, classes="dmt", na_rep="")
    write_text(csv_path.with_suffix(".html"), f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                                              f"<title>{head}</title><style>{STYLE}</style></head>\n"
                                              f"<body><h3>{head}</h3>\n{line}{body}\n</body></html>\n")
