"""What one training step computes, as a strategy chosen once per run (``choose_step``).

Each strategy takes the model, a batch (``dmt.training.batches``) and the step's ``StepContext``
and returns the loss with its statistics (``LossOutput``); the loop does the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dmt import IGNORE_INDEX
from dmt.models.inference import autocast
from dmt.training.losses import (
    LossOutput,
    dynamic_loss,
    mix,
    mixup_loss,
    online_pseudo_labels,
    sample_weights,
)


@dataclass
class StepContext:
    spec: object  # TrainSpec
    step: int
    gammas: tuple[float, float]
    device: torch.device


def _forward(model, batch, ctx: StepContext) -> torch.Tensor:
    with autocast(ctx.device, ctx.spec.amp):
        return model(batch["image"])


def dynamic_step(model, batch, ctx: StepContext) -> LossOutput:
    """Eq. 10: labeled samples weigh 1, pseudo-labeled ones their dynamic weight (Eq. 6). Without
    pseudo-labeled samples in the batch this is the plain cross-entropy of a baseline."""
    logits = _forward(model, batch, ctx)
    return dynamic_loss(logits, batch["target"], batch["conf"], batch["is_pseudo"], *ctx.gammas,
                        ctx.spec.loss_variant)


def online_step(model, batch, ctx: StepContext) -> LossOutput:
    """Online self-training: the unlabeled samples take the student's own confident argmax of
    this very forward pass as their labels."""
    logits = _forward(model, batch, ctx)
    targets = online_pseudo_labels(logits, batch["target"], batch["is_pseudo"], ctx.spec.online_threshold)
    return dynamic_loss(logits, targets, batch["conf"], batch["is_pseudo"], *ctx.gammas,
                        ctx.spec.loss_variant)


def mixup_step(model, batch, ctx: StepContext) -> LossOutput:
    """One mixup step: dynamic weights from a no-grad pass of the student on the un-mixed images
    (as the original), then images and weights mixed with one permutation of the batch."""
    spec, device = ctx.spec, ctx.device
    images, targets, conf, is_pseudo = batch["image"], batch["target"], batch["conf"], batch["is_pseudo"]
    with torch.no_grad(), autocast(device, spec.amp):
        probs = model(images).float().softmax(dim=1)
    weights = sample_weights(probs, targets, conf, is_pseudo, *ctx.gammas, spec.loss_variant)
    rng = np.random.default_rng([spec.seed, ctx.step, 11])
    lam = float(rng.beta(spec.mixup_alpha, spec.mixup_alpha))
    lam = max(lam, 1 - lam)  # the un-permuted sample dominates: its weight is the one that matters
    perm = torch.from_numpy(rng.permutation(len(targets))).to(device)
    mixed, mixed_weights = mix(images, weights, lam, perm)
    with autocast(device, spec.amp):
        logits = model(mixed)
    loss = mixup_loss(logits, targets, mixed_weights, lam, perm)
    # Per element (image or pixel) of the pseudo-labeled samples, as dynamic_loss reports them.
    pseudo = is_pseudo.to(device).view(-1, *([1] * (targets.dim() - 1))) & (targets != IGNORE_INDEX)
    n_pseudo = pseudo.sum().clamp_min(1)
    mean_weight = torch.where(pseudo, weights, torch.zeros_like(weights)).sum() / n_pseudo
    disagreement = ((probs.argmax(1) != targets) & pseudo).sum() / n_pseudo
    return LossOutput(loss, mean_weight, disagreement, (targets != IGNORE_INDEX).sum(), weights, pseudo)


# The baseline and the pseudo-labeled fine-tuning share one loss: Eq. 10 reduces to the plain
# cross-entropy when no sample of the batch is pseudo-labeled.
STEPS = {"supervised": dynamic_step, "dynamic": dynamic_step, "online": online_step,
         "mixup_dynamic": mixup_step}


def choose_step(spec, has_pseudo: bool) -> str:
    """The strategy of a run, a key of ``STEPS`` (``TrainSpec`` excludes online with mixup)."""
    if spec.mixup_alpha:
        return "mixup_dynamic"
    if spec.online_threshold:
        return "online"
    return "dynamic" if has_pseudo else "supervised"
