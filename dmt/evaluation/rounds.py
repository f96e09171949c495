"""The collapse check of a run: what happened in each DMT round, and a warning where a round looks
like the collapsing runs DST-CBC's users report (the score falling round after round, a class
dropping out of the pseudo labels, the two models coming to agree on everything).

For every iteration i >= 1 the record (``results/{run}/rounds_{metric}.json``, written by the
final job beside the final JSON) holds each model's valtiny score (evaluate's metrics.json) and its
change from iteration i - 1; each pseudo-label set of the iteration (the pseudo job's summary,
keyed by its teacher) with its alpha, kept share, the precision of its kept labels where the
unlabeled images have ground truth, and the classes with at least one kept label; and, for two
models, the share of the unlabeled set on which the two models of iteration i - 1 predict the
same class and its mean over classes (``dmt.pseudo.agreement``). What does not apply (no
pseudo-label files for online self-training, no second model) is "n/a".

A round warns when a model's valtiny score falls by more than ``collapse.valtiny_drop`` from its
previous iteration, when a teacher's set keeps no label of a class that its set of the previous
iteration kept, or when the two models agree on more than ``collapse.agreement`` of the
unlabeled set. A warning never stops or changes the run: the final selection ignores it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from dmt.errors import DMTError
from dmt.store.atomic import read_json
from dmt.store.integrity import rerun_hint

log = logging.getLogger("dmt")
NA = "n/a"


def _check_level(key: str, value, meaning: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise DMTError(f"{key} = {value!r} is not valid; expected a number from 0 to 1 ({meaning})")
    return float(value)


@dataclass(frozen=True)
class Margins:
    """When a round warns: the config's ``collapse`` section."""

    valtiny_drop: float  # the most a model's valtiny score may fall in one round, in its 0-1 units
    agreement: float  # the largest share of the unlabeled set two models may agree on

    def __post_init__(self):
        _check_level("collapse.valtiny_drop", self.valtiny_drop,
                     "the largest fall of a model's valtiny score in one round that stays quiet; 0.03 = 3 points")
        _check_level("collapse.agreement", self.agreement,
                     "the largest share of the unlabeled set two models may agree on without a warning")


def _read(path, what: str) -> dict:
    return read_json(path, what, rerun_hint(path))


def valtiny_scores(task, metrics: dict[tuple[int, str], dict]) -> dict[str, list[float]]:
    """Model -> its valtiny score (the task's metric) after iterations 0, 1, ... (metrics files
    by (iteration, model)); every model needs every iteration."""
    models = sorted({m for _, m in metrics})
    last = max((i for i, _ in metrics), default=-1)
    missing = [f"{i}:{m}" for i in range(last + 1) for m in models if (i, m) not in metrics]
    if last < 1 or missing:
        raise DMTError(f"the collapse check needs every model's metrics from iteration 0 to the last; "
                       f"{'missing ' + ', '.join(missing) if missing else 'only iteration 0 is given'}")
    scores: dict[str, list[float]] = {m: [] for m in models}
    for i in range(last + 1):
        for m in models:
            try:
                scores[m].append(float(metrics[i, m]["valtiny"][task.metric]))
            except (KeyError, TypeError, ValueError) as e:
                raise DMTError(f"the metrics of {i}:{m} hold no valtiny {task.metric} ({type(e).__name__}: {e}): "
                               f"they are not {task.name} metrics of dmt evaluate") from None
    return scores


def kept_set(task, summary: dict, class_names: Sequence[str], where) -> dict:
    """A pseudo-label set as the record shows it, from its summary (the pseudo job's JSON)."""
    try:
        kept = [int(k) for k in task.kept_per_class(summary)]
        alpha, fraction = float(summary["alpha"]), float(summary["kept_fraction"])
    except (KeyError, TypeError, ValueError) as e:
        raise DMTError(f"pseudo-label summary {where} holds no valid {e}: it is not a {task.name} summary "
                       f"of dmt pseudo; {rerun_hint(where)}") from None
    # Class names where the data set names its classes (a folder data set's are in its data).
    names = list(class_names) if len(class_names) == len(kept) else [str(c) for c in range(len(kept))]
    precision = summary.get("kept_accuracy")
    measured = summary.get("ground_truth", True) and isinstance(precision, (int, float))
    return {"alpha": alpha, "kept_fraction": fraction,
            "kept_precision": float(precision) if measured else NA,
            "kept_classes": [names[c] for c, k in enumerate(kept) if k > 0],
            "classes_without_kept": [names[c] for c, k in enumerate(kept) if k <= 0]}


