"""Class-wise top-alpha pseudo-labels (paper Algorithm 2, lines 13/15) and their HDF5 store.

For a ratio alpha, the threshold tau_c of class c is the confidence of the ceil(alpha * n_c)-th
most confident pixel among the n_c pixels the teacher predicts as c over the whole unlabeled set;
a pixel keeps its label if its confidence >= tau_c (ties are all kept), else it becomes 255.
alpha >= 1 keeps everything (tau = 0). A class the teacher never predicts gets tau = +inf, which
drops nothing because no pixel carries it.

Generation makes one forward pass: labels (uint8) and confidences (float16, 3 bytes per pixel in
all) of every image go to the file while a per-class histogram over the 65,536 float16 codes is
accumulated; tau is then exact for the stored values, computed from the histogram. The original
implementation estimated tau from every 16th pixel of a first pass and ran the network twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dmt import IGNORE_INDEX
from dmt.errors import DMTError, NonFiniteOutput
from dmt.pseudo.h5io import open_sealed, string_dtype, write_sealed
from dmt.pseudo.thresholds import _threshold_from_table, apply_thresholds, check_alpha
from dmt.store.integrity import rerun_hint

FORMAT = "dmt-pseudo-labels/1"
# Confidences are probabilities: float16 values in [0, 1] are exactly the bit patterns 0..0x3C00.
_F16_ONE = 0x3C00
_F16_CODES = _F16_ONE + 1


class ConfidenceHistogram:
    """Per-class counts of float16 confidence codes: exact thresholds without keeping the pixels.

    Non-negative float16 values order like their uint16 bit patterns, so a descending walk over
    the codes is a descending walk over the confidences. Only [0, 1] is representable: NaN, inf,
    negative or > 1 confidences are rejected.
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.counts = np.zeros((num_classes, _F16_CODES), dtype=np.int64)

    def update(self, labels: np.ndarray, conf: np.ndarray) -> None:
        if conf.dtype != np.float16:
            raise TypeError("ConfidenceHistogram takes float16 confidences")
        labels = labels.ravel().astype(np.int64)
        codes = conf.ravel().view(np.uint16).astype(np.int64)
        if codes.size and codes.max() > _F16_ONE:
            raise ValueError("confidences must be finite probabilities in [0, 1]")
        valid = labels < self.num_classes
        flat = labels[valid] * _F16_CODES + codes[valid]
        self.counts += np.bincount(flat, minlength=self.num_classes * _F16_CODES).reshape(
            self.num_classes, _F16_CODES
        )

    def class_counts(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def thresholds(self, alpha: float) -> np.ndarray:
        check_alpha(alpha)
        if alpha >= 1:
            return np.zeros(self.num_classes, dtype=np.float64)
        tau = np.empty(self.num_classes, dtype=np.float64)
        for c in range(self.num_classes):
            codes = np.flatnonzero(self.counts[c])[::-1]
            values = codes.astype(np.uint16).view(np.float16).astype(np.float64)
            tau[c] = _threshold_from_table(values, self.counts[c, codes], alpha)
        return tau

    def kept_counts(self, tau: np.ndarray) -> np.ndarray:
        values = np.arange(_F16_CODES, dtype=np.uint16).view(np.float16).astype(np.float64)
        kept = np.empty(self.num_classes, dtype=np.int64)
        for c in range(self.num_classes):
            kept[c] = self.counts[c, values >= tau[c]].sum()
        return kept


class PseudoLabelWriter:
    """Writes one pseudo-label set to ``path`` atomically: the file appears only once complete.

    Use as a context manager; call ``add(id, labels, conf)`` once for every expected id.
    """

    def __init__(self, path, ids: Iterable[str], num_classes: int, alpha: float, teacher_digest: str,
                 compression: str | None = "lzf"):
        check_alpha(alpha)
        if num_classes > IGNORE_INDEX:
            raise ValueError("uint8 labels hold at most 255 classes")
        self.path = Path(path)
        self.ids = list(ids)
        self.num_classes = num_classes
        self.alpha = float(alpha)
        self.teacher_digest = teacher_digest
        self.compression = compression
        self.histogram = ConfidenceHistogram(num_classes)
        # Pixels whose teacher label matches the hidden ground truth, for diagnostics only.
        self.correct = ConfidenceHistogram(num_classes)
        self._written: set[str] = set()

    def __enter__(self) -> PseudoLabelWriter:
        # The HDF5 file is closed and sealed before the temp file is renamed (or removed on error).
        self._stack = contextlib.ExitStack()
        self._out = self._stack.enter_context(write_sealed(self.path, libver="latest"))
        self._file = self._out.file
        self._labels = self._file.create_group("labels")
        self._conf = self._file.create_group("conf")
        return self

    def add(self, image_id: str, labels: np.ndarray, conf: np.ndarray,
            target: np.ndarray | None = None) -> None:
        """Store one image; ``target`` (ground truth, 255 = unknown) feeds accuracy diagnostics."""
        if image_id in self._written:
            raise ValueError(f"pseudo labels for {image_id!r} written twice")
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        conf = np.ascontiguousarray(conf, dtype=np.float16)
        if labels.shape != conf.shape or labels.ndim != 2:
            raise ValueError(f"{image_id}: labels {labels.shape} and conf {conf.shape} must be one [H, W]")
        try:
            self.histogram.update(labels, conf)
        except ValueError:
            raise NonFiniteOutput(f"non-finite or out-of-range confidences for {image_id}") from None
        # One chunk per image: a read touches exactly the image asked for.
        kw = dict(chunks=labels.shape, compression=self.compression)
        self._labels.create_dataset(image_id, data=labels, **kw)
        self._conf.create_dataset(image_id, data=conf, **kw)
        self._out.check()  # a full disk stops the job here, not after the whole pass
        if target is not None:
            hit = labels == target
            self.correct.update(labels[hit], conf[hit])
        self._written.add(image_id)

    def _finish(self) -> None:
        missing = [i for i in self.ids if i not in self._written]
        if missing:
            raise DMTError(f"{self.path}: {len(missing)} ids got no pseudo labels (first: {missing[:3]})")
        tau = self.histogram.thresholds(self.alpha)
        attrs = self._file.attrs
        attrs["format"] = FORMAT
        attrs["num_classes"] = self.num_classes
        attrs["alpha"] = self.alpha
        attrs["tau"] = tau
        attrs["class_counts"] = self.histogram.class_counts()
        attrs["kept_counts"] = self.histogram.kept_counts(tau)
        attrs["kept_correct_counts"] = self.correct.kept_counts(tau)
        attrs["teacher_digest"] = self.teacher_digest
        self._file.create_dataset("ids", data=np.array(self.ids, dtype=object), dtype=string_dtype())

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                if not self._stack.__exit__(*sys.exc_info()):
                    raise
                return False
        return self._stack.__exit__(exc_type, exc, tb)


class PseudoLabelStore:
    """Reads a pseudo-label set: ``store[id] -> (labels with tau applied, confidence)``.

    The file's seal is checked once, here; it is then opened lazily per process so that
    DataLoader workers each get their own handle.
    """

    def __init__(self, path, expected_ids: Iterable[str] | None = None):
        self.path = Path(path)
        self._file, self._checked = None, False
        f = self._open()
        try:
            attrs = dict(f.attrs)
            if attrs.get("format") != FORMAT or "ids" not in f:
                raise DMTError(f"{self.path} is not a complete DMT pseudo-label file "
                               f"(format {attrs.get('format')!r}); {rerun_hint(self.path)}")
            self.num_classes = int(attrs["num_classes"])
            self.alpha = float(attrs["alpha"])
            self.tau = np.asarray(attrs["tau"], dtype=np.float64)
            self.class_counts = np.asarray(attrs["class_counts"])
            self.kept_counts = np.asarray(attrs["kept_counts"])
            self.kept_correct_counts = np.asarray(attrs["kept_correct_counts"])
            self.teacher_digest = str(attrs["teacher_digest"])
            self.ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
        except (KeyError, OSError) as e:
            raise DMTError(f"{self.path} is corrupt or truncated ({e}); {rerun_hint(self.path)}") from e
        if expected_ids is not None:
            expected = list(expected_ids)
            missing = sorted(set(expected) - set(self.ids))
            extra = sorted(set(self.ids) - set(expected))
            if missing or extra:
                raise DMTError(
                    f"{self.path} does not match the unlabeled split: {len(missing)} ids missing "
                    f"(first: {missing[:3]}), {len(extra)} unexpected (first: {extra[:3]})"
                )

    def _open(self):
        if self._file is None or self._pid != os.getpid():
            if not self.path.is_file():
                raise DMTError(f"pseudo-label file {self.path} does not exist")
            self._file = open_sealed(self.path, checked=self._checked)
            self._checked, self._pid = True, os.getpid()
        return self._file

    def _read(self, group: str, image_id: str) -> np.ndarray:
        f = self._open()
        try:
            return f[group][image_id][()]
        except KeyError:
            raise DMTError(f"{self.path} holds no pseudo labels for id {image_id!r}") from None
        except OSError as e:
            raise DMTError(f"{self.path}: cannot read {image_id!r} ({e}); the file is corrupt") from e

    def raw(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Teacher argmax and confidence, no threshold applied."""
        return self._read("labels", image_id), self._read("conf", image_id)

    def argmax(self, image_id: str) -> np.ndarray:
        """Teacher argmax alone (no threshold): what comparing two teachers reads, half the bytes of ``raw``."""
        return self._read("labels", image_id)

    def __getitem__(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        labels, conf = self.raw(image_id)
        return apply_thresholds(labels, conf, self.tau), conf

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def generate(model, dataset, path, num_classes: int, alpha: float, teacher_digest: str, device,
             batch_size: int = 8, pad_to=(0, 0), num_workers: int = 0, amp: bool = True,
             window=None) -> dict:
    """Label ``dataset`` with ``model`` in one forward pass and write the set to ``path``.

    The host side (confidences, histogram, compression, writes) of batch k runs in a writer
    thread while the model computes batch k + 1: torch releases the GIL, so on a GPU, or with a
    spare core, the HDF5 file costs little beyond the forward pass itself.
    Returns the summary also stored as attributes: tau, counts, and where the data set has
    ground truth, the accuracy of the kept pseudo labels (diagnostics, never used in training).
    ``window``: sliding-window inference (dmt.models.windows.Window); the confidences are then the
    softmax of the windows' averaged logits.
    """
    from concurrent.futures import ThreadPoolExecutor

    from dmt.models.inference import predict

    def write(writer: PseudoLabelWriter, batch) -> None:
        for image_id, labels, conf, target in batch.labels_and_confidences():
            has_truth = bool((target != IGNORE_INDEX).any())
            writer.add(image_id, labels, conf, target if has_truth else None)

    with PseudoLabelWriter(path, dataset.ids, num_classes, alpha, teacher_digest) as writer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="pseudo-writer") as pool:
        pending = None
        for batch in predict(model, dataset, device, batch_size, pad_to, num_workers, amp,
                             desc="pseudo-label", window=window):
            if pending is not None:
                pending.result()  # at most one batch in flight; re-raises writer errors here
            pending = pool.submit(write, writer, batch)
        if pending is not None:
            pending.result()
    return summarize(PseudoLabelStore(path))


def summarize(store: PseudoLabelStore) -> dict:
    kept = store.kept_counts
    total = store.class_counts
    correct = store.kept_correct_counts
    return {
        "alpha": store.alpha,
        "tau": [None if not math.isfinite(t) else float(t) for t in store.tau],
        "class_counts": total.tolist(),
        "kept_counts": kept.tolist(),
        "kept_fraction": float(kept.sum() / max(total.sum(), 1)),
        # Precision of the kept labels against ground truth, where the data set has it.
        "kept_accuracy": float(correct.sum() / kept.sum()) if correct.sum() else None,
        "kept_accuracy_per_class": [float(c / k) if k else None for c, k in zip(correct, kept, strict=False)]
        if correct.sum() else None,
        "teacher_digest": store.teacher_digest,
    }
