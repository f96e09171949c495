"""Building, describing and rebuilding the models of ``MODELS`` (torch)."""

from __future__ import annotations

import torch

from dmt.models.catalog import PRETRAINED, check_options, parse_weights
from dmt.models.deeplab_v2 import DeepLabV2, Normalize
from dmt.models.small import SmallDeepLab
from dmt.models.wide_resnet import wrn_10_2, wrn_28_2

MODELS = {"small_deeplab": SmallDeepLab, "deeplab_v2": DeepLabV2, "wrn_28_2": wrn_28_2, "wrn_10_2": wrn_10_2}


def _construct(name: str, num_classes: int, init: str, options: dict | None = None) -> torch.nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    options = check_options(name, options or {})
    return MODELS[name](num_classes, init=init, **options) if name in PRETRAINED else MODELS[name](num_classes)


def build_model(name: str, num_classes: int, seed: int, weights: str = "scratch",
                options: dict | None = None) -> torch.nn.Module:
    """Build ``name`` with its parameters drawn from ``seed`` (different seeds -> different inits).

    ``weights``: ``scratch``; for deeplab_v2 also ``imagenet:/path/to/resnet101_state_dict.pth``
    (a local torchvision ResNet-101 state dict) or ``coco:/path/to/converted.pt`` (written by
    ``python -m dmt convert-coco``). Nothing is downloaded. ``options``: architecture options
    (``OPTIONS``), e.g. ``{"aspp": "paper"}`` for deeplab_v2.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    kind, path = parse_weights(name, weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _construct(name, num_classes, kind, options)
    if kind == "imagenet":
        model.load_imagenet_backbone(path)
    elif kind == "coco":
        model.load_coco(path)
    return model


def model_meta(name: str, num_classes: int, weights: str, options: dict | None = None) -> dict:
    """What a saved model records so that ``rebuild`` makes the same architecture."""
    meta = {"model": name, "num_classes": num_classes, "init": parse_weights(name, weights)[0]}
    if options:
        meta["options"] = check_options(name, options)
    return meta


def rebuild(meta: dict) -> torch.nn.Module:
    """The architecture a checkpoint's ``meta`` describes (weights to be loaded by the caller)."""
    return _construct(meta["model"], meta["num_classes"], meta.get("init", "scratch"), meta.get("options"))


def input_normalization(model: torch.nn.Module) -> dict:
    """What ``model`` does to the raw 0-255 RGB images it takes before its first layer (it does so
    itself; the init decides it, e.g. Caffe's BGR mean for COCO weights): the channel order, then
    (x - mean) / std per channel in that order, in 0-255 units. For people using the weights elsewhere."""
    norm = getattr(model, "normalize", None)
    if isinstance(norm, Normalize):  # deeplab_v2: per init
        order, mean, std = ("bgr" if norm.bgr else "rgb"), norm.mean / norm.scale, norm.std / norm.scale
    else:  # small_deeplab, wrn_*: mean and std buffers already in 0-255 units
        order, mean, std = "rgb", model.mean, model.std
    return {"channels": order, "mean": [round(float(v), 4) for v in mean.flatten()],
            "std": [round(float(v), 4) for v in std.flatten()]}
