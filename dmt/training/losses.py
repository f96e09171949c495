"""The dynamic loss (paper Eq. 6, 7, 9, 10) and its ablation variants (paper Section 5.4).

Semantics follow the authors' implementation where it is sharper than the paper:

* the weights come from the student's softmax **detached** from the graph;
* agreement (student argmax == pseudo label): ``p_student(pseudo class) ** gamma1``;
* disagreement with the student's confidence **strictly greater** than the stored pseudo-label
  confidence: 0 ("positive disagreement": the pseudo label is probably wrong);
* any other disagreement, ties included: ``p_student(pseudo class) ** gamma2``;
* ignored pixels (label 255) weigh 0, labeled samples weigh 1;
* the loss is ``sum(weight * CE) / (non-ignored pixels of the whole batch)``.

Variants of the same family (selected by ``variant``):

* ``"dmt"``: Eq. 6 as above;
* ``"naive"`` (DMT-Naive): ``p_student(pseudo class) ** gamma1`` everywhere, no case split;
* ``"flip"`` (DMT-Flip): in the positive-disagreement case the target becomes the student's own
  prediction, weighted ``(1 - c_teacher) ** gamma2``;
* ``"ce"``: plain cross-entropy, every non-ignored pixel weighs 1 (CBST, baselines). It is the
  naive rule at gamma = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dmt import IGNORE_INDEX

VARIANTS = ("dmt", "naive", "flip", "ce")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown loss variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def dynamic_targets_and_weights(
    probs: torch.Tensor,
    pseudo_labels: torch.Tensor,
    pseudo_conf: torch.Tensor,
    gamma1: float,
    gamma2: float,
    ignore_index: int = IGNORE_INDEX,
    variant: str = "dmt",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets and per-element weights for pseudo-labeled samples.

    ``probs`` is the student's softmax, [N, C] or [N, C, H, W]; ``pseudo_labels`` and
    ``pseudo_conf`` have the shape of ``probs`` without the class axis. Targets equal the pseudo
    labels except under ``variant="flip"``. Weights are 0 wherever the pseudo label is ignored.
    """
    _check_variant(variant)
    if probs.dim() < 2 or probs.shape[:1] + probs.shape[2:] != pseudo_labels.shape:
        raise ValueError(
            f"probs {tuple(probs.shape)} must be [N, C, ...] matching pseudo_labels "
            f"{tuple(pseudo_labels.shape)} without the class axis"
        )
    if pseudo_conf.shape != pseudo_labels.shape:
        raise ValueError(
            f"pseudo_conf {tuple(pseudo_conf.shape)} must match pseudo_labels {tuple(pseudo_labels.shape)}"
        )
    probs = probs.detach().float()
    labels = pseudo_labels.long()
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
    # Probability the student gives the teacher's class.
    p_pseudo = probs.gather(1, safe_labels.unsqueeze(1)).squeeze(1)

    if variant in ("naive", "ce"):
        gamma = 0.0 if variant == "ce" else gamma1
        weights = p_pseudo.pow(gamma)
        return labels, torch.where(valid, weights, torch.zeros_like(weights))

    student_conf, student_label = probs.max(dim=1)
    teacher_conf = pseudo_conf.detach().float()
    agree = student_label == labels
    student_wins = (~agree) & (student_conf > teacher_conf)

    weights = torch.where(agree, p_pseudo.pow(gamma1), p_pseudo.pow(gamma2))
    targets = labels
    if variant == "dmt":
        weights = torch.where(student_wins, torch.zeros_like(weights), weights)
    else:  # flip
        weights = torch.where(student_wins, (1.0 - teacher_conf).pow(gamma2), weights)
        targets = torch.where(student_wins & valid, student_label, labels)
    weights = torch.where(valid, weights, torch.zeros_like(weights))
    return targets, weights


def dynamic_weights(
    probs: torch.Tensor,
    pseudo_labels: torch.Tensor,
    pseudo_conf: torch.Tensor,
    gamma1: float,
    gamma2: float,
    ignore_index: int = IGNORE_INDEX,
    variant: str = "dmt",
) -> torch.Tensor:
    """Per-element dynamic weights (Eq. 6), same shape as ``pseudo_labels``; 0 where ignored."""
    return dynamic_targets_and_weights(
        probs, pseudo_labels, pseudo_conf, gamma1, gamma2, ignore_index, variant
    )[1]


