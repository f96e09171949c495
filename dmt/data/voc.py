"""Readers of PASCAL VOC's on-disk layout, shared by real VOC and the embedded digits set.

    root/JPEGImages/{id}.jpg                 (.png for data sets stored losslessly: Cityscapes)
    root/SegmentationClass/{id}.png          palette PNG: pixel values are class ids, 255 ignore
    root/ImageSets/Segmentation/{split}.txt  one id per line

No torch here: splitting, sampling and preparing read these without it (about 3 s a job);
the torch Dataset is dmt.data.segmentation.SegmentationDataset.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image

from dmt import IGNORE_INDEX
from dmt.data.images import open_image, read_rgb
from dmt.errors import DMTError
from dmt.store.atomic import atomic_path

LAYOUT = ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")


def _voc_palette() -> list[int]:
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


VOC_PALETTE = _voc_palette()


def check_root(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DMTError(f"data folder {root} does not exist")
    missing = [d for d in LAYOUT if not (root / d).is_dir()]
    if missing:
        raise DMTError(f"{root} is not in PASCAL VOC layout: missing {', '.join(m + '/' for m in missing)}")
    return root


def read_id_file(path) -> list[str]:
    """The ids of a list file, one a line: UTF-8 with or without a byte-order mark, any line ends,
    blank lines skipped, each id NFC-normalised as the prepared file names are (a list typed on
    macOS may hold decomposed accents)."""
    path = Path(path)
    if not path.is_file():
        raise DMTError(f"id list {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DMTError(f"id list {path} is not a text file of ids ({e.reason} at byte {e.start})") from None
    ids = [unicodedata.normalize("NFC", line.strip()) for line in text.splitlines() if line.strip()]
    if len(set(ids)) != len(ids):
        raise DMTError(f"id list {path} has duplicate ids")
    return ids


def read_split(root, split: str) -> list[str]:
    return read_id_file(Path(root) / "ImageSets" / "Segmentation" / f"{split}.txt")


def write_mask_png(path, mask: np.ndarray, palette: list[int] | None = None) -> None:
    """Class ids as a palette PNG (VOC's colours unless ``palette``, 768 values, is given)."""
    image = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
    image.putpalette(palette or VOC_PALETTE)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def read_image(path) -> np.ndarray:
    """RGB uint8 [H, W, 3] as displayed (EXIF orientation applied), from an image of any mode
    Pillow opens, within the pixel budget (dmt.data.images); a truncated or corrupt file is an
    error, not a grey patch."""
    return read_rgb(path)[0]


def _map_values(path, mask: np.ndarray, values: dict[int, int], what: str) -> np.ndarray:
    """``mask``'s pixel values as the class indices ``values`` maps them to; 255 stays "not
    labeled" unless mapped; any other value the map lacks is an error naming the file."""
    lut = np.full(256, -1, np.int16)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    for value, index in values.items():
        lut[value] = index
    mapped = lut[mask]
    unmapped = np.unique(mask[mapped < 0])
    if unmapped.size:
        raise DMTError(f"{what} {path} has pixel values {unmapped.tolist()[:10]} that classes.yaml's "
                       f"mask_values does not map (it maps {sorted(values)}; 255 unmapped means not labeled)")
    return mapped.astype(np.uint8)


def read_mask(path, num_classes: int, what: str = "mask", unit: str = "class",
              values: dict[int, int] | None = None) -> np.ndarray:
    """Ids uint8 [H, W] from a palette or greyscale PNG (its indices, not its colours), checked
    to be below ``num_classes`` or 255; ``what`` / ``unit`` name the file kind in errors.
    ``values`` maps pixel values to class indices (a folder's ``mask_values``) before the check."""
    with open_image(path, what) as image:
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as e:
            raise DMTError(f"{what} {path} is corrupt or truncated ({e})") from None
        if image.mode not in ("P", "L"):
            raise DMTError(f"{what} {path} is a {image.mode} image; expected palette or greyscale "
                           f"{unit} ids")
        mask = np.asarray(image)
    if values is not None:
        mask = _map_values(path, mask, values, what)
    bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise DMTError(f"{what} {path} has {unit} ids {bad.tolist()[:10]}; expected "
                       f"0-{num_classes - 1} or {IGNORE_INDEX}")
    return mask
