"""Model registry. Every model takes raw RGB images (uint8 or float in 0-255, [N, 3, H, W]) and
returns logits at the input resolution: normalisation belongs to the model's init (ImageNet and
Caffe-converted COCO weights expect different inputs), not to the data pipeline."""

from __future__ import annotations

import torch

from dmt.models.deeplab_v2 import DeepLabV2
from dmt.models.small import SmallDeepLab

MODELS = {"small_deeplab": SmallDeepLab, "deeplab_v2": DeepLabV2}


def build_model(name: str, num_classes: int, seed: int, weights: str = "scratch") -> torch.nn.Module:
    """Build ``name`` with its parameters drawn from ``seed`` (different seeds -> different inits).

    ``weights``: ``scratch``, or for deeplab_v2 ``imagenet:/path/to/resnet101_state_dict.pth``
    (a local torchvision ResNet-101 state dict; nothing is downloaded).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    kind, _, path = weights.partition(":")
    if kind not in ("scratch", "imagenet") or (kind == "imagenet") != bool(path) \
            or (kind == "imagenet" and name != "deeplab_v2"):
        raise ValueError(f"weights {weights!r} for model {name!r}: use 'scratch'"
                         + (" or 'imagenet:/path/to/resnet101.pth'" if name == "deeplab_v2" else ""))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MODELS[name](num_classes)
    if kind == "imagenet":
        model.load_imagenet_backbone(path)
    return model
