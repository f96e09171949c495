"""The modern protocol's table: this pipeline's runs on UniMatch's splits (baseline, DST, DMT ...)
beside the published results of ST++, U2PL and UniMatch V1 / V2 on the same splits, each with its
source; a cell of this pipeline is empty where its run has not been made.

Only numbers whose source is recorded here are shown (val mIoU, %, by labeled count; the
architecture each was made with is in its row: UniMatch V2's DINOv2-B is not this pipeline's
DeepLabV3+)."""

from __future__ import annotations

import math

import pandas as pd

from dmt.errors import DMTError
from dmt.store.atomic import read_json
from dmt.tasks import recorded_task

V1 = "UniMatch README, LiheYoung/UniMatch @0324f3d (DeepLabV3+ R101"
V2 = "UniMatch V2 README, LiheYoung/UniMatch-V2 @12469da"
# name -> rows of (method, model, source, scores by labeled count).
REFERENCES = {
    "voc_classic": [
        ("Supervised", "DeepLabV3+ R101", f"{V1}, crop 321)",
         {"92": 45.1, "183": 55.3, "366": 64.8, "732": 69.7, "1464": 73.5}),
        ("ST++", "DeepLabV3+ R101", f"{V1}, crop 321)",
         {"92": 65.2, "183": 71.0, "366": 74.6, "732": 77.3, "1464": 79.1}),
        ("U2PL", "DeepLabV3+ R101", f"{V1}, crop 321)",
         {"92": 68.0, "183": 69.2, "366": 73.7, "732": 76.2, "1464": 79.5}),
        ("UniMatch V1", "DeepLabV3+ R101", f"{V1}, crop 321)",
         {"92": 75.2, "183": 77.2, "366": 78.8, "732": 79.9, "1464": 81.2}),
        ("UniMatch V2", "DINOv2-B", V2, {"92": 86.3, "183": 87.9, "366": 88.9, "732": 90.0, "1464": 90.8}),
    ],
    # Cityscapes by labeled images: 1/16 = 186, 1/8 = 372, 1/4 = 744, 1/2 = 1,488 (none at 1/30).
    "cityscapes": [
        ("Supervised", "DeepLabV3+ R101", f"{V1})", {"186": 66.3, "372": 72.8, "744": 75.0, "1488": 78.0}),
        ("U2PL", "DeepLabV3+ R101", f"{V1})", {"186": 74.9, "372": 76.5, "744": 78.5, "1488": 79.1}),
        ("UniMatch V1", "DeepLabV3+ R101", f"{V1})", {"186": 76.6, "372": 77.9, "744": 79.2, "1488": 79.5}),
        ("UniMatch V2", "DINOv2-B", V2, {"186": 83.6, "372": 84.3, "744": 84.5, "1488": 85.1}),
    ],
}


def _score(method: str, path: str | None) -> float:
    """A cell of this pipeline: the run's selected model (the baseline row: model A after iteration
    0, where every method starts, as in a comparison), in percent; NaN where not run."""
    if not path:
        return math.nan
    data = read_json(path, "results file")
    task = recorded_task(data, path)
    return task.baseline_score(data) if method == "baseline" else task.score(data)


def protocol_table(references: str, runs: dict[str, dict[str, str | None]], model: str = "") -> pd.DataFrame:
    """``runs``: labeled count -> method -> the run's final JSON (None: not made, an empty cell);
    ``references``: the published rows (REFERENCES) shown below them, '' for none."""
    if references and references not in REFERENCES:
        raise DMTError(f"no published references {references!r}; known: {', '.join(sorted(REFERENCES))}")
    columns = list(runs)
    methods = list(dict.fromkeys(m for row in runs.values() for m in row))
    rows = [{"row": method, "kind": "this pipeline", "model": model, "source": "results/",
             **{label: _score(method, runs[label].get(method)) for label in columns}} for method in methods]
    for name, arch, source, scores in REFERENCES.get(references, []):
        rows.append({"row": name, "kind": "published", "model": arch, "source": source,
                     **{label: scores.get(label, math.nan) for label in columns}})
    return pd.DataFrame(rows, columns=["row", "kind", "model", *columns, "source"]).astype(
        {label: float for label in columns})
