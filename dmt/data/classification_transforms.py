"""Training transforms of classification (randomness from torch only: the training loop seeds
torch per sample): pad-and-crop, flip, RandAugment, Cutout, per data set."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import is_pure_tensor, query_size

# Per data set: RandomCrop padding, horizontal flip, Cutout side (DeVries & Taylor use 16 on CIFAR).
AUGMENT = {"cifar10": {"pad": 4, "flip": True, "cutout": 16},
           # 8x8 digits: a 1-pixel shift and a 3x3 hole are the CIFAR recipe's 4 and 16 of 32, scaled.
           "digits_cls": {"pad": 1, "flip": False, "cutout": 3},
           # 32x32 glyph images: CIFAR's own sizes; no flip, a mirrored digit is another glyph.
           "digits_glyphs": {"pad": 4, "flip": False, "cutout": 16}}




class PadRandomCrop(v2.Transform):
    """RandomCrop back to the input's own size after padding each side by ``pad`` with ``fill``."""

    def __init__(self, pad: int, fill: int = 128):
        super().__init__()
        self.pad, self.fill = pad, fill

    def make_params(self, flat_inputs):
        h, w = query_size(flat_inputs)
        return {"size": (h, w), "top": int(torch.randint(0, 2 * self.pad + 1, ())),
                "left": int(torch.randint(0, 2 * self.pad + 1, ()))}

    def transform(self, inpt, params):
        if self.pad == 0:
            return inpt
        h, w = params["size"]
        padded = F.pad(inpt, [self.pad], fill=self.fill)
        return F.crop(padded, params["top"], params["left"], h, w)


class RandomRandAugment(v2.RandAugment):
    """RandAugment with ``num_ops`` (1) operation per sample at a magnitude drawn uniformly per
    sample from 1..``max_magnitude`` of ``max_magnitude`` + 1 bins (0 = none), i.e. 10% to 100%
    of each operation's range: "one augmentation operation with random intensity at each step".
    Operations and ranges are torchvision's (Identity, shears, translations, rotation, colour,
    contrast, brightness, sharpness, posterize, solarize, autocontrast, equalize)."""

    def __init__(self, num_ops: int = 1, max_magnitude: int = 10, interpolation="nearest", fill=128):
        if max_magnitude < 1:
            raise ValueError(f"max_magnitude must be >= 1, not {max_magnitude}")
        super().__init__(num_ops=num_ops, magnitude=max_magnitude, num_magnitude_bins=max_magnitude + 1,
                         interpolation=interpolation, fill=fill)
        self.max_magnitude = max_magnitude

    def forward(self, *inputs):
        # RandAugment reads self.magnitude once per call; set it for this sample first.
        self.magnitude = int(torch.randint(1, self.max_magnitude + 1, ()))
        return super().forward(*inputs)


def cutout(image: torch.Tensor, length: int, cy: int, cx: int, fill: int = 0) -> torch.Tensor:
    """A copy of ``image`` [..., H, W] with the ``length`` x ``length`` square centred at (cy, cx)
    (top-left at cy - length // 2, cx - length // 2), clipped at the borders, set to ``fill``."""
    h, w = image.shape[-2:]
    y0, x0 = cy - length // 2, cx - length // 2
    out = image.clone()
    out[..., max(y0, 0):min(y0 + length, h), max(x0, 0):min(x0 + length, w)] = fill
    return out


class Cutout(v2.Transform):
    """One square hole of side ``length`` at a uniformly random centre, clipped at the borders,
    filled with ``fill`` (DeVries & Taylor 2017, who zero it after normalisation)."""

    _transformed_types = (tv_tensors.Image, is_pure_tensor)

    def __init__(self, length: int, fill: int = 0):
        super().__init__()
        self.length, self.fill = length, fill

    def make_params(self, flat_inputs):
        h, w = query_size(flat_inputs)
        return {"cy": int(torch.randint(0, h, ())), "cx": int(torch.randint(0, w, ()))}

    def transform(self, inpt, params):
        if self.length <= 0:
            return inpt
        return cutout(inpt, self.length, params["cy"], params["cx"], self.fill)


class ImageOnly:
    """Applies an image transform to an item's image; everything else passes through untouched,
    whatever v2's heuristics would make of the 0-d target / conf tensors."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, item):
        if isinstance(item, Mapping):
            out = dict(item)
            out["image"] = self.transform(item["image"])
            return out
        return self.transform(item)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform!r})"


def classification_train_transform(pad: int, flip: bool, cutout: int, randaugment: bool = True) -> ImageOnly:
    """Pad-and-crop (fill 128), optional horizontal flip, RandomRandAugment, Cutout(cutout), on an
    item dict or a uint8 image [3, H, W]; the image keeps its size and dtype."""
    steps = [PadRandomCrop(pad, fill=128)] if pad > 0 else []
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    if randaugment:
        steps.append(RandomRandAugment())
    if cutout > 0:
        steps.append(Cutout(cutout))
    return ImageOnly(v2.Compose(steps) if steps else v2.Identity())
