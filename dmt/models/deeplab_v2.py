"""DeepLab-v2 with a ResNet-101 backbone, the paper's segmentation model (Section 5.2.1).

torchvision's ResNet-101 with layer3/layer4 dilated instead of strided (output stride 8) and the
ASPP head of DeepLab-v2: 3x3 convolutions at rates 6, 12, 18, 24 straight to class logits,
summed, then upsampled bilinearly (align_corners=True, as the authors' code and Caffe's Interp
layer) to the input size. No multi-scale fusion, no CRF.

Two forms of the head (``aspp``): ``paper`` sums all four branches, as the paper and the Caffe
model describe; ``authors`` sums only the rate-6 and rate-12 branches, as the authors' released
code ran it (its forward returns inside the loop, after the second branch; DESIGN.md): the paper's
numbers were made with that head, so the paper's experiments default to it. Both forms hold all
four branches, so the same checkpoints (COCO's included) load into either.

Input normalisation belongs to the init (DESIGN.md): ImageNet weights (torchvision) expect RGB
in 0-1 with ImageNet mean/std; the Caffe-converted COCO weights expect BGR in 0-255 minus the
Caffe mean with std 1. The Caffe ResNet also strides in the first 1x1 convolution of a
down-sampling bottleneck, where torchvision strides in the 3x3: a COCO-init model moves layer2's
stride accordingly (same shapes, so the same state dict keys).

COCO weights arrive as the Caffe-converted PyTorch checkpoint of DeepLab-v2 (keys ``conv1.*``,
``layer1.0.conv1.*`` ... ``layer5.conv2d_list.K.*``, optionally prefixed ``Scale.``);
``convert_coco`` maps them once onto this model's names (``python -m dmt convert-coco``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet101

from dmt.errors import DMTError
from dmt.models.normalization import Normalize
from dmt.store.torchfile import read_torch_file

log = logging.getLogger(__name__)

ASPP_RATES = (6, 12, 18, 24)
# Which input convention and stride placement each init implies.
INIT_ARCH = {"scratch": ("imagenet", False), "imagenet": ("imagenet", False), "coco": ("caffe", True)}
BACKBONE_NAMES = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
COCO_FORMAT = "dmt/deeplab_v2-coco/1"


# aspp form -> how many branches (in rate order) the head sums.
ASPP_FORMS = {"paper": 4, "authors": 2}


def aspp_logits(branches: nn.ModuleList, features: torch.Tensor, used: int) -> torch.Tensor:
    """The sum of the first ``used`` ASPP branches' logits (all four: the paper; two: the
    authors' code, whose loop returned after adding the second)."""
    out = branches[0](features)
    for branch in branches[1:used]:
        out = out + branch(features)
    return out


