"""WideResNet for CIFAR-10 classification, as in MixMatch and the DMT paper (WRN-28-2, 1.5M params).

Pre-activation basic blocks (BN -> leaky ReLU 0.1 -> 3x3 conv, twice) in three groups of
16k, 32k, 64k channels (k = widen factor) at strides 1, 2, 2, after a 3x3 stem conv of 16
channels; a final BN -> leaky ReLU, global average pooling and a linear classifier. BatchNorm
momentum 0.001 (PyTorch convention, i.e. a running-average decay of 0.999 as in MixMatch's TF
code). Kaiming-normal convs, unit/zero BN, Xavier-normal fc weight with zero bias, as in the
common PyTorch ports of MixMatch.

Block semantics follow MixMatch's TensorFlow ``residual``: the first conv always sees the
activated input; the shortcut (identity, or a 1x1 conv where the width changes) sees the raw
input except in the first block of the first group (``activate_before_residual``), where it
sees the activated one. Some PyTorch ports instead feed the raw input to the first conv of a
widening block; the parameter count is the same either way.

Depth = 6n + 4 (n blocks per group): 28 -> 4 blocks per group, 10 -> 1.

Input: raw RGB in 0-255 (uint8 or float), [N, 3, H, W]; the model divides by 255 and applies the
CIFAR-10 mean/std itself. Global average pooling makes any size work (>= 8x8 keeps a spatial
map of at least 2x2 at the last group). Output: logits [N, num_classes].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
BN_MOMENTUM = 0.001
LEAK = 0.1


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dropout: float = 0.0,
                 activate_before_residual: bool = False):
        super().__init__()
        self.bn1 = _bn(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = _bn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.activate_before_residual = activate_before_residual
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                         if cin != cout or stride != 1 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.leaky_relu(self.bn1(x), LEAK)
        if self.activate_before_residual:
            x = activated
        out = F.leaky_relu(self.bn2(self.conv1(activated)), LEAK)
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        out = self.conv2(out)
        return out + (x if self.shortcut is None else self.shortcut(x))


class WideResNet(nn.Module):
    def __init__(self, num_classes: int, depth: int = 28, widen_factor: int = 2,
                 dropout: float = 0.0, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 with n >= 1, got {depth}")
        blocks = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        # 0-255 input: x / 255 then (x - mean) / std, folded into one scale and shift.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        groups = []
        for g, stride in enumerate((1, 2, 2)):
            layers = [_BasicBlock(widths[g] if i == 0 else widths[g + 1], widths[g + 1],
                                  stride if i == 0 else 1, dropout,
                                  activate_before_residual=(g == 0 and i == 0))
                      for i in range(blocks)]
            groups.append(nn.Sequential(*layers))
        self.groups = nn.Sequential(*groups)
        self.bn = _bn(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)
        self.num_features = widths[3]

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features [N, 64 * widen_factor] before the classifier."""
        x = self.groups(self.stem(self.normalize(images)))
        x = F.leaky_relu(self.bn(x), LEAK)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(images))


def wrn_28_2(num_classes: int) -> WideResNet:
    """WRN-28-2, the MixMatch / DMT CIFAR-10 model (1,467,610 parameters for 10 classes)."""
    return WideResNet(num_classes, depth=28, widen_factor=2)


def wrn_10_2(num_classes: int) -> WideResNet:
    """WRN-10-2: one block per group, small enough for CPU tests and smoke runs.

    Its runs last hundreds of steps, not CIFAR's hundreds of thousands: with MixMatch's BN
    momentum of 0.001 the running statistics would still be mostly their initial values when
    the model is evaluated, so it keeps PyTorch's default of 0.1."""
    model = WideResNet(num_classes, depth=10, widen_factor=2)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    return model
