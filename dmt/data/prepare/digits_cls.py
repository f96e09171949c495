"""The embedded digits classification set: scikit-learn's real 8x8 handwritten digits as a prepared
classification folder (``dmt.data.classification``'s layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dmt.data import prepared
from dmt.data.classification import SPLITS, count_classes, write_split
from dmt.errors import DMTError

DIGITS_SOURCE_SIZE = 1797


def prepare_digits_cls(out_root, seed: int = 0, n_test: int = 497, size: int = 8) -> dict:
    """scikit-learn's 1,797 real 8x8 handwritten digits as a prepared classification folder:
    a seeded ``test`` set of ``n_test`` images and ``train`` with the rest (disjoint), each digit
    scaled to 0-255, resized to ``size`` x ``size`` (PIL bilinear; 8 keeps the source pixels and
    makes a CPU demo 4x cheaper than 16) and replicated to RGB.
    Deterministic per seed; ids keep the source order within a split."""
    from sklearn.datasets import load_digits

    out_root = Path(out_root)
    if not 0 < n_test < DIGITS_SOURCE_SIZE:
        raise DMTError(f"n_test must be between 1 and {DIGITS_SOURCE_SIZE - 1}, not {n_test}")
    if size < 1:
        raise DMTError(f"size must be positive, not {size}")
    params = {"seed": seed, "n_test": n_test, "size": size}
    done = prepared.existing(out_root, params, "digits_cls")
    if done is not None:
        return done

    bunch = load_digits()
    digits, targets = bunch.images, bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(digits))
    sources = {"test": np.sort(order[:n_test]), "train": np.sort(order[n_test:])}

    def render(index: int) -> np.ndarray:
        grey = np.clip(np.round(digits[index] / 16 * 255), 0, 255).astype(np.uint8)
        grey = np.asarray(Image.fromarray(grey).resize((size, size), Image.BILINEAR))
        return np.repeat(grey[..., None], 3, axis=2)

    with prepared.building(out_root, subdirs=("lists",)) as tmp:
        counts, class_counts = {}, {}
        for split in SPLITS:
            src = sources[split]
            images = np.stack([render(int(i)) for i in src])
            labels = targets[src]
            ids = [f"{split}_{k:05d}" for k in range(len(src))]
            write_split(tmp, split, images, labels, ids)
            counts[split] = len(ids)
            class_counts[split] = count_classes(labels)
        summary = {"params": params, "counts": counts, "class_counts": class_counts,
                   "image_size": [size, size],
                   "source_digits": {split: sources[split].tolist() for split in SPLITS}}
        prepared.finish(tmp, summary)
    return summary
