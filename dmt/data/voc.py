"""Readers of PASCAL VOC's on-disk layout, shared by real VOC and the embedded digits set.

    root/JPEGImages/{id}.jpg                 (.png for data sets stored losslessly: Cityscapes)
    root/SegmentationClass/{id}.png          palette PNG: pixel values are class ids, 255 ignore
    root/ImageSets/Segmentation/{split}.txt  one id per line
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from dmt import IGNORE_INDEX
from dmt.data.images import open_image, read_rgb
from dmt.errors import DMTError
from dmt.store.atomic import atomic_path

LAYOUT = ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")
# Decoded files a data set keeps in memory, in bytes: a small set (the digits demo, a folder of a
# few hundred images) is decoded once instead of at every epoch; a large one (VOC's 10,582 train
# images) fills this and reads the rest from disk each time.
DECODE_CACHE_BYTES = 512 * 2**20


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


class SegmentationDataset(torch.utils.data.Dataset):
    """Images (and masks, or pseudo labels) of ``ids`` under a VOC-layout ``root``.

    Items are dicts: image (tv_tensors.Image uint8 [3, H, W]), target (tv_tensors.Mask int64:
    ground truth, the pseudo label, or all 255), conf (tv_tensors.Mask float32: pseudo-label
    confidence, ones for ground truth), is_pseudo, id, size (H, W) before any transform.
    ``pseudo`` maps an id to (labels, confidence), e.g. a ``dmt.pseudo.segmentation.PseudoLabelStore``.
    """

    def __init__(self, root, ids, num_classes: int, transform=None, with_masks: bool = True,
                 pseudo=None, image_ext: str = ".jpg"):
        self.root = check_root(root)
        self.image_ext = image_ext
        self.ids = list(ids)
        self.num_classes = num_classes
        self.transform = transform
        self.with_masks = with_masks and pseudo is None
        self.pseudo = pseudo
        self._decoded, self._decoded_bytes = {}, 0
        missing = [i for i in self.ids if not self._image_path(i).is_file()
                   or (self.with_masks and not self._mask_path(i).is_file())]
        if missing:
            raise DMTError(f"{len(missing)} split ids are not in the data set at {self.root} "
                           f"(no JPEGImages/ or SegmentationClass/ file), first: {missing[:5]}")

    def _image_path(self, image_id: str) -> Path:
        return self.root / "JPEGImages" / f"{image_id}{self.image_ext}"

    def _mask_path(self, image_id: str) -> Path:
        return self.root / "SegmentationClass" / f"{image_id}.png"

    def __len__(self) -> int:
        return len(self.ids)

    def _decode(self, index: int) -> tuple[np.ndarray, np.ndarray | None, tuple | None]:
        """The image, ground-truth mask and pseudo labels (labels, confidence) of ``index``, read
        once while the cache has room. Callers copy what they return (tensors are made with a
        copy), so cached arrays stay intact."""
        if index in self._decoded:
            return self._decoded[index]
        image_id = self.ids[index]
        image = read_image(self._image_path(image_id))
        mask = read_mask(self._mask_path(image_id), self.num_classes) if self.with_masks else None
        pseudo = self.pseudo[image_id] if self.pseudo is not None else None
        size = image.nbytes + sum(a.nbytes for a in (mask, *(pseudo or ())) if a is not None)
        if self._decoded_bytes + size <= DECODE_CACHE_BYTES:
            self._decoded[index] = image, mask, pseudo
            self._decoded_bytes += size
        return image, mask, pseudo

    def __getitem__(self, index: int) -> dict:
        image_id = self.ids[index]
        image, mask, pseudo = self._decode(index)
        h, w = image.shape[:2]
        if pseudo is not None:
            labels, conf = pseudo
            target = torch.from_numpy(labels.astype(np.int64))
            conf = torch.from_numpy(conf.astype(np.float32))
        elif self.with_masks:
            target = torch.from_numpy(mask.astype(np.int64))
            conf = torch.ones(h, w)
        else:
            target = torch.full((h, w), IGNORE_INDEX, dtype=torch.int64)
            conf = torch.zeros(h, w)
        if target.shape != (h, w):
            raise DMTError(f"{image_id}: label of size {tuple(target.shape)} for an image of {(h, w)}")
        item = {
            "image": tv_tensors.Image(torch.from_numpy(image.transpose(2, 0, 1).copy())),
            "target": tv_tensors.Mask(target),
            "conf": tv_tensors.Mask(conf),
            "is_pseudo": self.pseudo is not None,
            "id": image_id,
            "size": (h, w),
        }
        if self.transform is not None:
            item = self.transform(item)
        return item
