"""What a model does to its raw 0-255 RGB input before its first layer (its init decides it)."""

from __future__ import annotations

import torch
from torch import nn

# The torchvision-backed models' own normalisation layer (their init decides it). It lives here, not
# beside DeepLab-v2, so that describing a small model's input imports no torchvision.
NORMALIZATION = {
    # name: (channel order, scale, mean, std) applied to 0-255 RGB input
    "imagenet": ("rgb", 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "caffe": ("bgr", 1.0, (104.008, 116.669, 122.675), (1.0, 1.0, 1.0)),
}


class Normalize(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        if kind not in NORMALIZATION:
            raise ValueError(f"unknown normalisation {kind!r}; known: {', '.join(NORMALIZATION)}")
        order, scale, mean, std = NORMALIZATION[kind]
        self.bgr = order == "bgr"
        self.scale = scale
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.bgr:
            x = x.flip(1)
        return (x * self.scale - self.mean) / self.std


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
