"""DeepLab-v2 with a ResNet-101 backbone, the paper's segmentation model (Section 5.2.1).

torchvision's ResNet-101 with layer3/layer4 dilated instead of strided (output stride 8) and the
ASPP head of DeepLab-v2: four 3x3 convolutions at rates 6, 12, 18, 24 straight to class logits,
summed, then upsampled bilinearly to the input size. No multi-scale fusion, no CRF.

Input normalisation belongs to the init (DESIGN.md): ImageNet weights (torchvision) expect RGB
in 0-1 with ImageNet mean/std; the Caffe-converted COCO weights expect BGR in 0-255 minus the
Caffe mean with std 1.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models import resnet101

from dmt.errors import DMTError

ASPP_RATES = (6, 12, 18, 24)
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


class DeepLabV2(nn.Module):
    def __init__(self, num_classes: int, normalization: str = "imagenet"):
        super().__init__()
        self.normalize = Normalize(normalization)
        resnet = resnet101(weights=None, replace_stride_with_dilation=[False, True, True])
        self.backbone = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                      resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        self.aspp = nn.ModuleList(
            nn.Conv2d(2048, num_classes, 3, padding=r, dilation=r) for r in ASPP_RATES
        )
        for conv in self.aspp:  # DeepLab-v2's classifier init
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def head_parameters(self):
        return self.aspp.parameters()

    def load_imagenet_backbone(self, path) -> None:
        """Backbone weights from a local torchvision ``resnet101`` state dict (fc is dropped)."""
        path = Path(path)
        if not path.is_file():
            raise DMTError(f"ImageNet weights {path} do not exist (a torchvision resnet101 state dict)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise DMTError(f"cannot read ImageNet weights {path}: {e}") from e
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        mapped = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in names:
                mapped[f"{names.index(head)}.{rest}"] = value
        missing, unexpected = self.backbone.load_state_dict(mapped, strict=False)
        if missing or unexpected:
            raise DMTError(f"{path} is not a resnet101 state dict: {len(missing)} backbone weights "
                           f"missing (e.g. {missing[:2]}), {len(unexpected)} unexpected")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(self.normalize(images))
        logits = sum(branch(features) for branch in self.aspp)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
