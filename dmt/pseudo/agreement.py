"""How often two teachers predict the same class on the unlabeled set (the collapse check's
agreement, ``dmt.evaluation.rounds``).

Both pseudo-label sets of a two-model iteration i come from the models of iteration i - 1 over
the same unlabeled images, and a segmentation set stores its teacher's argmax for every pixel
(before the class thresholds). Comparing the two files pixel by pixel is therefore the two models'
agreement, measured exactly and without another forward pass. DST-CBC's collapsing runs show the
two models drifting onto the same predictions, which leaves mutual training nothing to correct.

Where the unlabeled images have ground truth (the digits sets, VOC, Cityscapes), the same pass also
measures how the two models' *errors* overlap (``error_overlap``): mutual training can correct only
where one model is wrong and the other right, so the phi correlation of the two error maps says how
much disagreement Eq. 6 has to use (two seeds of one net on digits: about 0.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmt import IGNORE_INDEX
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


def error_overlap(first, second, truth) -> np.ndarray:
    """[4] counts over the labeled elements of ``truth`` (255 = unknown): both models wrong, only
    ``first`` wrong, only ``second`` wrong, both wrong with the same class."""
    first, second, truth = (np.asarray(a, dtype=np.int64) for a in (first, second, truth))
    if truth.shape != first.shape:
        raise DMTError(f"ground truth of shape {truth.shape} does not match the label maps' {first.shape}")
    known = truth != IGNORE_INDEX
    wrong_a, wrong_b = (first != truth) & known, (second != truth) & known
    both = wrong_a & wrong_b
    return np.array([both.sum(), (wrong_a & ~wrong_b).sum(), (wrong_b & ~wrong_a).sum(),
                     (both & (first == second)).sum(), known.sum()], dtype=np.int64)


def summarize_errors(counts: np.ndarray, names: Sequence[str] = ("first", "second")) -> dict:
    """From ``error_overlap``'s counts (summed over images): the phi correlation of the two models'
    error indicators (None where a model is always or never wrong), each model's error rate, the
    share of each model's errors the other shares, of the shared errors those with the same wrong
    class, and the share of elements where exactly one model is right (what Eq. 6 can use)."""
    both, only_a, only_b, same, known = (int(v) for v in counts)
    wrong_a, wrong_b, neither = both + only_a, both + only_b, known - both - only_a - only_b
    spread = wrong_a * (known - wrong_a) * wrong_b * (known - wrong_b)

    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    first, second = names
    return {"phi": (both * neither - only_a * only_b) / spread ** 0.5 if spread else None,
            "error_rate": {first: share(wrong_a, known), second: share(wrong_b, known)},
            "errors_shared": {first: share(both, wrong_a), second: share(both, wrong_b)},
            "same_class_where_both_wrong": share(same, both), "one_right": share(only_a + only_b, known),
            "elements": known}


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


def pixel_agreement(sets: dict[str, Path], ids: Sequence[str], data=None) -> dict:
    """Segmentation: how the teachers of the two sets (name -> pseudo-label file) agree over the
    pixels of ``ids`` (``summarize_agreement``) and, given the prepared ``data`` root whose
    SegmentationClass/ holds the ids' ground truth, how their errors overlap (``summarize_errors``,
    under ``"errors"``)."""
    from dmt.data.voc import check_root, read_mask
    from dmt.pseudo.segmentation import PseudoLabelStore

    if len(sets) != 2:
        raise DMTError(f"agreement compares two pseudo-label sets, not {len(sets)} ({', '.join(sets) or 'none'})")
    (name_a, path_a), (name_b, path_b) = sets.items()
    a, b = PseudoLabelStore(path_a, expected_ids=ids), PseudoLabelStore(path_b, expected_ids=ids)
    if a.num_classes != b.num_classes:
        raise DMTError(f"{path_a} labels {a.num_classes} classes and {path_b} {b.num_classes}: they are not "
                       f"sets of one run")
    truth = None
    if data is not None:
        masks = check_root(data) / "SegmentationClass"

        def truth(image_id: str) -> np.ndarray:
            return read_mask(masks / f"{image_id}.png", a.num_classes, "ground truth")
    matrix = np.zeros((a.num_classes, a.num_classes), dtype=np.int64)
    errors = np.zeros(5, dtype=np.int64)
    try:
        for image_id in ids:
            try:
                first, second = a.argmax(image_id), b.argmax(image_id)
                matrix += agreement_matrix(first, second, a.num_classes)
                if truth is not None:
                    errors += error_overlap(first, second, truth(image_id))
            except DMTError as e:
                raise DMTError(f"image {image_id}: {e}") from None
    finally:
        a.close()
        b.close()
    if not matrix.sum():
        raise DMTError(f"{path_a} and {path_b} label no pixel: the unlabeled split is empty")
    out = {**summarize_agreement(matrix), "element": "pixel", "models": [name_a, name_b]}
    return {**out, "errors": summarize_errors(errors, (name_a, name_b))} if truth is not None else out
