"""The embedded data set: scikit-learn's real handwritten digits composed onto cluttered canvases,
written in PASCAL VOC's on-disk layout so that the VOC reader serves it unchanged.

11 classes: 0 background, class d + 1 for digit d. The 1,797 source images fall into three
disjoint pools (``glyph_pools``): train canvases, val canvases, and a pre-training pool that only
``digits_style`` and ``digits_glyphs`` draw from (empty unless ``pretrain_share`` > 0), so no
handwriting sample is seen in two of them. This module's composition also serves those two sets,
in their own ``CanvasStyle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dmt.data import prepared
from dmt.data.registry import DIGITS_CLASSES
from dmt.data.voc import write_mask_png
from dmt.errors import DMTError
from dmt.store.atomic import write_lines

DIGITS_SOURCE_SIZE = 1797  # sklearn.datasets.load_digits
TRAIN_SHARE = 0.7  # of all glyphs: train canvases and, carved out of its front, the pre-training pool
PRETRAIN_HELD_OUT = 0.2  # of the pre-training pool: the pre-training sets' val / test glyphs
DIGIT_THRESHOLD = 0.4  # share of a digit's peak intensity above which a pixel belongs to it
INK_FLOOR = 0.2  # fainter strokes of the 8x8 source are transparent, so glyphs carry no box


@dataclass(frozen=True)
class CanvasStyle:
    """How a canvas looks: its background, clutter and ink, and how many glyphs of which size.
    Ranges are (low, high), both included."""

    background: tuple[float, float] = (110, 0.5)  # offset + gain * a smooth field in 0-255
    clutter: tuple[int, int] = (2, 5)  # blobs and strokes per canvas
    clutter_contrast: float = 45  # their shade: the background's mean +- this
    noise: float = 8  # std of the per-pixel Gaussian noise
    ink: tuple[float, float] = (0, 70)  # per-channel range of a glyph's colour
    digits: tuple[int, int] = (2, 4)
    side: tuple[int, int] = (20, 30)  # pixels: the 8x8 sources are upscaled 2.5x to 3.75x
    max_overlap: float = 0.25


# The digits canvases: light backgrounds, dark ink in a random hue (what `digits` always drew).
DIGITS_STYLE = CanvasStyle()


def _pools(order: np.ndarray, pretrain_share: float) -> dict[str, np.ndarray]:
    """The three pools of a permutation of the glyphs: pre-training its first ``pretrain_share``,
    train the rest of the first TRAIN_SHARE, val the last 30% (as before the pre-training pool)."""
    n = len(order)
    cut, head = int(TRAIN_SHARE * n), int(pretrain_share * n)
    if not 0 <= pretrain_share < TRAIN_SHARE or head >= cut:
        raise DMTError(f"digits.pretrain_share must be at least 0 and below {TRAIN_SHARE} (it is carved "
                       f"out of the train glyphs), not {pretrain_share}")
    return {"train": np.sort(order[head:cut]), "pretrain": np.sort(order[:head]), "val": np.sort(order[cut:])}


def glyph_pools(seed: int, pretrain_share: float) -> dict[str, np.ndarray]:
    """Source indices (sorted) of the train, pretrain and val pools: disjoint, covering all 1,797.
    ``pretrain_share`` 0 gives the pools (and so the canvases) of before the pre-training pool."""
    return _pools(np.random.default_rng(seed).permutation(DIGITS_SOURCE_SIZE), pretrain_share)


def pretrain_pools(seed: int, pretrain_share: float, targets: np.ndarray, what: str) -> dict[str, np.ndarray]:
    """The pre-training pool split in two (sorted): ``train`` and ``held_out``, the last
    PRETRAIN_HELD_OUT of it in the seeded order, so that the pre-training's val / test scores are
    on handwriting it never trained on. Both must hold every digit; ``what`` names the data set."""
    order = np.random.default_rng(seed).permutation(DIGITS_SOURCE_SIZE)
    pool = order[:len(_pools(order, pretrain_share)["pretrain"])]
    if len(pool) == 0:
        raise DMTError(f"{what} draws only from the pre-training glyphs, and there are none at "
                       f"digits.pretrain_share {pretrain_share}: set it above 0 (e.g. 0.2) to carve "
                       f"them out of the digits train glyphs")
    cut = len(pool) - max(1, int(PRETRAIN_HELD_OUT * len(pool)))
    parts = {"train": np.sort(pool[:cut]), "held_out": np.sort(pool[cut:])}
    for name, part in parts.items():
        missing = sorted(set(range(10)) - set(targets[part].tolist()))
        if missing:
            raise DMTError(f"digits.pretrain_share {pretrain_share} leaves no digit {missing} among the "
                           f"{len(part)} {name} glyphs of the pre-training pool {what} draws from; raise it")
    return parts


def load_glyphs() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (intensities 0-16) and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    if len(bunch.images) != DIGITS_SOURCE_SIZE:
        raise DMTError(f"scikit-learn's digits hold {len(bunch.images)} images, not {DIGITS_SOURCE_SIZE}")
    return bunch.images, bunch.target


def background(rng: np.random.Generator, size: int, style: CanvasStyle = DIGITS_STYLE) -> np.ndarray:
    """A smooth random colour field with low-contrast clutter: blobs, strokes and noise."""
    coarse = rng.uniform(0, 255, size=(3, 3, 3)).astype(np.float32)
    base = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size), Image.BILINEAR),
                      dtype=np.float32)
    offset, gain = style.background
    base = offset + gain * base  # one brightness band: the ink always stands out
    canvas = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    low, high = style.clutter
    for _ in range(rng.integers(low, high + 1)):
        contrast = style.clutter_contrast
        shade = tuple(int(v) for v in base.mean((0, 1)) + rng.uniform(-contrast, contrast, 3))
        x0, y0 = rng.integers(0, size, 2)
        if rng.random() < 0.5:
            x1, y1 = rng.integers(0, size, 2)
            draw.line([(int(x0), int(y0)), (int(x1), int(y1))], fill=shade, width=int(rng.integers(1, 4)))
        else:
            r = int(rng.integers(3, 10))
            draw.ellipse([int(x0) - r, int(y0) - r, int(x0) + r, int(y0) + r], fill=shade)
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, style.noise, (size, size, 3))
    return noisy


def paste(canvas: np.ndarray, rng, glyph: np.ndarray, y: int, x: int, side: int,
          style: CanvasStyle = DIGITS_STYLE) -> np.ndarray:
    """Ink one 8x8 source ``glyph`` into ``canvas`` (float, in place) as a ``side`` square at
    (y, x), in a random colour of the style's ink range; the glyph's pixels (boolean side x side)."""
    image = Image.fromarray((glyph / 16 * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)
    alpha = np.asarray(image, dtype=np.float32) / 255
    alpha /= max(alpha.max(), 1e-6)
    ink_alpha = np.clip((alpha - INK_FLOOR) / (1 - 2 * INK_FLOOR), 0, 1)
    ink = rng.uniform(*style.ink, 3)
    region = canvas[y:y + side, x:x + side]
    canvas[y:y + side, x:x + side] = region * (1 - ink_alpha[..., None]) + ink * ink_alpha[..., None]
    return alpha > DIGIT_THRESHOLD


def _overlap(a, b) -> float:
    """Share of the smaller of two square boxes (y, x, side) covered by the other."""
    (ya, xa, sa), (yb, xb, sb) = a, b
    dy = max(0, min(ya + sa, yb + sb) - max(ya, yb))
    dx = max(0, min(xa + sa, xb + sb) - max(xa, xb))
    return dy * dx / min(sa, sb) ** 2


def _compose(rng, size, digits, targets, pool, style: CanvasStyle) -> tuple[np.ndarray, np.ndarray, list[int]]:
    canvas = background(rng, size, style)
    mask = np.zeros((size, size), dtype=np.uint8)
    used, boxes = [], []
    for _ in range(rng.integers(style.digits[0], style.digits[1] + 1)):
        src = int(rng.choice(pool))
        side = int(rng.integers(style.side[0], style.side[1] + 1))
        # A few tries for a spot that hides little of the digits already placed.
        for _try in range(20):
            y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
            if all(_overlap((y, x, side), b) <= style.max_overlap for b in boxes):
                break
        boxes.append((y, x, side))
        used.append(src)
        ink = paste(canvas, rng, digits[src], y, x, side, style)
        mask[y:y + side, x:x + side][ink] = targets[src] + 1
    return canvas.clip(0, 255).astype(np.uint8), mask, used


def write_canvases(tmp: Path, rng, splits: dict, glyphs, size: int, style: CanvasStyle, prefix: str) -> dict:
    """Compose ``splits`` (name -> (count, pool of source indices)) of ``glyphs`` (images,
    targets) into the VOC layout under ``tmp``, in order, from one generator; the summary's
    counts, class shares and source digits."""
    digits, targets = glyphs
    pixels = np.zeros(len(DIGITS_CLASSES), dtype=np.int64)
    sources = {}
    for split, (count, pool) in splits.items():
        ids, used = [], set()
        for k in range(count):
            image_id = f"{prefix}_{split}_{k:05d}"
            image, mask, srcs = _compose(rng, size, digits, targets, pool, style)
            Image.fromarray(image).save(tmp / "JPEGImages" / f"{image_id}.jpg", quality=95)
            write_mask_png(tmp / "SegmentationClass" / f"{image_id}.png", mask)
            pixels += np.bincount(mask.ravel(), minlength=len(DIGITS_CLASSES))
            used.update(srcs)
            ids.append(image_id)
        write_lines(tmp / "ImageSets" / "Segmentation" / f"{split}.txt", ids)
        sources[split] = sorted(used)
    return {
        "counts": {split: count for split, (count, _) in splits.items()},
        "class_pixel_share": dict(zip(DIGITS_CLASSES, (pixels / pixels.sum()).round(4).tolist(), strict=False)),
        "source_digits": sources,
    }


def prepare_digits(out_root, seed: int = 0, n_train: int = 1000, n_val: int = 300, size: int = 64,
                   pretrain_share: float = 0.0) -> dict:
    """Write the digits canvases under ``out_root`` (VOC layout); deterministic per seed.

    Train canvases draw from the train pool of ``glyph_pools(seed, pretrain_share)``, val canvases
    from its val pool. The folder appears only once complete (built beside it, then renamed). An
    existing complete folder with the same parameters is kept; one with other parameters is an error.
    """
    out_root = Path(out_root)
    params = {"seed": seed, "n_train": n_train, "n_val": n_val, "size": size}
    if pretrain_share:
        # Only when set: at 0 the marker, and so every digest downstream, is what it was before.
        params["pretrain_share"] = float(pretrain_share)
    done = prepared.existing(out_root, params, "digits")
    if done is not None:
        return done

    # The permutation, then the canvases, from one generator (the order the canvases depend on).
    rng = np.random.default_rng(seed)
    pools = _pools(rng.permutation(DIGITS_SOURCE_SIZE), pretrain_share)
    with prepared.building(out_root) as tmp:
        splits = {"train": (n_train, pools["train"]), "val": (n_val, pools["val"])}
        written = write_canvases(tmp, rng, splits, load_glyphs(), size, DIGITS_STYLE, "digits")
        summary = {"params": params, **written}
        prepared.finish(tmp, summary)
    return summary
