"""Model registry. Every model takes raw RGB images (uint8 or float in 0-255, [N, 3, H, W]) and
returns logits at the input resolution: normalisation belongs to the model's init (ImageNet and
Caffe-converted COCO weights expect different inputs), not to the data pipeline."""

from __future__ import annotations

import torch

from dmt.models.small import SmallDeepLab

MODELS = {"small_deeplab": SmallDeepLab}


def build_model(name: str, num_classes: int, seed: int, weights: str = "scratch") -> torch.nn.Module:
    """Build ``name`` with its parameters drawn from ``seed`` (different seeds -> different inits)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    if weights != "scratch":
        raise ValueError(f"model {name!r} has no pretrained weights {weights!r}; use 'scratch'")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name](num_classes)
