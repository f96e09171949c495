"""Example predictions for the report (the paper's Fig. 6 and Appendix A).

Segmentation: a few fixed valtiny images, the teacher's pseudo label on them with the thresholds
tau of the set it made (valtiny images are val images, never pseudo-labelled themselves), its
confidence, and one model's prediction after several iterations. Classification: the most and
least confident images each pseudo-label set kept.
"""

from __future__ import annotations

import numpy as np

from dmt.pseudo.thresholds import apply_thresholds
from dmt.report.plots import ImageChoice, SegmentationExample


def predictions(model, dataset, device, batch_size: int, pad_to, amp: bool) -> dict[str, tuple]:
    """``id -> (labels, confidence, ground truth)`` of ``model`` over ``dataset``, one pass at the
    original image sizes, as evaluation and pseudo-labelling predict."""
    from dmt.models.inference import predict

    out = {}
    for batch in predict(model, dataset, device, batch_size, pad_to, amp=amp, desc=None):
        for image_id, labels, conf, truth in batch.labels_and_confidences():
            out[image_id] = labels, conf.astype(np.float32), truth
    return out


def segmentation_examples(dataset, by_iteration: dict[int, dict[str, tuple]], teacher: dict[str, tuple] | None = None,
                          tau=None) -> list[SegmentationExample]:
    """One example per image of ``dataset``: ``by_iteration[i]`` and ``teacher`` are ``predictions``
    of the shown model after iteration i and of the teacher whose labels, under the thresholds
    ``tau``, are shown (none for a run that has no pseudo-label files)."""
    examples = []
    for k, image_id in enumerate(dataset.ids):
        image = dataset[k]["image"].permute(1, 2, 0).numpy()
        truth = next(iter(by_iteration.values()))[image_id][2]
        pseudo = conf = None
        if teacher is not None:
            labels, conf, _ = teacher[image_id]
            pseudo = apply_thresholds(labels, conf, tau)
        examples.append(SegmentationExample(
            image_id, image, truth, pseudo, conf,
            {i: preds[image_id][0] for i, preds in sorted(by_iteration.items())}))
    return examples


def confidence_extremes(ids: list[str], labels, conf, count: int) -> tuple[list[int], list[int]]:
    """Positions of the ``count`` most and the ``count`` least confident images (most confident
    first in both; ties by id, so the choice is stable), never the same image twice."""
    order = sorted(range(len(ids)), key=lambda k: (-float(conf[k]), ids[k]))
    top = order[:count]
    bottom = order[max(count, len(order) - count):]
    return top, bottom


def image_choices(positions: list[int], images, labels, conf, truth) -> list[ImageChoice]:
    return [ImageChoice(np.asarray(images[k]), int(labels[k]), float(conf[k]),
                        None if truth is None else int(truth[k])) for k in positions]
