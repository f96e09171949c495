"""Tables of results, made with pandas: a comparison of methods over split seeds (the paper's
Table 7 / Table 2), the per-iteration scores of every method in long form (for plots), and a
Table-1-style summary of runs (every run that has results; an experiment's runs for the report).

Scores are percentages (val mIoU for segmentation, test accuracy for classification), read from
the runs' ``final_*.json`` and the oracle's ``metrics.json``. A comparison's ``baseline`` row is
model A after iteration 0, where every method of an experiment starts; a run's own baseline (in
the summary, as in its final JSON) is the iteration-0 model it selects on valtiny like its final
model (A0 or B0 for two models).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from dmt.errors import DMTError
from dmt.store.atomic import write_text
from dmt.tasks import recorded_task, task_of


def _read(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DMTError(f"cannot read results file {path} ({e}); rerun the job that makes it") from None


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


def comparison(name: str, inputs: dict[str, str], descriptions: dict[str, str],
               task: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``inputs``: ``"{method}:{exp}"`` -> final JSON (``baseline:{exp}`` reads the experiment's own
    run; ``oracle:{exp}`` -> the oracle's metrics.json), methods and experiments in table order;
    ``task``: theirs, else the one the final JSONs record (comparison_task).

    Returns (table, iterations): one row per method with a column per experiment (split seed),
    mean, standard deviation (over seeds, ddof 1) and the selected models; and the long form.
    """
    methods = list(dict.fromkeys(key.split(":", 1)[0] for key in inputs))
    experiments = list(dict.fromkeys(key.split(":", 1)[1] for key in inputs if not key.startswith("oracle:")))
    kind = comparison_task(inputs, task)
    rows, long = [], []
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
                long += [{"comparison": name, "experiment": exp, "method": method, "model": model,
                          "iteration": i, "score": score} for model, i, score in kind.iteration_scores(data)]
        values = pd.Series([row[e] for e in experiments if e in row], dtype=float)
        row["mean"] = values.mean()
        row["std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
        row["selected"] = " ".join(selected)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["method", "description", *experiments, "mean", "std", "selected"])
    return table, pd.DataFrame(long, columns=["comparison", "experiment", "method", "model", "iteration", "score"])


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


def write(table: pd.DataFrame, csv_path, title: str | None = None) -> None:
    """``table`` as CSV (full precision) and, beside it, Markdown and a small HTML page (for the
    report) with two decimals and empty cells blank."""
    csv_path = Path(csv_path)
    write_text(csv_path, table.to_csv(index=False))
    shown = _shown(table)
    text = (f"# {title}\n\n" if title else "") + shown.to_markdown(index=False, disable_numparse=True) + "\n"
    write_text(csv_path.with_suffix(".md"), text)
    head = html.escape(title or csv_path.stem)
    body = shown.to_html(index=False, border=0, classes="dmt", na_rep="")
    write_text(csv_path.with_suffix(".html"), f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                                              f"<title>{head}</title><style>{STYLE}</style></head>\n"
                                              f"<body><h3>{head}</h3>\n{body}\n</body></html>\n")
