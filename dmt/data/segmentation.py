"""The segmentation Dataset: images and masks (or pseudo labels) of a VOC-layout folder as tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dmt import IGNORE_INDEX
from dmt.data.voc import check_root, read_image, read_mask
from dmt.errors import DMTError

# Decoded files a data set keeps in memory, in bytes: a small set (the digits demo, a folder of a
# few hundred images) is decoded once instead of at every epoch; a large one (VOC's 10,582 train
# images) fills this and reads the rest from disk each time.
DECODE_CACHE_BYTES = 512 * 2**20


class SegmentationDataset(torch.utils.data.Dataset):
    """Images (and masks, or pseudo labels) of ``ids`` under a VOC-layout ``root``.

    Items are dicts: image (uint8 [3, H, W]), target (int64: ground truth, the pseudo label, or
    all 255), conf (float32: pseudo-label confidence, ones for ground truth), is_pseudo, id, size
    (H, W) before any transform; a ``transform`` gets them as torchvision's tv_tensors.
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
            "image": torch.from_numpy(image.transpose(2, 0, 1).copy()),
            "target": target,
            "conf": conf,
            "is_pseudo": self.pseudo is not None,
            "id": image_id,
            "size": (h, w),
        }
        if self.transform is not None:
            item = self.transform(_as_tv_tensors(item))
        return item


def _as_tv_tensors(item: dict) -> dict:
    """The item's tensors typed for torchvision's transforms (which resize a Mask by nearest
    neighbour, an Image bilinearly). Only a transformed item needs them: torchvision is imported
    here, not by inference jobs, which then start seconds sooner."""
    from torchvision import tv_tensors

    return {**item, "image": tv_tensors.Image(item["image"]), "target": tv_tensors.Mask(item["target"]),
            "conf": tv_tensors.Mask(item["conf"])}
