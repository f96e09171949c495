"""The embedded data set: scikit-learn's real handwritten digits composed onto cluttered canvases,
written in PASCAL VOC's on-disk layout so that the VOC reader serves it unchanged.

11 classes: 0 background, class d + 1 for digit d. Train and val canvases draw their digits from
disjoint pools of the 1,797 source images, so no handwriting sample is seen in both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dmt.data import prepared
from dmt.data.registry import DIGITS_CLASSES
from dmt.data.voc import write_mask_png
from dmt.store.atomic import write_lines

TRAIN_SHARE = 0.7
DIGIT_THRESHOLD = 0.4  # share of a digit's peak intensity above which a pixel belongs to it
MIN_DIGITS, MAX_DIGITS = 2, 4
MIN_SIDE, MAX_SIDE = 20, 30  # pixels: the 8x8 sources are upscaled 2.5x to 3.75x
MAX_OVERLAP = 0.25
INK_FLOOR = 0.2  # fainter strokes of the 8x8 source are transparent, so glyphs carry no box


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour field with low-contrast clutter: blobs, strokes and noise."""
    coarse = rng.uniform(0, 255, size=(3, 3, 3)).astype(np.float32)
    base = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size), Image.BILINEAR),
                      dtype=np.float32)
    base = 110 + 0.5 * base  # light backgrounds: dark ink always stands out
    canvas = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(2, 6)):
        shade = tuple(int(v) for v in base.mean((0, 1)) + rng.uniform(-45, 45, 3))
        x0, y0 = rng.integers(0, size, 2)
        if rng.random() < 0.5:
            x1, y1 = rng.integers(0, size, 2)
            draw.line([(int(x0), int(y0)), (int(x1), int(y1))], fill=shade, width=int(rng.integers(1, 4)))
        else:
            r = int(rng.integers(3, 10))
            draw.ellipse([int(x0) - r, int(y0) - r, int(x0) + r, int(y0) + r], fill=shade)
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 8, (size, size, 3))
    return noisy


def _overlap(a, b) -> float:
    """Share of the smaller of two square boxes (y, x, side) covered by the other."""
    (ya, xa, sa), (yb, xb, sb) = a, b
    dy = max(0, min(ya + sa, yb + sb) - max(ya, yb))
    dx = max(0, min(xa + sa, xb + sb) - max(xa, xb))
    return dy * dx / min(sa, sb) ** 2


def _compose(rng, size, digits, targets, pool) -> tuple[np.ndarray, np.ndarray, list[int]]:
    canvas = _background(rng, size)
    mask = np.zeros((size, size), dtype=np.uint8)
    used, boxes = [], []
    for _ in range(rng.integers(MIN_DIGITS, MAX_DIGITS + 1)):
        src = int(rng.choice(pool))
        side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
        # A few tries for a spot that hides little of the digits already placed.
        for _try in range(20):
            y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
            if all(_overlap((y, x, side), b) <= MAX_OVERLAP for b in boxes):
                break
        boxes.append((y, x, side))
        used.append(src)
        glyph = Image.fromarray((digits[src] / 16 * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)
        alpha = np.asarray(glyph, dtype=np.float32) / 255
        alpha /= max(alpha.max(), 1e-6)
        ink_alpha = np.clip((alpha - INK_FLOOR) / (1 - 2 * INK_FLOOR), 0, 1)
        ink = rng.uniform(0, 70, 3)  # dark, in a random hue
        region = canvas[y:y + side, x:x + side]
        canvas[y:y + side, x:x + side] = region * (1 - ink_alpha[..., None]) + ink * ink_alpha[..., None]
        mask[y:y + side, x:x + side][alpha > DIGIT_THRESHOLD] = targets[src] + 1
    return canvas.clip(0, 255).astype(np.uint8), mask, used


def prepare_digits(out_root, seed: int = 0, n_train: int = 1000, n_val: int = 300, size: int = 64) -> dict:
    """Write the digits canvases under ``out_root`` (VOC layout); deterministic per seed.

    The folder appears only once complete (built beside it, then renamed). An existing complete
    folder with the same parameters is kept; one with other parameters is an error.
    """
    from sklearn.datasets import load_digits

    out_root = Path(out_root)
    params = {"seed": seed, "n_train": n_train, "n_val": n_val, "size": size}
    done = prepared.existing(out_root, params, "digits")
    if done is not None:
        return done

    bunch = load_digits()
    digits, targets = bunch.images, bunch.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))
    cut = int(TRAIN_SHARE * len(digits))
    pools = {"train": np.sort(order[:cut]), "val": np.sort(order[cut:])}

    with prepared.building(out_root) as tmp:
        pixels = np.zeros(len(DIGITS_CLASSES), dtype=np.int64)
        sources = {}
        for split, count in (("train", n_train), ("val", n_val)):
            ids, used = [], set()
            for k in range(count):
                image_id = f"digits_{split}_{k:05d}"
                image, mask, srcs = _compose(rng, size, digits, targets, pools[split])
                Image.fromarray(image).save(tmp / "JPEGImages" / f"{image_id}.jpg", quality=95)
                write_mask_png(tmp / "SegmentationClass" / f"{image_id}.png", mask)
                pixels += np.bincount(mask.ravel(), minlength=len(DIGITS_CLASSES))
                used.update(srcs)
                ids.append(image_id)
            write_lines(tmp / "ImageSets" / "Segmentation" / f"{split}.txt", ids)
            sources[split] = sorted(used)
        summary = {
            "params": params,
            "counts": {"train": n_train, "val": n_val},
            "class_pixel_share": dict(zip(DIGITS_CLASSES, (pixels / pixels.sum()).round(4).tolist(), strict=False)),
            "source_digits": sources,
        }
        prepared.finish(tmp, summary)
    return summary
