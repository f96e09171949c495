"""Eq. 6, 7, 9, 10 and the Section 5.4 variants pinned on hand-computed tensors."""

import math

import pytest
import torch

from dmt.training.losses import (
    ascending_gamma,
    dynamic_loss,
    dynamic_targets_and_weights,
    dynamic_weights,
    mix,
    mixup_loss,
    sample_weights,
)

# Five classification samples, three classes. Comments give the case of Eq. 6 for each row.
PROBS = torch.tensor([
    [0.75, 0.125, 0.125],  # pseudo 0, agree                                 -> 0.75^g1
    [0.625, 0.25, 0.125],  # pseudo 1, student 0 with 0.625 > conf 0.5       -> 0 (positive disagreement)
    [0.5, 0.375, 0.125],   # pseudo 1, student 0 with 0.5 == conf 0.5 (tie)  -> 0.375^g2
    [0.25, 0.25, 0.5],     # pseudo 0, student 2 with 0.5 < conf 0.875      -> 0.25^g2
    [0.5, 0.25, 0.25],     # ignored                                         -> 0
])
LABELS = torch.tensor([0, 1, 1, 0, 255])
CONF = torch.tensor([0.875, 0.5, 0.5, 0.875, 0.0])


def test_eq6_three_cases_ties_and_ignore():
    w = dynamic_weights(PROBS, LABELS, CONF, gamma1=2, gamma2=3)
    assert w.tolist() == pytest.approx([0.5625, 0.0, 0.052734375, 0.015625, 0.0])


def test_gamma_zero_keeps_the_case_split():
    # p^0 = 1 in cases 1 and 2, positive disagreement stays 0, ignored stays 0.
    w = dynamic_weights(PROBS, LABELS, CONF, gamma1=0, gamma2=0)
    assert w.tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_naive_variant_ignores_the_cases():
    w = dynamic_weights(PROBS, LABELS, CONF, gamma1=2, gamma2=3, variant="naive")
    assert w.tolist() == pytest.approx([0.5625, 0.0625, 0.140625, 0.0625, 0.0])


def test_flip_variant_relabels_positive_disagreement():
    targets, w = dynamic_targets_and_weights(PROBS, LABELS, CONF, 2, 3, variant="flip")
    assert targets.tolist() == [0, 0, 1, 0, 255]
    # (1 - 0.5)^3 for the flipped row; the others as in Eq. 6.
    assert w.tolist() == pytest.approx([0.5625, 0.125, 0.052734375, 0.015625, 0.0])


def test_ce_variant_is_uniform():
    w = dynamic_weights(PROBS, LABELS, CONF, gamma1=5, gamma2=5, variant="ce")
    assert w.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_segmentation_shape_matches_classification_semantics():
    # The same five rows laid out as a 1 x 5 image: [N=1, C=3, H=1, W=5].
    probs = PROBS.t().reshape(1, 3, 1, 5)
    w = dynamic_weights(probs, LABELS.reshape(1, 1, 5), CONF.reshape(1, 1, 5), 2, 3)
    assert w.shape == (1, 1, 5)
    assert w.flatten().tolist() == pytest.approx([0.5625, 0.0, 0.052734375, 0.015625, 0.0])


def test_unknown_variant_and_shape_mismatch_are_errors():
    with pytest.raises(ValueError, match="variant"):
        dynamic_weights(PROBS, LABELS, CONF, 1, 1, variant="bogus")
    with pytest.raises(ValueError, match="pseudo_labels"):
        dynamic_weights(PROBS, LABELS[:4], CONF[:4], 1, 1)


def _mixed_batch():
    """Two 1x2 images, two classes. Image 0 labeled: pixel a (GT 0, p=[0.8, 0.2]), pixel b
    ignored. Image 1 pseudo: pixel c (pseudo 1, conf 0.9, p=[0.25, 0.75]): agreement;
    pixel d (pseudo 0, conf 0.6, p=[0.25, 0.75]): positive disagreement."""
    probs = torch.tensor([
        [[[0.8, 0.5]], [[0.2, 0.5]]],
        [[[0.25, 0.25]], [[0.75, 0.75]]],
    ])
    logits = probs.log().requires_grad_(True)  # softmax(log p) = p, so CE = -log p[target]
    targets = torch.tensor([[[0, 255]], [[1, 0]]])
    conf = torch.tensor([[[0.0, 0.0]], [[0.9, 0.6]]])
    is_pseudo = torch.tensor([False, True])
    return logits, targets, conf, is_pseudo


def test_mixed_batch_loss_value_and_normaliser():
    logits, targets, conf, is_pseudo = _mixed_batch()
    out = dynamic_loss(logits, targets, conf, is_pseudo, gamma1=2, gamma2=2)
    # Three non-ignored pixels in the whole batch (a, c, d); a weighs 1, c 0.75^2, d 0.
    expected = (-math.log(0.8) + 0.5625 * -math.log(0.75)) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.valid_elements == 3
    assert float(out.mean_weight) == pytest.approx(0.5625 / 2)
    assert float(out.disagreement) == pytest.approx(0.5)


def test_weights_are_detached_from_the_graph():
    logits, targets, conf, is_pseudo = _mixed_batch()
    dynamic_loss(logits, targets, conf, is_pseudo, gamma1=2, gamma2=2).loss.backward()
    g = logits.grad
    # d CE / d logits = p - onehot; pixel c: 0.5625 / 3 * ([0.25, 0.75] - [0, 1]). Were the
    # weight p^2 differentiated too, an extra term would appear.
    assert g[1, :, 0, 0].tolist() == pytest.approx([0.046875, -0.046875])
    assert g[1, :, 0, 1].tolist() == [0.0, 0.0]  # positive disagreement
    assert g[0, :, 0, 1].tolist() == [0.0, 0.0]  # ignored
    assert g[0, :, 0, 0].tolist() == pytest.approx([-0.2 / 3, 0.2 / 3])  # labeled, weight 1


