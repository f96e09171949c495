"""Image classification data (the paper's Algorithm 1): CIFAR-10 and the embedded digits set.

Prepared layout (one folder, built beside its final place and renamed once complete):

    root/{split}.npz        images uint8 [N, H, W, 3], labels int64 [N], ids unicode [N]
    root/lists/{split}.txt  one id per line, in the order of the npz arrays
    root/.complete.json     the parameters it was made from, counts, per-class counts

Splits are ``train`` and ``test``. Items of ``ClassificationDataset`` are dicts shaped like
``SegmentationDataset``'s, with 0-d target / conf tensors, so the training loop serves both.
"""

from __future__ import annotations

import codecs
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import is_pure_tensor, query_size

from dmt import IGNORE_INDEX
from dmt.atomic import write_lines
from dmt.data import prepared
from dmt.data.voc import read_id_file
from dmt.errors import DMTError

SPLITS = ("train", "test")
NUM_CLASSES = 10  # both CIFAR-10 and digits_cls

# Per data set: RandomCrop padding, horizontal flip, Cutout side (DeVries & Taylor use 16 on CIFAR).
AUGMENT = {"cifar10": {"pad": 4, "flip": True, "cutout": 16},
           # 8x8 digits: a 1-pixel shift and a 3x3 hole are the CIFAR recipe's 4 and 16 of 32, scaled.
           "digits_cls": {"pad": 1, "flip": False, "cutout": 3}}

_WHAT = "classification data"
_EXPECTED = ("a prepared classification folder ({split}.npz with images/labels/ids and lists/{split}.txt, "
             "made by prepare_cifar10 or prepare_digits_cls)")


# ---------------------------------------------------------------------------------------------
# Prepared folders


def _write_split(tmp: Path, split: str, images: np.ndarray, labels: np.ndarray, ids: list[str]) -> None:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    assert images.ndim == 4 and images.shape[-1] == 3 and len(images) == len(labels) == len(ids)
    with open(tmp / f"{split}.npz", "wb") as f:  # a handle: np.savez would append .npz to a name
        np.savez(f, images=images, labels=labels, ids=np.array(ids, dtype=str))
    write_lines(tmp / "lists" / f"{split}.txt", ids)


def _class_counts(labels: np.ndarray) -> list[int]:
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
# CIFAR-10 from its official python pickles

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
CIFAR_SIDE = 32


class _SafeUnpickler(pickle.Unpickler):
    """Loads the CIFAR batches (dicts of str, int, list and numpy arrays), nothing else: any other
    global a pickle names, e.g. a function that would run code, is refused."""

    def find_class(self, module, name):
        try:
            from numpy._core import multiarray, numeric
        except ImportError:  # numpy 1
            from numpy.core import multiarray, numeric

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,  # Python 2 / numpy 1
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,  # numpy 2
            ("numpy.core.numeric", "_frombuffer"): numeric._frombuffer,  # protocol 5
            ("numpy._core.numeric", "_frombuffer"): numeric._frombuffer,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 at protocol 2
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only "
                                         f"numpy arrays, lists, numbers and strings")
        return allowed[(module, name)]


