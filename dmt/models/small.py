"""A DeepLab-v2-shaped network small enough to train on a laptop CPU in minutes.

Same structure as the paper's model at a fraction of the size: a strided stem to output stride 4,
residual blocks whose dilation grows instead of the resolution shrinking, and an ASPP head of four
3x3 branches at increasing rates whose class logits are summed, upsampled bilinearly.

``SmallClassifier`` is the same backbone under a pooled linear head: pre-trained as a classifier,
its backbone initialises a SmallDeepLab (``weights: backbone:FILE``), as ImageNet weights do the
paper's DeepLab-v2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _DilatedBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return F.relu(x + self.body(x))


def _normalisation(model: nn.Module) -> None:
    model.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
    model.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)


def _backbone(width: int) -> nn.Sequential:
    return nn.Sequential(
        _conv_bn(3, 32, stride=2),
        _conv_bn(32, 32),
        _conv_bn(32, width, stride=2),
        _DilatedBlock(width, 1),
        _DilatedBlock(width, 2),
        _DilatedBlock(width, 4),
    )


class SmallDeepLab(nn.Module):
    def __init__(self, num_classes: int, width: int = 64, rates=(1, 2, 4, 6)):
        super().__init__()
        _normalisation(self)
        self.backbone = _backbone(width)
        self.aspp = nn.ModuleList(
            nn.Conv2d(width, num_classes, 3, padding=r, dilation=r) for r in rates
        )

    def head_parameters(self):
        return self.aspp.parameters()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
        features = self.backbone(x)
        logits = sum(branch(features) for branch in self.aspp)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


class SmallClassifier(nn.Module):
    """SmallDeepLab's backbone, global average pooling and a linear layer: logits [N, C]."""

    def __init__(self, num_classes: int, width: int = 64):
        super().__init__()
        _normalisation(self)
        self.backbone = _backbone(width)
        self.head = nn.Linear(width, num_classes)

    def head_parameters(self):
        return self.head.parameters()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
        return self.head(self.backbone(x).mean((2, 3)))