@dataclass
class LossOutput:
    """The loss and its statistics, as device tensors: reading them is a host sync, which the
    training loop does once per logging interval, not per step."""

    loss: torch.Tensor
    mean_weight: torch.Tensor  # mean dynamic weight over non-ignored pseudo-labeled elements
    disagreement: torch.Tensor  # fraction of those where student != pseudo label
    valid_elements: torch.Tensor  # denominator: non-ignored elements of the whole batch
    weight_map: torch.Tensor | None = None  # dynamic weights (pseudo elements where pseudo_mask)
    pseudo_mask: torch.Tensor | None = None

    @property
    def pseudo_weights(self) -> torch.Tensor | None:
        """Weights of the non-ignored pseudo elements (a host sync: for histograms)."""
        if self.weight_map is None or not bool(self.pseudo_mask.any()):
            return None
        return self.weight_map[self.pseudo_mask]


class WeightHistogram:
    """Counts of the dynamic weights of a run's non-ignored pseudo-labeled elements (what the
    report plots): one bin for weights of exactly 0 (under ``dmt``: disagreements where the
    student is the more confident, which the loss drops), then ``BINS`` equal bins over (0, 1].

    Counted on the device with integer adds, so a step costs no host sync and counts are exact;
    the training loop reads them only at checkpoints and at the end.
    """

    BINS = 20

    def __init__(self, device, world=None):
        # The last slot collects the elements outside the mask; it is never reported.
        self.counts = torch.zeros(self.BINS + 2, dtype=torch.int64, device=device)
        self.world = world  # dmt.training.distributed.World: state() sums over its ranks

    def add(self, weights: torch.Tensor, mask: torch.Tensor) -> None:
        """Count ``weights`` where ``mask`` (same shape) is true."""
        bins = torch.ceil(weights.detach().float() * self.BINS).clamp_(0, self.BINS).long()
        bins = torch.where(mask, bins, self.BINS + 1).reshape(-1)
        self.counts.scatter_add_(0, bins, torch.ones_like(bins))

    def state(self) -> list[int]:
        if self.world is not None and self.world.size > 1:  # a collective: every rank calls it
            from dmt.training.distributed import all_sum

            return all_sum(self.counts[:-1].clone(), self.world).tolist()
        return self.counts[:-1].tolist()

    def load(self, state: list[int]) -> None:
        self.counts[:-1] = torch.tensor(state, dtype=torch.int64)

    def summary(self) -> dict:
        """``zero``: weights of exactly 0; ``counts[k]``: weights in (edges[k], edges[k + 1]]."""
        state = self.state()
        return {"zero": state[0], "counts": state[1:],
                "edges": [k / self.BINS for k in range(self.BINS + 1)]}


def dynamic_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pseudo_conf: torch.Tensor,
    is_pseudo: torch.Tensor,
    gamma1: float,
    gamma2: float,
    variant: str = "dmt",
    ignore_index: int = IGNORE_INDEX,
) -> LossOutput:
    """The loss of a mixed batch (Eq. 10): labeled samples weigh 1, pseudo samples per Eq. 6.

    ``logits`` is [N, C, ...]; ``targets`` [N, ...] holds ground truth for labeled samples and
    pseudo labels for the others; ``pseudo_conf`` [N, ...] the teacher's stored confidence
    (ignored on labeled samples); ``is_pseudo`` [N] bool marks the pseudo-labeled samples (pass
    it on the CPU to spare a device sync).
    """
    has_pseudo = bool(is_pseudo.any())
    targets = targets.long()
    is_pseudo = is_pseudo.to(device=logits.device, dtype=torch.bool)
    expand = is_pseudo.view(-1, *([1] * (targets.dim() - 1))).expand_as(targets)
    valid = targets != ignore_index
    n_valid = valid.sum()
    zero = logits.new_zeros((), dtype=torch.float32)

    if has_pseudo:
        probs = logits.detach().float().softmax(dim=1)
        p_targets, p_weights = dynamic_targets_and_weights(
            probs, targets, pseudo_conf, gamma1, gamma2, ignore_index, variant
        )
        pseudo_valid = expand & valid
        n_pseudo = pseudo_valid.sum().clamp_min(1)
        mean_weight = torch.where(pseudo_valid, p_weights, zero).sum() / n_pseudo
        disagreement = ((probs.argmax(1) != targets) & pseudo_valid).sum() / n_pseudo
        weights = torch.where(expand, p_weights, valid.float())
        targets = torch.where(expand, p_targets, targets)
        weight_map, pseudo_mask = p_weights, pseudo_valid
    else:
        weights = valid.float()
        mean_weight = disagreement = zero
        weight_map = pseudo_mask = None

    ce = F.cross_entropy(logits.float(), targets, ignore_index=ignore_index, reduction="none")
    loss = (weights * ce).sum() / n_valid.clamp_min(1)
    return LossOutput(loss, mean_weight, disagreement, n_valid, weight_map, pseudo_mask)