def _share(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1


def agreement_values(data: dict, where) -> dict:
    """What an agreement file (``python -m dmt agreement``) records: the share of the unlabeled set
    both models label alike and, where recorded, its class mean and the phi correlation of the two
    models' errors (n/a otherwise: no ground truth, or a model never or always wrong)."""
    value, per_class = data.get("agreement"), data.get("class_agreement")
    if not _share(value) or not (per_class is None or _share(per_class)):
        raise DMTError(f"agreement file {where} records no agreement between 0 and 1 (got {value!r}, class "
                       f"mean {per_class!r}); {rerun_hint(where)}")
    phi = (data.get("errors") or {}).get("phi")
    if phi is not None and (isinstance(phi, bool) or not isinstance(phi, (int, float)) or not -1 <= phi <= 1):
        raise DMTError(f"agreement file {where} records an error phi of {phi!r}, not one between -1 and 1; "
                       f"{rerun_hint(where)}")
    return {"agreement": float(value), "class_agreement": NA if per_class is None else float(per_class),
            "error_phi": NA if phi is None else float(phi)}


def round_records(scores: dict[str, list[float]], sets: dict[tuple[int, str], dict],
                  agreements: dict[int, dict]) -> list[dict]:
    """One record per iteration i >= 1: valtiny scores and changes, pseudo-label sets, agreement."""
    out = []
    for i in range(1, len(next(iter(scores.values())))):
        own = {t: entry for (j, t), entry in sorted(sets.items()) if j == i}
        out.append({"iteration": i,
                    "valtiny": {m: s[i] for m, s in scores.items()},
                    "valtiny_change": {m: s[i] - s[i - 1] for m, s in scores.items()},
                    "pseudo": own or NA,
                    **agreements.get(i, {"agreement": NA, "class_agreement": NA, "error_phi": NA})})
    return out


def add_warnings(task, rounds: list[dict], margins: Margins) -> None:
    """Each round's ``warnings``: a valtiny drop over the margin, a class gone from a teacher's kept
    labels since its previous set, the two models agreeing above the level."""
    earlier: dict[str, list[str]] = {}  # teacher -> the classes its latest set kept
    for r in rounds:
        i, found = r["iteration"], []
        for m, change in r["valtiny_change"].items():
            if -change > margins.valtiny_drop:
                now = r["valtiny"][m]
                found.append(f"iteration {i}: model {m}'s valtiny {task.metric} fell by {-change:.3f} "
                             f"({now - change:.3f} -> {now:.3f}), more than collapse.valtiny_drop "
                             f"{margins.valtiny_drop:g}")
        for t, kept in (r["pseudo"] if isinstance(r["pseudo"], dict) else {}).items():
            lost = [c for c in earlier.get(t, []) if c not in kept["kept_classes"]]
            if lost:
                found.append(f"iteration {i}: teacher {t}{i - 1}'s kept pseudo labels hold no {task.element} "
                             f"of class {', '.join(lost)}, which its previous set kept")
            earlier[t] = kept["kept_classes"]
        agreement = r["agreement"]
        if agreement != NA and agreement > margins.agreement:
            found.append(f"iteration {i}: the two models of iteration {i - 1} predict the same class on "
                         f"{100 * agreement:.2f}% of the unlabeled {task.element}s, more than "
                         f"collapse.agreement {margins.agreement:g}")
        r["warnings"] = found


def _in_rounds(keys, last: int, what: str) -> None:
    bad = sorted({i for i in keys if not 1 <= i <= last})
    if bad:
        raise DMTError(f"{what} of iteration {', '.join(map(str, bad))} given, but the run's iterations "
                       f"with pseudo labels are 1..{last}")


def collapse_check(task, metrics: dict[tuple[int, str], Path], sets: dict[tuple[int, str], Path],
                   agreements: dict[int, Path], margins: Margins, class_names: Sequence[str] = ()) -> dict:
    """The run's per-round record and its warnings, from the files of its jobs: metrics by
    (iteration, model), pseudo-label summaries by (iteration, teacher), agreement files by
    iteration (two models only; absent ones are "n/a")."""
    scores = valtiny_scores(task, {key: _read(path, "metrics file") for key, path in metrics.items()})
    last = len(next(iter(scores.values()))) - 1
    _in_rounds({i for i, _ in sets}, last, "pseudo-label summaries")
    _in_rounds(set(agreements), last, "agreement files")
    kept = {key: kept_set(task, _read(path, "pseudo-label summary"), class_names, path)
            for key, path in sets.items()}
    agreed = {i: agreement_values(_read(path, "agreement file"), path) for i, path in agreements.items()}
    rounds = round_records(scores, kept, agreed)
    add_warnings(task, rounds, margins)
    return {"task": task.name, "metric": task.metric, "margins": asdict(margins),
            "valtiny_by_iteration": scores, "rounds": rounds,
            "warnings": [w for r in rounds for w in r["warnings"]]}


def log_warnings(record: dict, where) -> None:
    """One log line: every warning of the record (``where`` names the file holding it), or none."""
    warnings = record["warnings"]
    if warnings:
        log.warning("collapse check: %d warning(s), recorded in %s: %s", len(warnings), where, "; ".join(warnings))
    else:
        log.info("collapse check: no warnings (%s)", where)
