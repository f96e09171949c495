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


def train_transform(crop_size: tuple[int, int], scale_range: tuple[float, float] = (0.5, 1.5)):
    return v2.Compose([
        RandomScale(scale_range),
        # Padding: image 0, label 255 (ignored, so the confidence padded there is never read).
        v2.RandomCrop(crop_size, pad_if_needed=True,
                      fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
        v2.RandomHorizontalFlip(),
    ])
