"""Top-alpha image pseudo-labels for classification (paper Algorithm 1, line 5) and their store.

The teacher labels every unlabeled image once (label = argmax, confidence = max softmax); the
images whose confidence is at least that of the ceil(alpha * n)-th most confident are kept (ties
are all kept, as for the class-wise pixel thresholds of segmentation), alpha >= 1 keeps all.
One HDF5 file per set: the kept ids with uint8 labels and float32 confidences, the threshold,
alpha and the teacher's digest as attributes. The original sorted the confidences of a first
pass, took a threshold one rank off the exact one, and selected with `>`, in a second pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dmt import IGNORE_INDEX
from dmt.errors import DMTError
from dmt.models.inference import predict_probs
from dmt.pseudo.h5io import open_sealed, string_dtype, write_sealed
from dmt.pseudo.thresholds import check_alpha, class_thresholds, top_count
from dmt.store.integrity import rerun_hint

FORMAT = "dmt-image-pseudo-labels/1"


def top_alpha_threshold(conf, alpha: float) -> float:
    """Confidence of the ceil(alpha * n)-th most confident image; 0 when alpha >= 1."""
    check_alpha(alpha)
    conf = np.asarray(conf, dtype=np.float64).ravel()
    if alpha >= 1 or conf.size == 0:
        return 0.0
    return float(np.sort(conf)[::-1][top_count(alpha, conf.size) - 1])


def _finite(conf) -> np.ndarray:
    conf = np.asarray(conf, dtype=np.float64).ravel()
    if not np.isfinite(conf).all():
        raise DMTError("the teacher produced non-finite confidences (NaN weights?)")
    return conf


def top_alpha_images(conf, alpha: float) -> np.ndarray:
    """Indices (ascending) of the images kept at ratio ``alpha``: conf >= the top-alpha threshold."""
    conf = _finite(conf)
    return np.flatnonzero(conf >= top_alpha_threshold(conf, alpha))


def classwise_top_alpha_images(labels, conf, alpha: float, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept indices, tau per class): the top alpha of the images predicted as each class, with
    segmentation's exact class-wise thresholds (``dmt.pseudo.segmentation.class_thresholds``) over images."""
    conf = _finite(conf)
    tau = class_thresholds(labels, conf, alpha, num_classes)
    return np.flatnonzero(conf >= tau[np.asarray(labels)]), tau


def generate_image_labels(model, dataset, path, alpha: float, teacher_digest: str, device,
                          batch_size: int = 256, amp: bool = True, num_workers: int = 0,
                          classwise: bool = False) -> dict:
    """Label ``dataset`` with ``model``, keep the top alpha, write ``path`` atomically; return
    the summary (where the data set has ground truth: the accuracy of the kept labels).

    ``classwise`` keeps the top alpha of each predicted class instead of the top alpha overall
    (Algorithm 1 ranks all images together; a teacher far more confident on some classes then
    hands its student a set missing others)."""
    ids, probs, targets = predict_probs(model, dataset, device, batch_size, amp, num_workers,
                                        desc="pseudo-label")
    conf = probs.max(axis=1)
    labels = probs.argmax(axis=1)
    num_classes = probs.shape[1]
    if classwise:
        keep, tau = classwise_top_alpha_images(labels, conf, alpha, num_classes)
        threshold = [float(t) if np.isfinite(t) else None for t in tau]
    else:
        keep = top_alpha_images(conf, alpha)
        threshold = top_alpha_threshold(conf, alpha)
    with write_sealed(path) as out:
        f = out.file
        f.create_dataset("ids", data=np.array([ids[k] for k in keep], dtype=object), dtype=string_dtype())
        f.create_dataset("labels", data=labels[keep].astype(np.uint8))
        f.create_dataset("conf", data=conf[keep].astype(np.float32))
        f.attrs.update(format=FORMAT, alpha=float(alpha), num_images=len(ids), classwise=classwise,
                       threshold=tau if classwise else threshold,
                       num_classes=num_classes, teacher_digest=teacher_digest)
    known = targets != IGNORE_INDEX
    kept_known = keep[known[keep]]
    return {
        "alpha": float(alpha),
        "selection": "classwise" if classwise else "global",
        "threshold": threshold,
        "num_images": len(ids),
        "kept": int(len(keep)),
        "kept_fraction": len(keep) / len(ids),
        "kept_per_class": np.bincount(labels[keep], minlength=num_classes).tolist(),
        # Diagnostics only (never used in training): precision of the kept labels.
        "kept_accuracy": float((labels[kept_known] == targets[kept_known]).mean()) if len(kept_known) else None,
        "all_accuracy": float((labels[known] == targets[known]).mean()) if known.any() else None,
        "teacher_digest": teacher_digest,
    }


class ImagePseudoLabels:
    """Reads a set written by ``generate_image_labels``: ``store[id] -> (label, confidence)``."""

    def __init__(self, path, unlabeled_ids: Iterable[str] | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DMTError(f"pseudo-label file {self.path} does not exist")
        try:
            with open_sealed(self.path) as f:
                if f.attrs.get("format") != FORMAT:
                    raise DMTError(f"{self.path} is not a DMT image pseudo-label file "
                                   f"(format {f.attrs.get('format')!r}); {rerun_hint(self.path)}")
                self.ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
                labels, conf = f["labels"][()], f["conf"][()]
                self.alpha = float(f.attrs["alpha"])
                self.num_classes = int(f.attrs["num_classes"])
        except (KeyError, OSError) as e:
            raise DMTError(f"{self.path} is corrupt or truncated ({e}); {rerun_hint(self.path)}") from e
        if len(labels) != len(self.ids) or len(conf) != len(self.ids):
            raise DMTError(f"{self.path} is corrupt: {len(self.ids)} ids, {len(labels)} labels")
        if unlabeled_ids is not None:
            extra = sorted(set(self.ids) - set(unlabeled_ids))
            if extra:
                raise DMTError(f"{self.path} labels {len(extra)} images outside the unlabeled split "
                               f"(first: {extra[:3]})")
        self._items = {i: (int(lab), float(c)) for i, lab, c in zip(self.ids, labels, conf, strict=False)}

    def __getitem__(self, image_id: str) -> tuple[int, float]:
        try:
            return self._items[image_id]
        except KeyError:
            raise DMTError(f"{self.path} holds no pseudo label for id {image_id!r}") from None

    def __len__(self) -> int:
        return len(self.ids)
