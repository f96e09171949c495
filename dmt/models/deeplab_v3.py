"""DeepLabV3+ on ResNet-101 (the modern protocol's model: ST++, U2PL, UniMatch) and torchvision's
DeepLabV3 ResNet-101.

``DeepLabV3Plus`` follows the model those papers train: ResNet-101 with layer4 dilated instead of
strided (output stride 16); an ASPP of a 1x1 branch, three 3x3 branches at rates 6 / 12 / 18 and
an image-pooling branch (256 channels each, batch norm, ReLU), projected to 256; layer1's output
reduced to 48 channels by a 1x1 convolution and concatenated with the ASPP output upsampled to its
size; two 3x3 convolutions of 256; a 1x1 classifier; bilinear upsampling with
``align_corners=True`` to the input size. The backbone is torchvision's ResNet-101 with its
standard stem (UniMatch's own has a deep stem of three 3x3 convolutions, which torchvision's
ImageNet weights do not fit), under torchvision's names, so a torchvision ``resnet101`` state dict
loads into it as it is.

``TorchvisionDeepLabV3`` is ``torchvision.models.segmentation.deeplabv3_resnet101`` (output
stride 8, ASPP 12 / 24 / 36, no low-level fuse) without its auxiliary head; its own
COCO-with-VOC-labels weights file (``deeplabv3_resnet101_coco-586e9e4e.pth``) loads whole where
the class count is VOC's 21, and without its final classifier layer otherwise.

Both take raw 0-255 RGB and normalise it as torchvision's ImageNet weights expect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet101
from torchvision.models.segmentation import deeplabv3_resnet101

from dmt.models.local_weights import load_part, read_state
from dmt.models.normalization import Normalize

RESNET_PARTS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
RESNET_FILE = "a torchvision resnet101 state dict (e.g. resnet101-63fe2227.pth)"
TV_COCO_FILE = "torchvision's deeplabv3_resnet101 state dict (e.g. deeplabv3_resnet101_coco-586e9e4e.pth)"


def _no_fc(key: str) -> str | None:
    return None if key.startswith("fc.") else key  # ImageNet's classifier: not part of a backbone


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = 0 if kernel == 1 else dilation
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResNetBackbone(nn.Module):
    """torchvision's ResNet-101 up to layer4, under torchvision's names; returns layer1 and layer4."""

    def __init__(self, dilate=(False, False, True)):
        super().__init__()
        resnet = resnet101(weights=None, replace_stride_with_dilation=list(dilate))
        for name in RESNET_PARTS:
            setattr(self, name, getattr(resnet, name))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        return low, self.layer4(self.layer3(self.layer2(low)))


class ASPP(nn.Module):
    """1x1, three atrous 3x3 and an image-pooling branch, concatenated and projected."""

    def __init__(self, cin: int, rates=(6, 12, 18), channels: int = 256):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, channels)] +
                                      [conv_bn_relu(cin, channels, 3, r) for r in rates])
        self.pool = conv_bn_relu(cin, channels)
        self.project = conv_bn_relu(channels * (len(rates) + 2), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(F.adaptive_avg_pool2d(x, 1))
        pooled = F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ ResNet-101, output stride 16 (see the module docstring)."""

    output_stride = 16

    def __init__(self, num_classes: int, init: str = "scratch"):
        super().__init__()
        if init not in ("scratch", "imagenet"):
            raise ValueError(f"unknown init {init!r} for deeplabv3plus; known: scratch, imagenet")
        self.normalize = Normalize("imagenet")
        self.backbone = ResNetBackbone((False, False, True))
        self.aspp = ASPP(2048, (6, 12, 18))
        self.reduce = conv_bn_relu(256, 48)
        self.fuse = nn.Sequential(conv_bn_relu(256 + 48, 256, 3), conv_bn_relu(256, 256, 3))
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def head_parameters(self):
        """Everything but the ResNet: the part the modern protocol trains at 10x the lr."""
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]

    def load_imagenet_backbone(self, path) -> None:
        state = read_state(path, "imagenet", RESNET_FILE)
        load_part(self.backbone, state, path, "imagenet", RESNET_FILE, rename=_no_fc)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        low, high = self.backbone(self.normalize(images))
        x = F.interpolate(self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=True)
        x = self.classifier(self.fuse(torch.cat([self.reduce(low), x], dim=1)))
        return F.interpolate(x, size=images.shape[-2:], mode="bilinear", align_corners=True)


class TorchvisionDeepLabV3(nn.Module):
    """torchvision's ``deeplabv3_resnet101`` (no auxiliary head), taking raw 0-255 RGB."""

    output_stride = 8

    def __init__(self, num_classes: int, init: str = "scratch"):
        super().__init__()
        if init not in ("scratch", "imagenet", "torchvision_coco"):
            raise ValueError(f"unknown init {init!r} for deeplabv3_resnet101; known: scratch, "
                             f"imagenet, torchvision_coco")
        self.normalize = Normalize("imagenet")
        self.net = deeplabv3_resnet101(weights=None, weights_backbone=None, num_classes=num_classes,
                                       aux_loss=False)

    def head_parameters(self):
        return self.net.classifier.parameters()

    def load_imagenet_backbone(self, path) -> None:
        state = read_state(path, "imagenet", RESNET_FILE)
        load_part(self.net.backbone, state, path, "imagenet", RESNET_FILE, rename=_no_fc)

    def load_torchvision_coco(self, path) -> None:
        """The whole model from torchvision's file; its auxiliary head is dropped, and its last
        classifier layer (21 classes) is kept only where this model has 21 classes too."""
        state = read_state(path, "torchvision_coco", TV_COCO_FILE)
        load_part(self.net, state, path, "torchvision_coco", TV_COCO_FILE,
                  rename=lambda k: None if k.startswith("aux_classifier.") else k,
                  optional=lambda k: k.startswith("classifier.4."))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(images))["out"]
