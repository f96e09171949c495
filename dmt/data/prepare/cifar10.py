"""CIFAR-10 from its official python pickles (cifar-10-batches-py/), read without running code,
as a prepared classification folder (``dmt.data.classification``'s layout)."""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

from dmt.data import prepared
from dmt.data.classification import NUM_CLASSES, count_classes, write_split
from dmt.errors import DMTError

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
            write_split(tmp, split, images, labels, ids)
            counts[split] = len(ids)
            class_counts[split] = count_classes(labels)
        summary = {"params": params, "counts": counts, "class_counts": class_counts,
                   "image_size": [CIFAR_SIDE, CIFAR_SIDE]}
        prepared.finish(tmp, summary)
    return summary
