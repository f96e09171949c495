"""Building, describing and rebuilding the models of ``MODELS`` (torch)."""

from __future__ import annotations

import importlib

import torch

from dmt.models.catalog import PRETRAINED, SMP_HEADS, TRANSFER, check_options, parse_weights
from dmt.models.normalization import input_normalization  # noqa: F401 (re-exported by dmt.models)


def _lazy(module: str, attr: str, *args):
    """The constructor ``module.attr`` (or ``module.attr(*args)``), imported when first called:
    the DeepLabs on torchvision (and smp's heads) cost seconds of imports (torchvision pulls in
    torch._dynamo) that a job of a small CPU model never needs, and the demo runs dozens of jobs."""

    def build(*a, **kw):
        target = getattr(importlib.import_module(module), attr)
        return (target(*args) if args else target)(*a, **kw)

    build.__name__ = attr if not args else f"{attr}({', '.join(map(str, args))})"
    return build


MODELS = {"small_deeplab": _lazy("dmt.models.small", "SmallDeepLab"),
          "deeplab_v2": _lazy("dmt.models.deeplab_v2", "DeepLabV2"),
          "wrn_28_2": _lazy("dmt.models.wide_resnet", "wrn_28_2"),
          "wrn_10_2": _lazy("dmt.models.wide_resnet", "wrn_10_2"),
          "small_classifier": _lazy("dmt.models.small", "SmallClassifier"),
          "deeplabv3plus": _lazy("dmt.models.deeplab_v3", "DeepLabV3Plus"),
          "deeplabv3_resnet101": _lazy("dmt.models.deeplab_v3", "TorchvisionDeepLabV3"),
          **{f"smp_{head}": _lazy("dmt.models.smp_heads", "smp_model", head) for head in SMP_HEADS}}
# The method that loads each kind of pretrained weights from the user's file.
LOADERS = {"imagenet": "load_imagenet_backbone", "coco": "load_coco", "torchvision_coco": "load_torchvision_coco",
           "timm": "load_timm_encoder"}


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
    ``python -m dmt convert-coco``); deeplabv3plus ``imagenet:`` (the same torchvision file);
    deeplabv3_resnet101 ``imagenet:`` or ``torchvision_coco:/path/deeplabv3_resnet101_coco.pth``;
    ``smp_*`` ``timm:/path`` (the encoder's timm state dict); for every model ``model:FILE`` or
    ``backbone:FILE``, a model file of this pipeline (dmt.models.transfer). Nothing is downloaded.
    ``options``: architecture options (``OPTIONS``), e.g. ``{"aspp": "paper"}`` for deeplab_v2,
    ``{"encoder": "tu-convnext_tiny"}`` for smp_*.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    kind, path = parse_weights(name, weights)
    source, convention = None, kind
    if kind in TRANSFER:  # the student takes the source's input convention (model_meta records it)
        from dmt.models.transfer import load_source

        source, source_meta = load_source(path)
        convention = source_meta.get("init", "scratch")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _construct(name, num_classes, convention, options)
    if kind in LOADERS:
        getattr(model, LOADERS[kind])(path)
    elif source is not None:
        from dmt.models.transfer import transfer_weights

        transfer_weights(model, source, kind, path)
    return model


def model_meta(name: str, num_classes: int, weights: str, options: dict | None = None) -> dict:
    """What a saved model records so that ``rebuild`` makes the same architecture."""
    kind, path = parse_weights(name, weights)
    meta = {"model": name, "num_classes": num_classes, "init": kind}
    if kind in TRANSFER:  # rebuilt with the source's convention; the source named by its digest
        from dmt.models.transfer import source_meta

        source = source_meta(path)
        meta["init"] = source["init"]
        meta["transfer"] = {"kind": kind, "model": source["source_model"], "digest": source["digest"]}
    if options:
        meta["options"] = check_options(name, options)
    return meta


def rebuild(meta: dict) -> torch.nn.Module:
    """The architecture a checkpoint's ``meta`` describes (weights to be loaded by the caller)."""
    return _construct(meta["model"], meta["num_classes"], meta.get("init", "scratch"), meta.get("options"))
