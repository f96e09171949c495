"""How often two teachers predict the same class on the unlabeled set (the collapse check's
agreement, ``dmt.evaluation.rounds``).

Both pseudo-label sets of a two-model iteration i come from the models of iteration i - 1 over
the same unlabeled images, and a segmentation set stores its teacher's argmax for every pixel
(before the class thresholds). Comparing the two files pixel by pixel is therefore the two models'
agreement, measured exactly and without another forward pass. DST-CBC's collapsing runs show the
two models drifting onto the same predictions, which leaves mutual training nothing to correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmt.errors import DMTError


def agreement_matrix(first, second, num_classes: int) -> np.ndarray:
    """[C, C] counts of the elements that ``first`` labels row class and ``second`` column class,
    for two label arrays of one shape."""
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    if first.shape != second.shape:
        raise DMTError(f"label maps of shapes {first.shape} and {second.shape} cannot be compared")
    if first.size and (min(first.min(), second.min()) < 0 or max(first.max(), second.max()) >= num_classes):
        raise DMTError(f"labels outside the {num_classes} classes")
    flat = (first * num_classes + second).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def summarize_agreement(matrix: np.ndarray) -> dict:
    """The share of elements both label alike, and per class the IoU of the two labelings' regions
    of that class (None where neither predicts it), with its mean: on a set that one class
    dominates (background) the share stays high for any two models, the class mean does not."""
    total, same = int(matrix.sum()), int(np.trace(matrix))
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - np.diag(matrix)
    per_class = [float(matrix[c, c] / u) if u else None for c, u in enumerate(union)]
    scored = [v for v in per_class if v is not None]
    return {"agreement": same / total if total else None, "agreeing": same, "elements": total,
            "class_agreement": float(np.mean(scored)) if scored else None, "class_agreement_per_class": per_class}


def pixel_agreement(sets: dict[str, Path], ids: Sequence[str]) -> dict:
    """Segmentation: how the teachers of the two sets (name -> pseudo-label file) agree over the
    pixels of ``ids`` (``summarize_agreement``)."""
    from dmt.pseudo.segmentation import PseudoLabelStore

    if len(sets) != 2:
        raise DMTError(f"agreement compares two pseudo-label sets, not {len(sets)} ({', '.join(sets) or 'none'})")
    (name_a, path_a), (name_b, path_b) = sets.items()
    a, b = PseudoLabelStore(path_a, expected_ids=ids), PseudoLabelStore(path_b, expected_ids=ids)
    if a.num_classes != b.num_classes:
        raise DMTError(f"{path_a} labels {a.num_classes} classes and {path_b} {b.num_classes}: they are not "
                       f"sets of one run")
    matrix = np.zeros((a.num_classes, a.num_classes), dtype=np.int64)
    try:
        for image_id in ids:
            try:
                matrix += agreement_matrix(a.argmax(image_id), b.argmax(image_id), a.num_classes)
            except DMTError as e:
                raise DMTError(f"image {image_id}: {e}") from None
    finally:
        a.close()
        b.close()
    if not matrix.sum():
        raise DMTError(f"{path_a} and {path_b} label no pixel: the unlabeled split is empty")
    return {**summarize_agreement(matrix), "element": "pixel", "models": [name_a, name_b]}
