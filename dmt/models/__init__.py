"""Model registry. Every model takes raw RGB images (uint8 or float in 0-255, [N, 3, H, W]) and
returns logits: [N, C, H, W] at the input resolution (segmentation) or [N, C] (classification);
normalisation belongs to the model's init (ImageNet and Caffe-converted COCO weights expect
different inputs), not to the data pipeline."""

from __future__ import annotations

import torch

from dmt.models.deeplab_v2 import DeepLabV2, Normalize
from dmt.models.small import SmallDeepLab
from dmt.models.wide_resnet import wrn_10_2, wrn_28_2

MODELS = {"small_deeplab": SmallDeepLab, "deeplab_v2": DeepLabV2, "wrn_28_2": wrn_28_2, "wrn_10_2": wrn_10_2}
# Pretrained inits each model accepts, beside "scratch".
PRETRAINED = {"deeplab_v2": ("imagenet", "coco")}
# Architecture options each model takes (experiment config key -> accepted values).
OPTIONS = {"deeplab_v2": {"aspp": ("authors", "paper")}}


def parse_weights(name: str, weights: str) -> tuple[str, str]:
    """``scratch`` or ``KIND:/path`` -> (kind, path); checked against what ``name`` accepts."""
    kind, _, path = weights.partition(":")
    accepted = PRETRAINED.get(name, ())
    if kind == "scratch" and not path:
        return kind, ""
    if kind not in accepted or not path:
        hint = "".join(f" or '{k}:/path/to/weights'" for k in accepted)
        raise ValueError(f"weights {weights!r} for model {name!r}: use 'scratch'{hint}")
    return kind, path


def check_options(name: str, options: dict) -> dict:
    """``options`` checked against what model ``name`` takes."""
    accepted = OPTIONS.get(name, {})
    for key, value in options.items():
        if key not in accepted or value not in accepted[key]:
            known = "; ".join(f"{k}: {'/'.join(v)}" for k, v in accepted.items()) or "none"
            raise ValueError(f"model {name!r} takes no option {key}={value!r} (options: {known})")
    return dict(options)


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
