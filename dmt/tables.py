"""Tables of results, made with pandas: a comparison of methods over split seeds (the paper's
Table 7 / Table 2), the per-iteration scores of every method in long form (for plots), and a
Table-1-style summary of every experiment that has results.

Scores are percentages (val mIoU for segmentation, test accuracy for classification), read from
the runs' ``final_*.json`` and the oracle's ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dmt.atomic import write_text
from dmt.errors import DMTError


def _read(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DMTError(f"cannot read results file {path} ({e}); rerun the job that makes it") from None


def score_name(path) -> str:
    """What the scores of a results file are."""
    data = _read(path)
    return "val mIoU" if "miou" in data or "val" in data else "test accuracy"


def final_score(final: dict) -> float:
    """The selected model's score of a run's final JSON, in percent."""
    return 100 * (final["miou"] if "miou" in final else final["accuracy"])


def baseline_score(final: dict) -> float:
    """Iteration 0 of model A, where every method of the experiment starts, in percent."""
    if "val_miou_by_iteration" in final:
        return 100 * final["val_miou_by_iteration"]["A"][0]
    return 100 * final["baseline_accuracy"]


def oracle_score(metrics: dict) -> float:
    return 100 * (metrics["val"]["miou"] if "val" in metrics else metrics["test"]["accuracy"])


def iteration_scores(final: dict) -> list[tuple[str, int, float]]:
    """(model, iteration, score in percent) of every model after every iteration of a run."""
    if "val_miou_by_iteration" in final:
        return [(m, i, 100 * v) for m, scores in final["val_miou_by_iteration"].items()
                for i, v in enumerate(scores)]
    return [("A", h["iteration"], 100 * h["test_accuracy"]) for h in final["history"]]


def comparison(name: str, inputs: dict[str, str], descriptions: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``inputs``: ``"{method}:{exp}"`` -> final JSON (``baseline:{exp}`` reads the experiment's own
    run; ``oracle:{exp}`` -> the oracle's metrics.json), methods and experiments in table order.

    Returns (table, iterations): one row per method with a column per experiment (split seed),
    mean, standard deviation (over seeds, ddof 1) and the selected models; and the long form.
    """
    methods = list(dict.fromkeys(key.split(":", 1)[0] for key in inputs))
    experiments = list(dict.fromkeys(key.split(":", 1)[1] for key in inputs if not key.startswith("oracle:")))
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
                row[exp] = oracle_score(data)
                continue
            row[exp] = baseline_score(data) if method == "baseline" else final_score(data)
            if method != "baseline":
                selected.append(data["selected"])
                long += [{"comparison": name, "experiment": exp, "method": method, "model": model,
                          "iteration": i, "score": score} for model, i, score in iteration_scores(data)]
        values = pd.Series([row[e] for e in experiments if e in row], dtype=float)
        row["mean"] = values.mean()
        row["std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
        row["selected"] = " ".join(selected)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["method", "description", *experiments, "mean", "std", "selected"])
    return table, pd.DataFrame(long, columns=["comparison", "experiment", "method", "model", "iteration", "score"])


def summary(finals: dict[str, str], oracles: dict[str, str], experiments: dict[str, dict]) -> pd.DataFrame:
    """Table-1-style: one row per run with results (``run`` -> final JSON); ``experiments`` holds
    each run's experiment facts (experiment, dataset, labeled, method); ``oracles``: exp -> metrics."""
    rows = []
    for run, path in finals.items():
        data, facts = _read(path), experiments[run]
        oracle = oracles.get(facts["experiment"])
        rows.append({**facts, "baseline": baseline_score(data), "final": final_score(data),
                     "gain": final_score(data) - baseline_score(data), "selected": data["selected"],
                     "oracle": oracle_score(_read(oracle)) if oracle else float("nan")})
    return pd.DataFrame(rows, columns=["run", "experiment", "dataset", "labeled", "method", "baseline",
                                       "final", "gain", "selected", "oracle"])


def write(table: pd.DataFrame, csv_path, title: str | None = None) -> None:
    """``table`` as CSV (full precision) and, beside it, Markdown (two decimals, empty cells blank)."""
    csv_path = Path(csv_path)
    write_text(csv_path, table.to_csv(index=False))
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    text = (f"# {title}\n\n" if title else "") + shown.to_markdown(index=False, disable_numparse=True) + "\n"
    write_text(csv_path.with_suffix(".md"), text)
