"""Class-wise top-alpha thresholds (paper Algorithm 2, lines 13/15), exact on given arrays.

For a ratio alpha, the threshold tau_c of class c is the confidence of the ceil(alpha * n_c)-th
most confident pixel (or image) among the n_c the teacher predicts as c; one keeps its label if
its confidence >= tau_c (ties are all kept), else it becomes 255. alpha >= 1 keeps everything
(tau = 0); a class never predicted gets tau = +inf, which drops nothing.
"""

from __future__ import annotations

import math

import numpy as np

from dmt import IGNORE_INDEX


def top_count(alpha: float, n: int) -> int:
    # round() first so that e.g. 0.2 * 10 = 2.0000000000000004 is not taken as 3 pixels.
    return max(1, math.ceil(round(alpha * n, 9)))


def _threshold_from_table(values_desc: np.ndarray, counts: np.ndarray, alpha: float) -> float:
    """tau for one class from its distinct confidences (descending) and their multiplicities."""
    n = int(counts.sum())
    if n == 0:
        return math.inf
    k = top_count(alpha, n)
    return float(values_desc[int(np.searchsorted(np.cumsum(counts), k))])


def check_alpha(alpha: float) -> None:
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a positive ratio, got {alpha!r}")


def class_thresholds(labels, conf, alpha: float, num_classes: int) -> np.ndarray:
    """Exact per-class thresholds tau (float64 array of ``num_classes``) over the given arrays.

    Pixels whose label is not a class id (e.g. 255) take no part.
    """
    check_alpha(alpha)
    if alpha >= 1:
        return np.zeros(num_classes, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    conf = np.asarray(conf).ravel()
    if labels.shape != conf.shape:
        raise ValueError(f"labels {labels.shape} and conf {conf.shape} differ in size")
    tau = np.empty(num_classes, dtype=np.float64)
    for c in range(num_classes):
        values, counts = np.unique(conf[labels == c], return_counts=True)
        tau[c] = _threshold_from_table(values[::-1], counts[::-1], alpha)
    return tau


def apply_thresholds(labels, conf, tau) -> np.ndarray:
    """Labels with 255 wherever confidence < tau[label]; 255 stays 255."""
    labels = np.asarray(labels)
    conf = np.asarray(conf)
    tau = np.asarray(tau, dtype=np.float64)
    valid = labels < len(tau)
    safe = np.where(valid, labels, 0)
    keep = valid & (conf.astype(np.float64) >= tau[safe])
    return np.where(keep, labels, IGNORE_INDEX).astype(labels.dtype, copy=False)
