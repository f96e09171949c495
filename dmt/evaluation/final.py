"""The result of a run: its final model selected on valtiny (paper Appendix C), reported on val
(segmentation) or test (classification), beside its baseline and the per-iteration history.

The selection is in the open: ``last_models`` holds the last iteration's models side by side with
the score that selects (valtiny) and the one reported, and ``oracle_choice`` the candidate a look
at the reported split would have picked. That look is not a valid selection (it uses the split the
result is reported on); it is there so that a reader sees what the valtiny selection cost or won.
"""

from __future__ import annotations

import json
from pathlib import Path

ORACLE_NOTE = "chosen on {split}: not a valid selection, for reference"


def _read_metrics(metrics: dict[tuple[int, str], Path]) -> dict[tuple[int, str], dict]:
    return {key: json.loads(Path(path).read_text()) for key, path in metrics.items()}


def _models_and_last(metrics: dict) -> tuple[list[str], int]:
    models = sorted({m for _, m in metrics})
    last = max(i for i, _ in metrics)
    missing = [(i, m) for i in range(last + 1) for m in models if (i, m) not in metrics]
    if missing:
        raise ValueError(f"no metrics for iteration:model {', '.join(f'{i}:{m}' for i, m in missing)}")
    return models, last


def select_final(metrics: dict[tuple[int, str], Path]) -> dict:
    """final_miou.json from the metrics of every model after every iteration (``(i, m)`` -> file):
    of the last iteration's models, the one with the better valtiny mIoU (ties go to A), reported on
    val; the baseline (iteration 0) is selected the same way."""
    scores = _read_metrics(metrics)
    models, last = _models_and_last(scores)

    def select(i: int) -> tuple[str, dict]:
        best = max(models, key=lambda m: (scores[i, m]["valtiny"]["miou"], m == "A"))
        return best, scores[i, best]["val"]

    selected, final = select(last)
    baseline_sel, baseline = select(0)
    history = {m: [scores[i, m]["val"]["miou"] for i in range(last + 1)] for m in models}
    # the oracle's look at val breaks ties as the selection does (towards A)
    oracle = max(models, key=lambda m: (scores[last, m]["val"]["miou"], m == "A"))
    return {
        "miou": final["miou"],
        "selected": f"{selected}{last}",
        "baseline_miou": baseline["miou"],
        "baseline_selected": f"{baseline_sel}0",
        "gain": final["miou"] - baseline["miou"],
        "per_class_iou": final["per_class_iou"],
        "excluded_classes": final["excluded_classes"],
        "pixel_accuracy": final["pixel_accuracy"],
        "val_miou_by_iteration": history,
        "last_models": {f"{m}{last}": {"valtiny_miou": scores[last, m]["valtiny"]["miou"],
                                       "val_miou": scores[last, m]["val"]["miou"]} for m in models},
        "oracle_choice": {"model": f"{oracle}{last}", "miou": scores[last, oracle]["val"]["miou"],
                          "note": ORACLE_NOTE.format(split="val")},
    }


def _classification_scores(m: dict) -> dict:
    """One iteration's scores as the final JSON records them (history, last_models)."""
    return {"test_accuracy": m["test"]["accuracy"], "test_fine_grained_accuracy": m["test"]["fine_grained_accuracy"],
            "valtiny_accuracy": m["valtiny"]["accuracy"],
            "valtiny_fine_grained_accuracy": m["valtiny"]["fine_grained_accuracy"]}


def select_final_classification(metrics: dict[tuple[int, str], Path]) -> dict:
    """final_acc.json: of the DMT iterations 1..N, the model with the best fine-grained valtiny
    accuracy (Appendix C: on a few hundred images plain accuracy moves in steps of 0.5-1% and
    ties; ties then go to plain accuracy, then to the later iteration), reported on the test
    set; the baseline is iteration 0. One model per iteration: ``last_models`` is iteration N
    alone, to read beside the selected one (``history`` holds every iteration), and the oracle's
    look at test picks among the same candidates, 1..N."""
    scores = _read_metrics(metrics)
    models, iterations = _models_and_last(scores)
    if len(models) != 1:
        raise ValueError(f"classification runs have one model per iteration, not {models}")
    metrics = [scores[i, models[0]] for i in range(iterations + 1)]

    def key(i):
        tiny = metrics[i]["valtiny"]
        return tiny["fine_grained_accuracy"], tiny["accuracy"], i

    candidates = range(1, iterations + 1) if iterations else [0]
    best = max(candidates, key=key)
    # ties of the oracle's look at test go to the later iteration, as the selection's do
    oracle = max(candidates, key=lambda i: (metrics[i]["test"]["accuracy"], i))
    test = metrics[best]["test"]
    return {
        "accuracy": test["accuracy"],
        "fine_grained_accuracy": test["fine_grained_accuracy"],
        "selected": f"iter{best}",
        "baseline_accuracy": metrics[0]["test"]["accuracy"],
        "gain": test["accuracy"] - metrics[0]["test"]["accuracy"],
        "final_iteration_accuracy": metrics[-1]["test"]["accuracy"],
        "history": [{"iteration": i, **_classification_scores(m)} for i, m in enumerate(metrics)],
        "last_models": {f"iter{iterations}": _classification_scores(metrics[-1])},
        "oracle_choice": {"model": f"iter{oracle}", "accuracy": metrics[oracle]["test"]["accuracy"],
                          "note": ORACLE_NOTE.format(split="test")},
    }