def _find_cifar(cifar10_root) -> Path:
    root = Path(cifar10_root)
    for folder in (root / CIFAR_DIR, root):
        if (folder / CIFAR_TRAIN_FILES[0]).is_file():
            return folder
    raise DMTError(f"no CIFAR-10 python batches under {root}: expected "
                   f"{root / CIFAR_DIR / CIFAR_TRAIN_FILES[0]} ... data_batch_5 and test_batch (the "
                   f"official python version, as torchvision downloads it), or cifar10_root pointing at "
                   f"the {CIFAR_DIR} folder itself")


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 32, 32, 3] and labels int64 [N] of one official CIFAR-10 python batch."""
    path = Path(path)
    if not path.is_file():
        raise DMTError(f"CIFAR-10 batch {path} does not exist")
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="latin1").load()
    except Exception as e:  # noqa: BLE001 - truncated, corrupt or hostile: any unpickler failure
        raise DMTError(f"CIFAR-10 batch {path} is truncated or corrupt ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise DMTError(f"CIFAR-10 batch {path} holds a {type(batch).__name__}, not a dict")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise DMTError(f"CIFAR-10 batch {path} lacks {', '.join(missing)} (keys: {sorted(map(str, batch))})")
    data = batch["data"]
    side = CIFAR_SIDE
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3 * side * side):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DMTError(f"CIFAR-10 batch {path}: data is {dtype} of shape {shape}; expected uint8 "
                       f"N x {3 * side * side} (3 x {side} x {side} channel-major RGB rows)")
    try:
        labels = np.asarray(batch["labels"])
    except (TypeError, ValueError, OverflowError) as e:
        raise DMTError(f"CIFAR-10 batch {path}: labels are not a list of integers ({e})") from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DMTError(f"CIFAR-10 batch {path}: labels are not a list of integers (got {labels.dtype} "
                       f"of shape {labels.shape})")
    if len(labels) != len(data):
        raise DMTError(f"CIFAR-10 batch {path}: {len(labels)} labels for {len(data)} images")
    bad = np.unique(labels[(labels < 0) | (labels >= NUM_CLASSES)])
    if bad.size:
        raise DMTError(f"CIFAR-10 batch {path} has labels {bad.tolist()[:10]}; expected 0-{NUM_CLASSES - 1}")
    # A row is the R plane, then G, then B, each 32 x 32 row-major.
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def prepare_cifar10(cifar10_root, out_root) -> dict:
    """Write CIFAR-10 (official python batches under ``cifar10_root``) as a prepared classification
    folder: ``train`` (data_batch_1..5 in order, ids train_00000...) and ``test`` (test_batch, ids
    test_00000...). Reuses a complete folder made from the same source; returns the summary."""
    source = _find_cifar(cifar10_root)
    out_root = Path(out_root)
    params = {"cifar10_root": str(source.resolve())}
    done = prepared.existing(out_root, params, "CIFAR-10")
    if done is not None:
        return done

    parts = {"train": [read_cifar_batch(source / name) for name in CIFAR_TRAIN_FILES],
             "test": [read_cifar_batch(source / CIFAR_TEST_FILE)]}
    with prepared.building(out_root, subdirs=("lists",)) as tmp:
        counts, class_counts = {}, {}
        for split, batches in parts.items():
            images = np.concatenate([b[0] for b in batches])
            labels = np.concatenate([b[1] for b in batches])
            ids = [f"{split}_{k:05d}" for k in range(len(labels))]
            _write_split(tmp, split, images, labels, ids)
            counts[split] = len(ids)
            class_counts[split] = _class_counts(labels)
        summary = {"params": params, "counts": counts, "class_counts": class_counts,
                   "image_size": [CIFAR_SIDE, CIFAR_SIDE]}
        prepared.finish(tmp, summary)
    return summary


# ---------------------------------------------------------------------------------------------
# The embedded digits classification set

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
            _write_split(tmp, split, images, labels, ids)
            counts[split] = len(ids)
            class_counts[split] = _class_counts(labels)
        summary = {"params": params, "counts": counts, "class_counts": class_counts,
                   "image_size": [size, size],
                   "source_digits": {split: sources[split].tolist() for split in SPLITS}}
        prepared.finish(tmp, summary)
    return summary


# ---------------------------------------------------------------------------------------------
# The data set


class ClassificationDataset(torch.utils.data.Dataset):
    """Images (and labels, or pseudo labels) of ``split_ids`` in a prepared classification folder.

    An id is looked up in whichever split holds it. Items are dicts: image (tv_tensors.Image
    uint8 [3, H, W]), target (int64 0-d: ground truth, the pseudo label, or 255 = no label),
    conf (float32 0-d: 1 for ground truth, the pseudo label's confidence, 0 without a label),
    is_pseudo, id. ``pseudo`` maps an id to (label, confidence).
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
        for (positions, a), (_, b) in zip(images, labels):
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
            "image": tv_tensors.Image(torch.from_numpy(image)),
            "target": torch.tensor(target, dtype=torch.int64),
            "conf": torch.tensor(conf, dtype=torch.float32),
            "is_pseudo": self.pseudo is not None,
            "id": image_id,
        }
        if self.transform is not None:
            item = self.transform(item)
        return item


# ---------------------------------------------------------------------------------------------
# Transforms (randomness from torch only: the training loop seeds torch per sample)


