"""Model registry. Every model takes raw RGB images (uint8 or float in 0-255, [N, 3, H, W]) and
returns logits: [N, C, H, W] at the input resolution (segmentation) or [N, C] (classification);
normalisation belongs to the model's init (ImageNet and Caffe-converted COCO weights expect
different inputs), not to the data pipeline."""

from __future__ import annotations

from dmt.models.catalog import OPTIONS, PRETRAINED, check_options, parse_weights

# The names below need torch: they are imported on first use (PEP 562), so that reading the
# catalog (the planner does, for every DAG) does not import torch.
_REGISTRY = ("MODELS", "build_model", "model_meta", "rebuild", "input_normalization")
__all__ = ["OPTIONS", "PRETRAINED", "check_options", "parse_weights", *_REGISTRY]


def __getattr__(name: str):
    if name in _REGISTRY:
        from dmt.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'dmt.models' has no attribute {name!r}")
