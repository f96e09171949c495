"""``TrainSpec``: a training job's hyper-parameters.

The spec stays one flat dataclass because its fields are the on-disk job spec (``hyper`` of
``dmt.jobs``) and its ``asdict`` is what the fingerprint and the saved model record; ``GROUPS``
says which part of the run each field configures, (a test checks that it covers every field once).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from dmt.training.losses import VARIANTS
from dmt.training.schedules import SCHEDULES

RUNTIME_FIELDS = {"checkpoint_every", "log_every", "num_workers"}

# Field order in the class is that of the saved specs; this is the grouping.
GROUPS = {
    "optimisation": ("epochs", "lr", "batch_size", "seed", "optimizer", "momentum", "weight_decay",
                     "poly_power", "head_lr_mult", "schedule", "amp"),
    "segmentation": ("crop_size", "scale_range"),
    "method": ("pseudo_per_batch", "gamma1", "gamma2", "loss_variant", "online_threshold"),
    "classification": ("mixup_alpha", "gamma_ramp", "ema_decay"),
    "runtime": tuple(sorted(RUNTIME_FIELDS)),  # may change across a resume
}


@dataclass
class TrainSpec:
    epochs: int
    lr: float
    batch_size: int
    seed: int
    crop_size: tuple[int, int] | None = None  # segmentation: the random crop of training
    pseudo_per_batch: int = 0
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    head_lr_mult: float = 1.0
    gamma1: float = 0.0
    gamma2: float = 0.0
    loss_variant: str = "dmt"
    scale_range: tuple[float, float] = (0.5, 1.5)
    checkpoint_every: int = 200
    log_every: int = 10
    num_workers: int = 0
    amp: bool = True
    schedule: str = "poly"  # a key of SCHEDULES
    mixup_alpha: float = 0.0  # Beta(a, a) mixup within the batch; 0 = off
    gamma_ramp: bool = False  # gamma * exp(-5 (1 - t/T)^2) instead of constant gamma
    ema_decay: float = 0.0  # > 0: keep an EMA of the weights; it is evaluated and saved
    # > 0: online self-training: the unlabeled part of each batch is labelled by the student's own
    # argmax where its max probability exceeds this, recomputed at every step
    online_threshold: float = 0.0

    def __post_init__(self):
        self.crop_size = tuple(self.crop_size) if self.crop_size is not None else None
        self.scale_range = tuple(self.scale_range)
        # One check after the other, in this order, so that a spec with several faults is told
        # the same first one as before.
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.loss_variant not in VARIANTS:
            raise ValueError(f"loss_variant must be one of {VARIANTS}, got {self.loss_variant!r}")
        if not 0 <= self.pseudo_per_batch < self.batch_size:
            raise ValueError(f"pseudo_per_batch {self.pseudo_per_batch} must leave at least one "
                             f"labeled sample in a batch of {self.batch_size}")
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError("epochs must be >= 1 and lr > 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be {' or '.join(map(repr, SCHEDULES))}, got {self.schedule!r}")
        if self.mixup_alpha < 0 or not 0 <= self.ema_decay < 1:
            raise ValueError("mixup_alpha must be >= 0 and ema_decay in [0, 1)")
        if not 0 <= self.online_threshold < 1 or (self.online_threshold and self.mixup_alpha):
            raise ValueError("online_threshold must be in [0, 1) and cannot be combined with mixup")

    def fingerprint(self, *parts: str) -> str:
        """What the result depends on; runtime-only fields may change across a resume."""
        fields = {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
        blob = json.dumps([fields, *parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