class PadRandomCrop(v2.Transform):
    """RandomCrop back to the input's own size after padding each side by ``pad`` with ``fill``."""

    def __init__(self, pad: int, fill: int = 128):
        super().__init__()
        self.pad, self.fill = pad, fill

    def make_params(self, flat_inputs):
        h, w = query_size(flat_inputs)
        return {"size": (h, w), "top": int(torch.randint(0, 2 * self.pad + 1, ())),
                "left": int(torch.randint(0, 2 * self.pad + 1, ()))}

    def transform(self, inpt, params):
        if self.pad == 0:
            return inpt
        h, w = params["size"]
        padded = F.pad(inpt, [self.pad], fill=self.fill)
        return F.crop(padded, params["top"], params["left"], h, w)


class RandomRandAugment(v2.RandAugment):
    """RandAugment with ``num_ops`` (1) operation per sample at a magnitude drawn uniformly per
    sample from 1..``max_magnitude`` of ``max_magnitude`` + 1 bins (0 = none), i.e. 10% to 100%
    of each operation's range: "one augmentation operation with random intensity at each step".
    Operations and ranges are torchvision's (Identity, shears, translations, rotation, colour,
    contrast, brightness, sharpness, posterize, solarize, autocontrast, equalize)."""

    def __init__(self, num_ops: int = 1, max_magnitude: int = 10, interpolation="nearest", fill=128):
        if max_magnitude < 1:
            raise ValueError(f"max_magnitude must be >= 1, not {max_magnitude}")
        super().__init__(num_ops=num_ops, magnitude=max_magnitude, num_magnitude_bins=max_magnitude + 1,
                         interpolation=interpolation, fill=fill)
        self.max_magnitude = max_magnitude

    def forward(self, *inputs):
        # RandAugment reads self.magnitude once per call; set it for this sample first.
        self.magnitude = int(torch.randint(1, self.max_magnitude + 1, ()))
        return super().forward(*inputs)


def cutout(image: torch.Tensor, length: int, cy: int, cx: int, fill: int = 0) -> torch.Tensor:
    """A copy of ``image`` [..., H, W] with the ``length`` x ``length`` square centred at (cy, cx)
    (top-left at cy - length // 2, cx - length // 2), clipped at the borders, set to ``fill``."""
    h, w = image.shape[-2:]
    y0, x0 = cy - length // 2, cx - length // 2
    out = image.clone()
    out[..., max(y0, 0):min(y0 + length, h), max(x0, 0):min(x0 + length, w)] = fill
    return out


class Cutout(v2.Transform):
    """One square hole of side ``length`` at a uniformly random centre, clipped at the borders,
    filled with ``fill`` (DeVries & Taylor 2017, who zero it after normalisation)."""

    _transformed_types = (tv_tensors.Image, is_pure_tensor)

    def __init__(self, length: int, fill: int = 0):
        super().__init__()
        self.length, self.fill = length, fill

    def make_params(self, flat_inputs):
        h, w = query_size(flat_inputs)
        return {"cy": int(torch.randint(0, h, ())), "cx": int(torch.randint(0, w, ()))}

    def transform(self, inpt, params):
        if self.length <= 0:
            return inpt
        return cutout(inpt, self.length, params["cy"], params["cx"], self.fill)


class ImageOnly:
    """Applies an image transform to an item's image; everything else passes through untouched,
    whatever v2's heuristics would make of the 0-d target / conf tensors."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, item):
        if isinstance(item, Mapping):
            out = dict(item)
            out["image"] = self.transform(item["image"])
            return out
        return self.transform(item)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform!r})"


def classification_train_transform(pad: int, flip: bool, cutout: int, randaugment: bool = True) -> ImageOnly:
    """Pad-and-crop (fill 128), optional horizontal flip, RandomRandAugment, Cutout(cutout), on an
    item dict or a uint8 image [3, H, W]; the image keeps its size and dtype."""
    steps = [PadRandomCrop(pad, fill=128)] if pad > 0 else []
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if randaugment:
        steps.append(RandomRandAugment())
    if cutout > 0:
        steps.append(Cutout(cutout))
    return ImageOnly(v2.Compose(steps) if steps else v2.Identity())
