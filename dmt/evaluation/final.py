"""The result of a run: its final model selected on valtiny (paper Appendix C), reported on val
(segmentation) or test (classification), beside its baseline and the per-iteration history."""

from __future__ import annotations

import json
from pathlib import Path


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
    }


def select_final_classification(metrics: dict[tuple[int, str], Path]) -> dict:
    """final_acc.json: of the DMT iterations 1..N, the model with the best fine-grained valtiny
    accuracy (Appendix C: on a few hundred images plain accuracy moves in steps of 0.5-1% and
    ties; ties then go to plain accuracy, then to the later iteration), reported on the test
    set; the baseline is iteration 0."""
    scores = _read_metrics(metrics)
    models, iterations = _models_and_last(scores)
    if len(models) != 1:
        raise ValueError(f"classification runs have one model per iteration, not {models}")
    metrics = [scores[i, models[0]] for i in range(iterations + 1)]

    def key(i):
        tiny = metrics[i]["valtiny"]
        return tiny["fine_grained_accuracy"], tiny["accuracy"], i

    best = max(range(1, iterations + 1), key=key) if iterations else 0
    test = metrics[best]["test"]
    return {
        "accuracy": test["accuracy"],
        "fine_grained_accuracy": test["fine_grained_accuracy"],
        "selected": f"iter{best}",
        "baseline_accuracy": metrics[0]["test"]["accuracy"],
        "gain": test["accuracy"] - metrics[0]["test"]["accuracy"],
        "final_iteration_accuracy": metrics[-1]["test"]["accuracy"],
        "history": [{"iteration": i, "test_accuracy": m["test"]["accuracy"],
                     "test_fine_grained_accuracy": m["test"]["fine_grained_accuracy"],
                     "valtiny_accuracy": m["valtiny"]["accuracy"],
                     "valtiny_fine_grained_accuracy": m["valtiny"]["fine_grained_accuracy"]}
                    for i, m in enumerate(metrics)],
    }