def online_pseudo_labels(logits: torch.Tensor, targets: torch.Tensor, is_pseudo: torch.Tensor,
                         threshold: float, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Online self-training's targets (paper Section 5.4): on the unlabeled samples (``is_pseudo``)
    the student's own argmax where its maximum probability is strictly above ``threshold``, else
    ignored; labeled samples keep their ground truth. Computed from the training forward pass,
    detached: no second pass, no gradient through the labels."""
    with torch.no_grad():
        conf, label = logits.detach().float().softmax(dim=1).max(dim=1)
        own = torch.where(conf > threshold, label, torch.full_like(label, ignore_index))
    mask = is_pseudo.to(device=targets.device, dtype=torch.bool).view(-1, *([1] * (targets.dim() - 1)))
    return torch.where(mask, own, targets.long())


def ascending_gamma(gamma_max: float, step: int, total_steps: int) -> float:
    """Classification's gamma schedule (Section 4.2.1): ``gamma_max * exp(-5 (1 - t / T)^2)``.

    The paper's text lost the minus sign; with it, as in the original code, gamma starts near 0
    (weights near 1: a student re-initialised from scratch trusts the pseudo labels fully) and
    rises to ``gamma_max`` at the last step.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    return gamma_max * math.exp(-5.0 * (1.0 - step / total_steps) ** 2)


def mix(images: torch.Tensor, weights: torch.Tensor, lam: float, perm: torch.Tensor):
    """mixup of a batch with a permutation of itself, the dynamic weights mixed alike.

    Returns ``(lam * x + (1 - lam) * x[perm], lam * w + (1 - lam) * w[perm])``; the targets stay
    unmixed and enter the loss as a pair (``mixup_loss``).
    """
    images = images.float()
    return lam * images + (1 - lam) * images[perm], lam * weights + (1 - lam) * weights[perm]


def mixup_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, lam: float,
               perm: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``sum(w_mixed * (lam CE(y) + (1 - lam) CE(y[perm]))) / N`` as in the original: the mixed
    weight multiplies both halves of the mixed cross-entropy."""
    ce_a = F.cross_entropy(logits.float(), targets, ignore_index=ignore_index, reduction="none")
    ce_b = F.cross_entropy(logits.float(), targets[perm], ignore_index=ignore_index, reduction="none")
    valid = (targets != ignore_index) & (targets[perm] != ignore_index)
    return (weights * (lam * ce_a + (1 - lam) * ce_b)).sum() / valid.sum().clamp_min(1)


def sample_weights(probs: torch.Tensor, targets: torch.Tensor, pseudo_conf: torch.Tensor,
                   is_pseudo: torch.Tensor, gamma1: float, gamma2: float, variant: str = "dmt",
                   ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-sample weights of a mixed classification batch: Eq. 6 for pseudo-labeled samples,
    1 for labeled ones (0 where ignored). ``probs`` are the student's, from un-mixed images."""
    weights = dynamic_weights(probs, targets, pseudo_conf, gamma1, gamma2, ignore_index, variant)
    is_pseudo = is_pseudo.to(weights.device).view(-1, *([1] * (weights.dim() - 1)))
    return torch.where(is_pseudo, weights, (targets != ignore_index).float())
