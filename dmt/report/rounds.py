"""The report's view of a run's collapse check (``results/{run}/rounds_{metric}.json``, written by
the final job, ``dmt.evaluation.rounds``): one row per round with the valtiny scores and their
change, the precision and class coverage of each pseudo-label set, the two models' agreement, and
the round's warnings. Percent throughout but for the errors' phi correlation; a blank cell is
"n/a" in the record (online self-training has no pseudo-label files, one model no agreement, a
data set without ground truth for its unlabeled images no precision or phi)."""

from __future__ import annotations

import math

import pandas as pd

from dmt.errors import DMTError
from dmt.store.atomic import read_json

NA = "n/a"


def read_record(path) -> dict:
    """The rounds record at ``path``, or one DMTError naming it."""
    record = read_json(path, "rounds record", "rerun the final rule that makes it")
    if not {"rounds", "warnings", "margins", "metric"} <= set(record):
        raise DMTError(f"{path} is not a collapse-check record of dmt final; rerun the final rule that makes it")
    return record


def _percent(value) -> float:
    return 100 * value if isinstance(value, (int, float)) else math.nan


def _row(r: dict, teachers: list[str]) -> dict:
    row: dict = {"iteration": r["iteration"]}
    for m, score in r["valtiny"].items():
        row[f"valtiny {m}"] = _percent(score)
        row[f"change {m}"] = _percent(r["valtiny_change"][m])
    sets = r["pseudo"] if isinstance(r["pseudo"], dict) else {}
    for t in teachers:
        kept = sets.get(t)
        # named as its file (pseudo_A.h5: teacher A's set, which trains B), not as a model
        row[f"pseudo_{t} precision"] = _percent(kept["kept_precision"]) if kept else math.nan
        classes = len(kept["kept_classes"]) + len(kept["classes_without_kept"]) if kept else 0
        row[f"pseudo_{t} classes"] = f"{len(kept['kept_classes'])} of {classes}" if kept else ""
    row["agreement"] = _percent(r["agreement"])
    row["class agreement"] = _percent(r["class_agreement"])
    # a correlation, not a share: in [-1, 1], not in percent (records before it: n/a)
    phi = r.get("error_phi", "n/a")
    row["error phi"] = round(phi, 3) if isinstance(phi, float) else math.nan
    row["warnings"] = "; ".join(w.partition(": ")[2] for w in r["warnings"])
    return row


def rounds_table(record: dict, where="the rounds record") -> pd.DataFrame:
    """One row per round of the record: valtiny per model and its change (points), each pseudo-label
    set (pseudo_T: teacher T of the previous iteration) with its precision and the classes it kept
    of all, the agreement and its class mean, and the warnings (without their iteration prefix)."""
    try:
        rounds = record["rounds"]
        teachers = sorted({t for r in rounds if isinstance(r["pseudo"], dict) for t in r["pseudo"]})
        return pd.DataFrame([_row(r, teachers) for r in rounds])
    except (KeyError, TypeError, AttributeError) as e:
        raise DMTError(f"{where} is not a collapse-check record of dmt final (no {e}); rerun the final "
                       f"rule that makes it") from None


def title(name: str, record: dict) -> str:
    """The table's title: the run, how many warnings, and when a round warns."""
    margins, warnings = record["margins"], record["warnings"]
    said = f"{len(warnings)} warning(s)" if warnings else "no warnings"
    return (f"{name}: collapse check per round, {said}; values in %. A round warns where a model's valtiny "
            f"{record['metric']} falls by more than {100 * margins['valtiny_drop']:g} points, a class leaves a "
            f"teacher's kept labels, or the two models agree on more than {100 * margins['agreement']:g}%")
