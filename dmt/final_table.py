"""An experiment's final table: per run (method), the baseline, the final result, the gain, the
model the run selected and, where it was trained, the fully supervised oracle."""

from __future__ import annotations

import html

import pandas as pd

from dmt.atomic import write_text
from dmt.plots import RunCurve
from dmt.report_data import METRIC_NAME


def final_table(experiment: str, runs: list[RunCurve], task: str, oracle: float | None) -> pd.DataFrame:
    """One row per run, metrics as fractions (the CSV keeps them so)."""
    rows = []
    for run in runs:
        model, iteration = run.selected
        row = {"experiment": experiment, "method": run.label, "metric": METRIC_NAME[task],
               "baseline": run.baseline, "baseline_model": run.baseline_selected,
               "final": run.selected_value, "selected_model": f"{model}{iteration}",
               "gain": run.selected_value - run.baseline}
        if oracle is not None:
            row["oracle"] = oracle
            row["oracle_gap_closed"] = (run.selected_value - run.baseline) / (oracle - run.baseline) \
                if oracle != run.baseline else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


PERCENT = ("baseline", "final", "gain", "oracle", "oracle_gap_closed")


def write_final_table(table: pd.DataFrame, out_csv, out_html, title: str) -> None:
    """The CSV (fractions) and a small HTML page (percent) that the report shows."""
    write_text(out_csv, table.to_csv(index=False))
    shown = table.copy()
    for column in PERCENT:
        if column in shown:
            shown[column] = shown[column].map(lambda v: f"{100 * v:.2f}")
    shown = shown.rename(columns={c: f"{c} (%)" for c in PERCENT if c in shown}
                         ).rename(columns={"gain (%)": "gain (points)"})
    shown.columns = [c.replace("_", " ") for c in shown.columns]
    body = shown.to_html(index=False, border=0, classes="dmt", na_rep="–")
    style = ("body{font-family:sans-serif;margin:1em} table.dmt{border-collapse:collapse}"
             "table.dmt th,table.dmt td{padding:4px 10px;border-bottom:1px solid #ccc;text-align:right}"
             "table.dmt th{background:#f0f0f0}")
    write_text(out_html, f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                         f"<style>{style}</style></head>\n<body><h3>{html.escape(title)}</h3>\n{body}\n</body></html>\n")
