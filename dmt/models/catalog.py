"""What each model accepts, without torch: the planner reads it while the DAG is built, and every
``snakemake`` call would otherwise pay for importing torch and torchvision (about 3 s here), or
timm and segmentation-models-pytorch (about 8 s)."""

from __future__ import annotations

import re

# The heads of segmentation-models-pytorch that the ``smp_{head}`` models put over a timm encoder
# (dmt/models/smp_heads.py; README "Models").
SMP_HEADS = ("deeplabv3plus", "upernet", "segformer", "dpt")
SMP_MODELS = tuple(f"smp_{head}" for head in SMP_HEADS)

# Pretrained inits each model accepts, beside "scratch" and the two every model takes (TRANSFER).
PRETRAINED = {"deeplab_v2": ("imagenet", "coco"), "deeplabv3plus": ("imagenet",),
              "deeplabv3_resnet101": ("imagenet", "torchvision_coco"),
              **{name: ("timm",) for name in SMP_MODELS}}
# weights kind -> the top-level config key naming its local file: the plan resolves a bare kind to
# it, and an error about the file names the key, so the user knows what to change. (deeplab_v2's
# coco init reads the file convert-coco writes from coco_checkpoint.)
WEIGHT_KEYS = {"imagenet": "imagenet_checkpoint", "coco": "coco_checkpoint",
               "torchvision_coco": "deeplabv3_coco_checkpoint", "timm": "timm_checkpoint"}
# Inits from a model file this pipeline trained (the pretrain stage): ``model:FILE`` takes every
# weight of a model of the same architecture and classes (as COCO DeepLab-v2 is taken, head
# included); ``backbone:FILE`` takes the weights under ``backbone.`` only, the rest drawn from the
# seed (as an ImageNet backbone is taken).
TRANSFER = ("model", "backbone")

# timm encoders by the kind of feature maps smp needs. smp 0.6.0's CNN heads take hierarchical
# encoders (strided stages); its DPT takes a plain ViT. A patch-14 ViT (DINOv2) is built with
# 16-pixel patches (dmt/models/smp_heads.py says why), so DPT accepts patch 14 and 16.
VIT = re.compile(r"^tu-(vit|deit|eva)[a-z0-9_]*_patch1[46][a-z0-9_]*(\.[a-z0-9_]+)?$")
TU = re.compile(r"^tu-[a-z0-9_]+(\.[a-z0-9_]+)?$")


def encoder_problem(model: str, encoder) -> str | None:
    """What is expected of ``encoder`` for ``model`` where it is not that (None: acceptable).
    Names only: whether timm has the model is checked when it is built (dmt.models.smp_heads)."""
    if not isinstance(encoder, str) or not TU.match(encoder):
        return "a timm encoder with smp's 'tu-' prefix, e.g. tu-convnext_tiny"
    if model == "smp_dpt" and not VIT.match(encoder):
        return "a patch-16 or patch-14 ViT for smp_dpt, e.g. tu-vit_base_patch16_224 or tu-vit_base_patch14_dinov2"
    if model != "smp_dpt" and VIT.match(encoder):
        return f"a hierarchical (CNN-like) encoder for {model}, e.g. tu-convnext_tiny; a ViT takes smp_dpt"
    return None


# Architecture options each model takes (experiment config key -> accepted values, or a function
# saying what is expected of a value it does not accept).
OPTIONS = {"deeplab_v2": {"aspp": ("authors", "paper")},
           **{name: {"encoder": encoder_problem} for name in SMP_MODELS}}


def parse_weights(name: str, weights: str) -> tuple[str, str]:
    """``scratch`` or ``KIND:/path`` -> (kind, path); checked against what ``name`` accepts."""
    kind, _, path = weights.partition(":")
    accepted = (*PRETRAINED.get(name, ()), *TRANSFER)
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
        check = accepted.get(key)
        if callable(check):
            problem = check(name, value)
            if problem:
                raise ValueError(f"model {name!r}: option {key}={value!r}: expected {problem}")
        elif check is None or value not in check:
            known = "; ".join(f"{k}: {'/'.join(v) if not callable(v) else 'README Models'}"
                              for k, v in accepted.items()) or "none"
            raise ValueError(f"model {name!r} takes no option {key}={value!r} (options: {known})")
    return dict(options)
