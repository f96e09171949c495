"""The digits pre-training set of classification (the paper's ImageNet to the digits' VOC): one
glyph of the pre-training pool per image, as a prepared classification folder
(``dmt.data.classification``'s layout), 10 classes.

Each image is a small digits canvas: the light cluttered background of ``digits`` with one glyph
at the size glyphs have there (20-30 pixels), at a random place in a random dark hue. Every glyph
is rendered several times (each rendering draws its own background, size, place and ink), so a
classifier sees enough images from the few hundred glyphs of the pool. ``train`` renders the
pool's train glyphs, ``test`` its held-out glyphs (``pretrain_pools``), so the test accuracy is
on handwriting the classifier never saw; no glyph here appears on a digits canvas.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dmt.data import prepared
from dmt.data.classification import count_classes, write_split
from dmt.data.prepare.digits import DIGITS_STYLE, background, load_glyphs, paste, pretrain_pools
from dmt.errors import DMTError

# A 32x32 crop of a 64x64 digits canvas holds about a quarter of its 2-5 clutter items.
STYLE = replace(DIGITS_STYLE, clutter=(0, 2))
# The renderings' own random stream (see digits_style.STREAM).
STREAM = 2


def render(rng, glyph: np.ndarray, size: int) -> np.ndarray:
    """One rendering of an 8x8 source ``glyph``: a ``size`` x ``size`` RGB uint8 image."""
    canvas = background(rng, size, STYLE)
    side = int(rng.integers(STYLE.side[0], STYLE.side[1] + 1))
    y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
    paste(canvas, rng, glyph, y, x, side, STYLE)
    return canvas.clip(0, 255).astype(np.uint8)


def prepare_digits_glyphs(out_root, seed: int = 0, pretrain_share: float = 0.0, glyph_renderings: int = 10,
                          glyph_test_renderings: int = 2, size: int = 32) -> dict:
    """Write ``glyph_renderings`` train renderings of each train glyph and
    ``glyph_test_renderings`` test renderings of each held-out glyph of the pre-training pool of
    ``glyph_pools(seed, pretrain_share)`` under ``out_root``; deterministic per parameters, atomic,
    kept when complete with the same parameters. Ids are ``{split}_{k:05d}``, glyph by glyph."""
    out_root = Path(out_root)
    if glyph_renderings < 1 or glyph_test_renderings < 1:
        raise DMTError(f"digits.glyph_renderings and digits.glyph_test_renderings must be positive, "
                       f"not {glyph_renderings} and {glyph_test_renderings}")
    if size < STYLE.side[1]:
        raise DMTError(f"digits_glyphs images must be at least {STYLE.side[1]} pixels (its largest glyph), not {size}")
    digits, targets = load_glyphs()
    pools = pretrain_pools(seed, pretrain_share, targets, "digits_glyphs")
    params = {"seed": seed, "pretrain_share": float(pretrain_share), "glyph_renderings": glyph_renderings,
              "glyph_test_renderings": glyph_test_renderings, "size": size}
    done = prepared.existing(out_root, params, "digits_glyphs")
    if done is not None:
        return done

    rng = np.random.default_rng([seed, STREAM])
    plan = {"train": (pools["train"], glyph_renderings), "test": (pools["held_out"], glyph_test_renderings)}
    with prepared.building(out_root, subdirs=("lists",)) as tmp:
        counts, class_counts = {}, {}
        for split, (pool, renderings) in plan.items():
            sources = np.repeat(pool, renderings)
            images = np.stack([render(rng, digits[i], size) for i in sources])
            labels = targets[sources].astype(np.int64)
            write_split(tmp, split, images, labels, [f"{split}_{k:05d}" for k in range(len(sources))])
            counts[split] = len(sources)
            class_counts[split] = count_classes(labels)
        summary = {"params": params, "counts": counts, "class_counts": class_counts, "image_size": [size, size],
                   "source_digits": {split: pool.tolist() for split, (pool, _) in plan.items()}}
        prepared.finish(tmp, summary)
    return summary
