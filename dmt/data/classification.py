"""Image classification data (the paper's Algorithm 1): CIFAR-10 and the embedded digits set.

Prepared layout (one folder, built beside its final place and renamed once complete):

    root/{split}.npz        images uint8 [N, H, W, 3], labels int64 [N], ids unicode [N]
    root/lists/{split}.txt  one id per line, in the order of the npz arrays
    root/.complete.json     the parameters it was made from, counts, per-class counts

Splits are ``train`` and ``test``. Items of ``ClassificationDataset`` are dicts shaped like
``dmt.data.segmentation.SegmentationDataset``'s, with 0-d target / conf tensors, so the training loop serves both.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from dmt import IGNORE_INDEX
from dmt.data.voc import read_id_file
from dmt.errors import DMTError
from dmt.store.atomic import write_lines

SPLITS = ("train", "test")
NUM_CLASSES = 10  # both CIFAR-10 and digits_cls

_WHAT = "classification data"
_EXPECTED = ("a prepared classification folder ({split}.npz with images/labels/ids and lists/{split}.txt, "
             "made by prepare_cifar10 or prepare_digits_cls)")


# ---------------------------------------------------------------------------------------------
# Prepared folders


def write_split(tmp: Path, split: str, images: np.ndarray, labels: np.ndarray, ids: list[str]) -> None:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    assert images.ndim == 4 and images.shape[-1] == 3 and len(images) == len(labels) == len(ids)
    with open(tmp / f"{split}.npz", "wb") as f:  # a handle: np.savez would append .npz to a name
        np.savez(f, images=images, labels=labels, ids=np.array(ids, dtype=str))
    write_lines(tmp / "lists" / f"{split}.txt", ids)


def count_classes(labels: np.ndarray) -> list[int]:
    return np.bincount(labels, minlength=NUM_CLASSES).tolist()


def _check_root(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DMTError(f"classification data folder {root} does not exist (expected "
                       f"{_EXPECTED.format(split='<split>')})")
    return root


def _split_files(root: Path, split: str) -> tuple[Path, Path]:
    npz, ids = root / f"{split}.npz", root / "lists" / f"{split}.txt"
    if not (npz.is_file() and ids.is_file()):
        raise DMTError(f"{root} has no split {split!r}: expected {_EXPECTED.format(split=split)}")
    return npz, ids


def read_class_split(root, split: str) -> list[str]:
    """The ids of ``split`` of a prepared classification folder, in their stored order."""
    root = _check_root(root)
    return read_id_file(_split_files(root, split)[1])


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except KeyError as e:
        raise DMTError(f"{path} lacks array {e}; expected images, labels and ids") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DMTError(f"{path} is corrupt or truncated ({e})") from None


# ---------------------------------------------------------------------------------------------
# The data set


class ClassificationDataset(torch.utils.data.Dataset):
    """Images (and labels, or pseudo labels) of ``split_ids`` in a prepared classification folder.

    An id is looked up in whichever split holds it. Items are dicts: image (uint8 [3, H, W]; a
    tv_tensors.Image for the ``transform``), target (int64 0-d: ground truth, the pseudo label, or
    255 = no label), conf (float32 0-d: 1 for ground truth, the pseudo label's confidence, 0
    without a label), is_pseudo, id. ``pseudo`` maps an id to (label, confidence).
    """

    def __init__(self, root, split_ids, transform=None, pseudo=None, with_labels: bool = True):
        self.root = _check_root(root)
        self.ids = list(split_ids)
        self.transform = transform
        self.pseudo = pseudo
        self.with_labels = with_labels and pseudo is None
        splits = sorted(p.stem for p in self.root.glob("*.npz")
                        if (self.root / "lists" / f"{p.stem}.txt").is_file())
        if not splits:
            raise DMTError(f"{self.root} is not {_EXPECTED.format(split='<split>')}")
        where: dict[str, tuple[str, int]] = {}
        for split in splits:
            for row, image_id in enumerate(_load_npz(self.root / f"{split}.npz", ("ids",))["ids"].tolist()):
                where.setdefault(image_id, (split, row))
        missing = [i for i in self.ids if i not in where]
        if missing:
            raise DMTError(f"{len(missing)} split ids are not in the data set at {self.root} "
                           f"(splits {', '.join(splits)}), first: {missing[:5]}")
        # Only the rows asked for are kept, in the order of the ids.
        images, labels = [], []
        for split in splits:
            positions = [k for k, i in enumerate(self.ids) if where[i][0] == split]
            if not positions:
                continue
            arrays = _load_npz(self.root / f"{split}.npz", ("images", "labels"))
            rows = [where[self.ids[k]][1] for k in positions]
            images.append((positions, arrays["images"][rows]))
            labels.append((positions, arrays["labels"][rows]))
        shapes = {a.shape[1:] for _, a in images}
        if len(shapes) > 1:
            raise DMTError(f"{self.root}: the splits hold images of different sizes {sorted(shapes)}")
        shape = shapes.pop() if shapes else (0, 0, 3)
        self.images = np.zeros((len(self.ids), *shape), np.uint8)
        self.labels = np.zeros(len(self.ids), np.int64)
        for (positions, a), (_, b) in zip(images, labels, strict=False):
            self.images[positions] = a
            self.labels[positions] = b

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        image_id = self.ids[index]
        if self.pseudo is not None:
            try:
                label, conf = self.pseudo[image_id]
            except KeyError:
                raise DMTError(f"no pseudo label for {image_id}") from None
            target, conf = int(label), float(conf)
        elif self.with_labels:
            target, conf = int(self.labels[index]), 1.0
        else:
            target, conf = IGNORE_INDEX, 0.0
        image = np.ascontiguousarray(self.images[index].transpose(2, 0, 1))  # a copy: transforms may write
        item = {
            "image": torch.from_numpy(image),
            "target": torch.tensor(target, dtype=torch.int64),
            "conf": torch.tensor(conf, dtype=torch.float32),
            "is_pseudo": self.pseudo is not None,
            "id": image_id,
        }
        if self.transform is not None:
            from torchvision import tv_tensors  # training jobs only: inference starts seconds sooner

            item = self.transform({**item, "image": tv_tensors.Image(item["image"])})
        return item


