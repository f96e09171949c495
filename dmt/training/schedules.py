"""Learning-rate and gamma schedules over a run's steps, chosen by name from ``SCHEDULES``."""

from __future__ import annotations

import math

from dmt.training.losses import ascending_gamma


def poly_lr(base_lr: float, step: int, total: int, power: float) -> float:
    return base_lr * (1 - step / total) ** power


def cosine_lr(base_lr: float, step: int, total: int) -> float:
    """Cosine annealing to 0 over the run (torch's CosineAnnealingLR, eta_min 0)."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total))


# spec.schedule -> lr at a step; poly is the segmentation code's, cosine classification's.
SCHEDULES = {
    "poly": lambda spec, step, total: poly_lr(spec.lr, step, total, spec.poly_power),
    "cosine": lambda spec, step, total: cosine_lr(spec.lr, step, total),
}


def gammas(spec, step: int, total: int) -> tuple[float, float]:
    """(gamma1, gamma2) at a step: constant, or ascending along training (``gamma_ramp``)."""
    ramp = ascending_gamma(1.0, step, total) if spec.gamma_ramp else 1.0
    return spec.gamma1 * ramp, spec.gamma2 * ramp