def test_all_labeled_batch_is_plain_cross_entropy():
    logits, targets, conf, _ = _mixed_batch()
    out = dynamic_loss(logits, targets, conf, torch.tensor([False, False]), 5, 5)
    expected = (-math.log(0.8) - math.log(0.75) - math.log(0.25)) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- classification


def test_gamma_ascends_from_near_zero_to_gamma_max():
    # gamma(t) = gamma_max * exp(-5 (1 - t / T)^2): the paper's text lost the minus sign.
    assert ascending_gamma(4.0, 0, 100) == pytest.approx(4 * math.exp(-5))
    assert ascending_gamma(4.0, 50, 100) == pytest.approx(4 * math.exp(-1.25))
    assert ascending_gamma(4.0, 100, 100) == pytest.approx(4.0)
    values = [ascending_gamma(4.0, t, 100) for t in range(101)]
    assert values == sorted(values)
    with pytest.raises(ValueError):
        ascending_gamma(4.0, 0, 0)


def test_mixup_mixes_images_and_weights_with_one_permutation():
    images = torch.tensor([[0.0], [10.0], [100.0]]).view(3, 1, 1, 1)
    weights = torch.tensor([1.0, 0.5, 0.0])
    perm = torch.tensor([2, 0, 1])
    mixed, w = mix(images, weights, 0.75, perm)
    assert mixed.flatten().tolist() == pytest.approx([25.0, 7.5, 77.5])  # .75 x + .25 x[perm]
    assert w.tolist() == pytest.approx([0.75, 0.625, 0.125])


def test_mixup_loss_weighs_both_halves_by_the_mixed_weight():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.8, 0.2]]))
    targets = torch.tensor([0, 1])
    perm = torch.tensor([1, 0])
    weights = torch.tensor([1.0, 0.5])
    lam = 0.75
    # sample 0: 0.75 CE(y=0) + 0.25 CE(y=1) = -log .5; sample 1: 0.75 (-log .2) + 0.25 (-log .8)
    expected = (1.0 * -math.log(0.5) + 0.5 * (0.75 * -math.log(0.2) + 0.25 * -math.log(0.8))) / 2
    assert mixup_loss(logits, targets, weights, lam, perm).item() == pytest.approx(expected, rel=1e-5)


def test_sample_weights_follow_eq6_for_pseudo_and_are_one_for_labeled():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    targets = torch.tensor([0, 0, 1, 1])
    conf = torch.tensor([0.8, 0.5, 0.9, 1.0])
    is_pseudo = torch.tensor([True, True, True, False])
    w = sample_weights(probs, targets, conf, is_pseudo, gamma1=2, gamma2=3)
    # agree: .9^2; student wins (.7 > .5): 0; student .6 < teacher .9: p(teacher class) .4^3; labeled 1
    assert w.tolist() == pytest.approx([0.81, 0.0, 0.064, 1.0])


def test_online_pseudo_labels_keep_the_students_confident_argmax_on_unlabeled_samples():
    from dmt.training.losses import online_pseudo_labels

    # 2 samples x 2 classes x 1 x 3 pixels; sample 1 is unlabeled
    logits = torch.tensor([[[[4.0, 0.0, 0.0]], [[0.0, 4.0, 0.0]]],
                           [[[3.0, 0.0, 0.1]], [[0.0, 2.0, 0.0]]]])
    # softmax of (3, 0): 0.953; of (0, 2): 0.881; of (0.1, 0): 0.525
    targets = torch.tensor([[[1, 255, 0]], [[255, 255, 255]]])
    out = online_pseudo_labels(logits, targets, torch.tensor([False, True]), 0.9)
    assert out.tolist() == [[[1, 255, 0]], [[0, 255, 255]]]
    assert online_pseudo_labels(logits, targets, torch.tensor([False, True]), 0.5).tolist() == \
        [[[1, 255, 0]], [[0, 1, 0]]]
    # exactly at the threshold is not above it
    tie = torch.log(torch.tensor([[[[0.9]], [[0.1]]]]))
    assert online_pseudo_labels(tie, torch.tensor([[[255]]]), torch.tensor([True]), 0.9).item() == 255


def test_weight_histogram_counts_masked_weights_with_a_bin_for_zero():
    from dmt.training.losses import WeightHistogram

    hist = WeightHistogram(torch.device("cpu"))
    weights = torch.tensor([[0.0, 0.01, 0.04, 0.5], [0.97, 1.0, 0.3, 0.0]])
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    hist.add(weights, mask)
    hist.add(torch.tensor([0.5]), torch.tensor([True]))
    summary = hist.summary()
    assert summary["zero"] == 1  # the second 0.0 is masked out, like the 0.3
    assert len(summary["counts"]) == WeightHistogram.BINS and len(summary["edges"]) == WeightHistogram.BINS + 1
    expected = [0] * WeightHistogram.BINS
    expected[0], expected[9], expected[19] = 2, 2, 2  # (0, .05]: .01 .04; (.45, .5]: .5 twice; (.95, 1]
    assert summary["counts"] == expected
    restored = WeightHistogram(torch.device("cpu"))
    restored.load(hist.state())
    assert restored.summary() == summary
