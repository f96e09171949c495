"""What the report's figures show, read from a run's result files into ``dmt.report.plots``' structures.

The final JSON (``dmt.evaluation.final``) holds every model's metric per iteration; a pseudo-label set's
summary (beside its HDF5 file) its per-class counts and, where the data has ground truth, the
precision of what was kept; a model's training summary its dynamic-weight histogram.
"""

from __future__ import annotations

import numpy as np

from dmt.errors import DMTError
from dmt.report.plots import PseudoSet, RunCurve
from dmt.tasks import task_of


def run_curve(label: str, final: dict, task: str, where: str = "final JSON") -> RunCurve:
    """A run's curve from its ``final_miou.json`` (segmentation) or ``final_acc.json``."""
    try:
        return RunCurve(label, *task_of(task).curve(final))
    except (KeyError, TypeError, ValueError) as e:
        raise DMTError(f"{where} is not a {task} final result of dmt (no {e})") from None


def oracle_value(metrics: dict, task: str, where: str = "oracle metrics") -> float:
    try:
        return task_of(task).oracle_score(metrics)
    except (KeyError, TypeError):
        raise DMTError(f"{where} holds no {task_of(task).metric_label}") from None


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def segmentation_pseudo_set(iteration: int, teacher: str, summary: dict) -> PseudoSet:
    """From ``dmt.pseudo.segmentation.summarize``'s output: per class, the share of the pixels predicted as the
    class that its threshold keeps, and their precision."""
    per_class = summary.get("kept_accuracy_per_class")
    return PseudoSet(iteration, teacher, summary["alpha"], _ratio(summary["kept_counts"], summary["class_counts"]),
                     summary["kept_fraction"], None if per_class is None else _floats(per_class),
                     summary["kept_accuracy"])


def classification_pseudo_set(iteration: int, teacher: str, summary: dict, labels, truth,
                              num_classes: int) -> PseudoSet:
    """From an image set's summary and its kept (label, ground truth) pairs: per class, the share
    of the kept images with that label (whether the set is balanced), and their precision."""
    labels, truth = np.asarray(labels, dtype=np.int64), np.asarray(truth, dtype=np.int64)
    kept = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels[labels == truth], minlength=num_classes)
    return PseudoSet(iteration, teacher, summary["alpha"], _ratio(kept, len(labels)), summary["kept_fraction"],
                     _ratio(correct, kept), summary["kept_accuracy"])


def weight_histogram(summary: dict, where: str) -> dict:
    """The dynamic-weight histogram a training summary holds (``dmt.training.losses.WeightHistogram``)."""
    hist = summary.get("dynamic_weights")
    if hist is None:
        raise DMTError(f"{where} has no dynamic-weight histogram: it was trained without pseudo labels "
                       f"or by a dmt older than the report; retrain it")
    return hist
