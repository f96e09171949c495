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


def count_agreement(first, second) -> tuple[int, int]:
    """(elements on which the two label arrays hold the same class, elements) of arrays of one shape."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape:
        raise DMTError(f"label maps of shapes {first.shape} and {second.shape} cannot be compared")
    return int(np.count_nonzero(first == second)), int(first.size)


def pixel_agreement(sets: dict[str, Path], ids: Sequence[str]) -> dict:
    """Segmentation: the share of the pixels of ``ids`` on which the teachers of the two sets
    (name -> pseudo-label file) predict the same class."""
    from dmt.pseudo.segmentation import PseudoLabelStore

    if len(sets) != 2:
        raise DMTError(f"agreement compares two pseudo-label sets, not {len(sets)} ({', '.join(sets) or 'none'})")
    (name_a, path_a), (name_b, path_b) = sets.items()
    a, b = PseudoLabelStore(path_a, expected_ids=ids), PseudoLabelStore(path_b, expected_ids=ids)
    if a.num_classes != b.num_classes:
        raise DMTError(f"{path_a} labels {a.num_classes} classes and {path_b} {b.num_classes}: they are not "
                       f"sets of one run")
    same = total = 0
    try:
        for image_id in ids:
            try:
                agree, n = count_agreement(a.argmax(image_id), b.argmax(image_id))
            except DMTError as e:
                raise DMTError(f"image {image_id}: {e}") from None
            same, total = same + agree, total + n
    finally:
        a.close()
        b.close()
    if not total:
        raise DMTError(f"{path_a} and {path_b} label no pixel: the unlabeled split is empty")
    return {"agreement": same / total, "agreeing": same, "elements": total, "element": "pixel",
            "models": [name_a, name_b]}
