"""What each model accepts, without torch: the planner reads it while the DAG is built, and every
``snakemake`` call would otherwise pay for importing torch and torchvision (about 3 s here)."""

from __future__ import annotations

# Pretrained inits each model accepts, beside "scratch" and the two every model takes (TRANSFER).
PRETRAINED = {"deeplab_v2": ("imagenet", "coco")}
# Inits from a model file this pipeline trained (the pretrain stage): ``model:FILE`` takes every
# weight of a model of the same architecture and classes (as COCO DeepLab-v2 is taken, head
# included); ``backbone:FILE`` takes the weights under ``backbone.`` only, the rest drawn from the
# seed (as an ImageNet backbone is taken).
TRANSFER = ("model", "backbone")
# Architecture options each model takes (experiment config key -> accepted values).
OPTIONS = {"deeplab_v2": {"aspp": ("authors", "paper")}}


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
        if key not in accepted or value not in accepted[key]:
            known = "; ".join(f"{k}: {'/'.join(v)}" for k, v in accepted.items()) or "none"
            raise ValueError(f"model {name!r} takes no option {key}={value!r} (options: {known})")
    return dict(options)
