import numpy as np
import pytest

from dmt.evaluate import ConfusionMatrix, accuracy, fine_grained_accuracy


def test_miou_ignores_255_and_excludes_absent_classes():
    cm = ConfusionMatrix(4)
    # The 255 pixel, predicted 2, must not count: class 2 then appears nowhere, class 3 neither.
    cm.update(np.array([0, 0, 1, 1, 255]), np.array([0, 1, 1, 1, 2]))
    s = cm.summary(["bg", "a", "b", "c"])
    # bg: tp 1 / union (2 + 1 - 1) = 1/2; a: tp 2 / union (2 + 3 - 2) = 2/3.
    assert s["per_class_iou"] == pytest.approx({"bg": 0.5, "a": 2 / 3})
    assert s["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["pixel_accuracy"] == pytest.approx(3 / 4)
    assert s["excluded_classes"] == ["b", "c"]
    assert s["pixels"] == 4


def test_a_class_only_predicted_counts_with_iou_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 0]]), np.array([[0, 2]]))
    s = cm.summary()
    assert s["per_class_iou"] == {"0": 0.5, "2": 0.0}
    assert s["miou"] == pytest.approx(0.25)


def test_ground_truth_outside_the_classes_is_an_error():
    with pytest.raises(ValueError, match=r"\[37\]"):
        ConfusionMatrix(21).update(np.array([37]), np.array([0]))


def test_accuracy_and_fine_grained_accuracy():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.2, 0.8]])
    targets = np.array([0, 0, 1, 1])
    assert accuracy(probs, targets) == 0.5
    # Correct rows count their true-class probability (0.7, 0.8), wrong rows 0.
    assert fine_grained_accuracy(probs, targets) == pytest.approx((0.7 + 0.8) / 4)
