"""The digits pre-training set of the segmentation demo (the paper's COCO to the digits' VOC):
canvases in another style, composed only from the pre-training pool of the digits glyphs, in the
VOC layout and with the 11 classes of ``digits``.

Dark backgrounds with light ink, glyphs smaller and larger than on the digits canvases, more of
them and more clutter: a visibly different domain with the same classes. The pools are
``glyph_pools`` of the ``digits:`` section's seed and pretrain_share, so no glyph drawn here
appears on a digits canvas; ``val`` canvases draw from the pool's held-out glyphs (for the
pre-training's own progress log only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmt.data import prepared
from dmt.data.prepare.digits import CanvasStyle, load_glyphs, pretrain_pools, write_canvases
from dmt.errors import DMTError

# Shades stay within 0-255 without clipping: background 15-92, clutter its mean +- 15.
STYLE = CanvasStyle(background=(15, 0.3), clutter=(4, 9), clutter_contrast=15, noise=12,
                    ink=(170, 255), digits=(2, 5), side=(14, 36), max_overlap=0.15)
# The canvases' own random stream: with the digits' seed alone they would repeat the digits
# canvases' draws (backgrounds, sizes, places) in another style.
STREAM = 1


def prepare_digits_style(out_root, seed: int = 0, pretrain_share: float = 0.0, style_train: int = 1000,
                         style_val: int = 100, size: int = 64) -> dict:
    """Write ``style_train`` train and ``style_val`` val canvases of ``size`` pixels under
    ``out_root`` (VOC layout), from the pre-training pool of ``glyph_pools(seed, pretrain_share)``;
    deterministic per parameters, atomic, kept when complete with the same parameters."""
    out_root = Path(out_root)
    if style_train < 1 or style_val < 1:
        raise DMTError(f"digits.style_train and digits.style_val must be positive, not {style_train} and {style_val}")
    if size < STYLE.side[1]:
        raise DMTError(f"digits_style canvases must be at least {STYLE.side[1]} pixels (its largest glyph), not {size}")
    glyphs = load_glyphs()
    pools = pretrain_pools(seed, pretrain_share, glyphs[1], "digits_style")
    params = {"seed": seed, "pretrain_share": float(pretrain_share), "style_train": style_train,
              "style_val": style_val, "size": size}
    done = prepared.existing(out_root, params, "digits_style")
    if done is not None:
        return done

    rng = np.random.default_rng([seed, STREAM])
    with prepared.building(out_root) as tmp:
        splits = {"train": (style_train, pools["train"]), "val": (style_val, pools["held_out"])}
        summary = {"params": params, **write_canvases(tmp, rng, splits, glyphs, size, STYLE, "digits_style")}
        prepared.finish(tmp, summary)
    return summary