class DeepLabV2(nn.Module):
    def __init__(self, num_classes: int, init: str = "scratch", aspp: str = "authors"):
        super().__init__()
        if init not in INIT_ARCH:
            raise ValueError(f"unknown init {init!r} for deeplab_v2; known: {', '.join(INIT_ARCH)}")
        if aspp not in ASPP_FORMS:
            raise ValueError(f"unknown aspp form {aspp!r} for deeplab_v2; known: {', '.join(ASPP_FORMS)}")
        normalization, caffe_strides = INIT_ARCH[init]
        self.normalize = Normalize(normalization)
        resnet = resnet101(weights=None, replace_stride_with_dilation=[False, True, True])
        if caffe_strides:
            first = resnet.layer2[0]
            first.conv1.stride, first.conv2.stride = (2, 2), (1, 1)
        self.backbone = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
                                      resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)
        self.aspp_form, self.aspp_used = aspp, ASPP_FORMS[aspp]
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
        state = _read_state(path, "ImageNet weights", "a torchvision resnet101 state dict")
        mapped = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in BACKBONE_NAMES:
                mapped[f"{BACKBONE_NAMES.index(head)}.{rest}"] = value
        missing, unexpected = self.backbone.load_state_dict(mapped, strict=False)
        if missing or unexpected:
            raise DMTError(f"{path} is not a resnet101 state dict: {len(missing)} backbone weights "
                           f"missing (e.g. {missing[:2]}), {len(unexpected)} unexpected")

    def load_coco(self, path) -> None:
        """Backbone (and the ASPP head where its class count matches) from ``convert_coco``'s file."""
        saved = _read_state(path, "COCO weights", "a file written by `python -m dmt convert-coco`")
        if saved.get("format") != COCO_FORMAT:
            raise DMTError(f"{path} is not a converted COCO checkpoint; convert the original with "
                           f"`python -m dmt convert-coco --checkpoint ORIGINAL.pth --out {path}`")
        state = dict(saved["state_dict"])
        own = self.state_dict()
        head = {k: v for k, v in state.items() if k.startswith("aspp.")}
        if any(own[k].shape != v.shape for k, v in head.items()):
            # COCO's head has 21 classes: VOC keeps it, Cityscapes (19) starts its head afresh.
            log.info("COCO head has another class count; the ASPP head keeps its random init")
            state = {k: v for k, v in state.items() if not k.startswith("aspp.")}
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("aspp.") and not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise DMTError(f"{path} does not fit deeplab_v2: {len(missing)} weights missing "
                           f"(e.g. {missing[:2]}), {len(unexpected)} unexpected")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(self.normalize(images))
        logits = aspp_logits(self.aspp, features, self.aspp_used)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=True)


def _read_state(path, what: str, expected: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DMTError(f"{what} {path} do not exist ({expected})")
    state = read_torch_file(path, what)
    if not isinstance(state, dict):
        raise DMTError(f"{path} holds a {type(state).__name__}, not {expected}")
    return state


def convert_coco(checkpoint, out) -> dict:
    """Map the Caffe-converted COCO DeepLab-v2 checkpoint onto this model's names; write ``out``.

    Every backbone tensor must be present with its ResNet-101 shape (checked against the model);
    the ASPP head (``layer5.conv2d_list``) is kept with its class count, which loading compares.
    """
    from dmt.store.atomic import torch_save

    state = _read_state(checkpoint, "COCO checkpoint", "the Caffe-converted DeepLab-v2 COCO .pth")
    for wrapper in ("state_dict", "model"):
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    reference = DeepLabV2(21, init="coco").state_dict()
    mapped, skipped = {}, []
    for key, value in state.items():
        parts = key.split(".")
        while parts and parts[0] in ("Scale", "module"):
            parts = parts[1:]
        if parts[:2] == ["layer5", "conv2d_list"] and len(parts) == 4:
            mapped[f"aspp.{parts[2]}.{parts[3]}"] = value
        elif parts and parts[0] in BACKBONE_NAMES:
            mapped[f"backbone.{BACKBONE_NAMES.index(parts[0])}.{'.'.join(parts[1:])}"] = value
        else:
            skipped.append(key)
    wanted = [k for k in reference if k.startswith("backbone.") and not k.endswith("num_batches_tracked")]
    missing = [k for k in wanted if k not in mapped]
    wrong = [k for k in wanted if k in mapped and mapped[k].shape != reference[k].shape]
    if missing or wrong or skipped:
        raise DMTError(f"{checkpoint} is not a DeepLab-v2 ResNet-101 COCO checkpoint: "
                       f"{len(missing)} backbone weights missing (e.g. {missing[:2]}), "
                       f"{len(wrong)} of another shape (e.g. {wrong[:2]}), "
                       f"{len(skipped)} unknown keys (e.g. {skipped[:2]})")
    head = mapped.get("aspp.0.weight")
    summary = {"format": COCO_FORMAT, "source": str(Path(checkpoint).resolve()),
               "tensors": len(mapped), "head_classes": None if head is None else int(head.shape[0])}
    torch_save({**summary, "state_dict": mapped}, out)
    return summary
