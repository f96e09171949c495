"""Segmentation and classification metrics: confusion-matrix mIoU, accuracy, fine-grained accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dmt import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates a [C, C] confusion matrix (rows: ground truth, columns: prediction)."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target, prediction) -> None:
        target = np.asarray(target).ravel().astype(np.int64)
        prediction = np.asarray(prediction).ravel().astype(np.int64)
        if target.shape != prediction.shape:
            raise ValueError(f"target {target.shape} and prediction {prediction.shape} differ in size")
        keep = target != self.ignore_index
        target, prediction = target[keep], prediction[keep]
        bad = (target < 0) | (target >= self.num_classes)
        if bad.any():
            raise ValueError(f"ground-truth class ids {sorted(set(target[bad].tolist()))[:5]} "
                             f"outside 0..{self.num_classes - 1} (and not {self.ignore_index})")
        if ((prediction < 0) | (prediction >= self.num_classes)).any():
            raise ValueError("predicted class ids outside the class range")
        self.matrix += np.bincount(target * self.num_classes + prediction,
                                   minlength=self.num_classes ** 2).reshape(self.num_classes, -1)

    def summary(self, class_names: Sequence[str] | None = None) -> dict:
        """mIoU over classes present in ground truth or prediction; the others are listed as excluded."""
        m = self.matrix
        tp = np.diag(m).astype(np.float64)
        gt = m.sum(axis=1)
        pred = m.sum(axis=0)
        union = gt + pred - tp
        present = union > 0
        names = list(class_names) if class_names is not None else [str(c) for c in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
        iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
        total = int(m.sum())
        return {
            "miou": float(iou[present].mean()) if present.any() else 0.0,
            "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
            "per_class_iou": {names[c]: float(iou[c]) for c in range(self.num_classes) if present[c]},
            "excluded_classes": [names[c] for c in range(self.num_classes) if not present[c]],
            "pixels": total,
        }


def accuracy(probs, targets) -> float:
    """Top-1 accuracy of [N, C] probabilities (or logits) against [N] labels."""
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    return float((probs.argmax(axis=1) == targets).mean())


def fine_grained_accuracy(probs, targets) -> float:
    """Paper Appendix C: a correct decision counts as the probability given to the true class, a
    wrong one as 0; ``probs`` must be softmax probabilities [N, C]."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    p_true = probs[np.arange(len(targets)), targets]
    correct = probs.argmax(axis=1) == targets
    return float(np.where(correct, p_true, 0.0).mean())


def evaluate_subsets(model, dataset, subsets: dict[str, Sequence[str]], device, batch_size: int = 8,
                     pad_to=(0, 0), class_names: Sequence[str] | None = None, amp: bool = True,
                     progress: bool = True, window=None) -> dict:
    """One summary per named id subset of ``dataset`` (e.g. val and valtiny), from a single
    forward pass over it: an image in several subsets is predicted once. ``window``: sliding-window
    inference (dmt.models.windows.Window), None for the whole padded image."""
    matrices = confusion_matrices(model, dataset, subsets, device, batch_size, pad_to, amp, progress, window)
    return {name: cm.summary(class_names) for name, cm in matrices.items()}


def confusion_matrices(model, dataset, subsets: dict[str, Sequence[str]], device, batch_size: int = 8,
                       pad_to=(0, 0), amp: bool = True, progress: bool = True,
                       window=None) -> dict[str, ConfusionMatrix]:
    """``evaluate_subsets``'s confusion matrices, before their summary (what ranks sum)."""
    from dmt.models.inference import predict

    members = {name: set(ids) for name, ids in subsets.items()}
    matrices = {name: ConfusionMatrix(dataset.num_classes) for name in subsets}
    for batch in predict(model, dataset, device, batch_size, pad_to, amp=amp,
                         desc="evaluate" if progress else None, window=window):
        for image_id, label, target in batch.labels():
            for name, ids in members.items():
                if image_id in ids:
                    matrices[name].update(target, label)
    return matrices


def evaluate_segmentation(model, dataset, device, batch_size: int = 8, pad_to=(0, 0),
                          class_names: Sequence[str] | None = None, amp: bool = True,
                          progress: bool = True, window=None) -> dict:
    """Confusion-matrix summary of ``model`` over ``dataset`` at the original image sizes."""
    return evaluate_subsets(model, dataset, {"all": dataset.ids}, device, batch_size, pad_to,
                            class_names, amp, progress, window)["all"]


def evaluate_classification(model, dataset, subsets: dict[str, Sequence[str]], device,
                            batch_size: int = 256, amp: bool = True, progress: bool = True) -> dict:
    """Accuracy and fine-grained accuracy (Appendix C) per named id subset, one forward pass."""
    from dmt.models.inference import predict_probs

    ids, probs, targets = predict_probs(model, dataset, device, batch_size, amp,
                                        desc="evaluate" if progress else None)
    row = {i: k for k, i in enumerate(ids)}
    out = {}
    for name, members in subsets.items():
        rows = np.array([row[i] for i in members], dtype=np.int64)
        out[name] = {"accuracy": accuracy(probs[rows], targets[rows]),
                     "fine_grained_accuracy": fine_grained_accuracy(probs[rows], targets[rows]),
                     "images": int(len(rows))}
    return out
