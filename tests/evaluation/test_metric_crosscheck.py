"""This pipeline's mIoU against a well-kept library's: torchmetrics' MulticlassJaccardIndex
(ignore index 255) on random masks, accumulated image by image as evaluation does."""

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from dmt.evaluation.metrics import ConfusionMatrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miou_equals_torchmetrics_jaccard_index_on_random_masks(seed):
    g = torch.Generator().manual_seed(seed)
    classes = 6
    target = torch.randint(0, classes, (3, 40, 50), generator=g)
    pred = torch.randint(0, classes, (3, 40, 50), generator=g)
    target[torch.rand(target.shape, generator=g) < 0.25] = 255
    target[target == 3], pred[pred == 3] = 1, 2  # a class absent from both: excluded by both
    if seed == 2:
        pred[pred == 4] = 0  # a class only in the ground truth: IoU 0, counted by both
    cm = ConfusionMatrix(classes)
    for t, p in zip(target, pred, strict=True):
        cm.update(t.numpy(), p.numpy())
    ours = cm.summary()
    theirs = MulticlassJaccardIndex(num_classes=classes, ignore_index=255, average="macro")(pred, target)
    assert ours["miou"] == pytest.approx(float(theirs), abs=1e-6)
    per_class = MulticlassJaccardIndex(num_classes=classes, ignore_index=255, average="none")(pred, target)
    for name, iou in ours["per_class_iou"].items():
        assert iou == pytest.approx(float(per_class[int(name)]), abs=1e-6)
    assert ours["excluded_classes"] == ["3"]
    if seed == 2:
        assert ours["per_class_iou"]["4"] == 0.0
