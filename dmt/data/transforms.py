"""Joint image / label / confidence augmentation with torchvision.transforms.v2 (the original's
recipe: random scale 0.5-1.5, random crop zero-padded when smaller, horizontal flip).

Images stay uint8: normalisation belongs to the model's init. Labels and confidences are
tv_tensors.Mask, so v2 resizes them with nearest neighbour and flips/crops them with the image.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import query_size

from dmt import IGNORE_INDEX


class RandomScale(v2.Transform):
    """Resize the whole sample by one factor drawn uniformly from ``scale_range``."""

    def __init__(self, scale_range: tuple[float, float] = (0.5, 1.5)):
        super().__init__()
        self.scale_range = scale_range

    def make_params(self, flat_inputs):
        h, w = query_size(flat_inputs)
        lo, hi = self.scale_range
        s = lo + (hi - lo) * float(torch.rand(()))
        return {"size": [max(1, round(h * s)), max(1, round(w * s))]}

    def transform(self, inpt, params):
        return F.resize(inpt, params["size"], antialias=True)


class JointTransform:
    """Applies a v2 transform to a sample's image and to its label and confidence together.

    Label and confidence travel as the two channels of one float Mask: one nearest-neighbour
    resize, crop and flip instead of two, and v2 sees two tensors instead of the whole sample
    dict (its per-call dispatch was most of the CPU data time of the digits demo). Class ids
    (< 256) are exact in float32, and v2 resizes integer masks through float32 anyway, so the
    result is the same as transforming them one by one.
    """

    def __init__(self, transform: v2.Transform):
        self.transform = transform

    def __call__(self, item: dict) -> dict:
        target = item["target"].as_subclass(torch.Tensor)
        labels = torch.stack([target.float(), item["conf"].as_subclass(torch.Tensor).float()])
        image, labels = self.transform(item["image"], tv_tensors.Mask(labels))
        return {**item, "image": image, "target": tv_tensors.Mask(labels[0].to(target.dtype)),
                "conf": tv_tensors.Mask(labels[1])}


def train_transform(crop_size: tuple[int, int], scale_range: tuple[float, float] = (0.5, 1.5)):
    return JointTransform(v2.Compose([
        RandomScale(scale_range),
        # Padding: image 0, label 255 (ignored, so the confidence padded there is never read).
        v2.RandomCrop(crop_size, pad_if_needed=True,
                      fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
        v2.RandomHorizontalFlip(),
    ]))
