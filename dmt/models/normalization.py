"""What a model does to its raw 0-255 RGB input before its first layer (its init decides it)."""

from __future__ import annotations

import torch

from dmt.models.deeplab_v2 import Normalize


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
