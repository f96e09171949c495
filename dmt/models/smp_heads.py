"""Modern encoders and heads: segmentation-models-pytorch (MIT) heads over timm encoders.

Model ``smp_{head}`` is smp's ``head`` (DeepLabV3Plus, UPerNet, Segformer, DPT) over the timm
encoder named by the experiment's ``encoder`` option (``tu-convnext_tiny``, ``tu-resnet50``,
``tu-vit_base_patch16_224``, ``tu-vit_base_patch14_dinov2`` ...). Nothing is downloaded: smp is
always built with ``encoder_weights=None``, and pretrained encoder weights come from the user's file
in timm's own key layout (what ``timm.create_model(name).state_dict()`` holds: ``torch.save`` of
it, or of a ``{"state_dict": ...}`` wrapper). smp's CNN encoders (timm ``features_only``) rename a
top-level ``stages.0`` to ``stages_0``: ``load_timm_encoder`` maps the names back and checks that
every encoder tensor is there with its shape; the file's classifier is not part of the encoder.

DINOv2 and other patch-14 ViTs: smp 0.6.0's DPT decoder assumes 16-pixel tokens (its reassemble
factors are stride / 4, / 8 ...: a stride of 14 breaks them, measured: "The size of tensor a (16)
must match the size of tensor b (32)" at 224 x 224). They are built with 16-pixel patches instead,
and their weights resampled on loading by timm's own ViT checkpoint filter (the patch embedding's
pseudo-inverse resize of FlexiViT, the position embedding interpolated): the same weights at
another patch size, not UniMatch V2's patch-14 model.

Input: raw 0-255 RGB, normalised with the encoder's own mean / std (timm's pretrained config;
ImageNet's for most), zero-padded at the bottom / right to a multiple of the encoder's output
stride (smp refuses other sizes; DPT: twice that), the logits cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dmt.errors import DMTError
from dmt.models.catalog import SMP_HEADS, encoder_problem
from dmt.models.local_weights import load_part, read_state
from dmt.models.normalization import Normalize

TIMM_FILE = "the encoder's timm state dict (torch.save(timm.create_model(NAME).state_dict()))"


def _smp_class(head: str):
    import segmentation_models_pytorch as smp

    return {"deeplabv3plus": smp.DeepLabV3Plus, "upernet": smp.UPerNet, "segformer": smp.Segformer,
            "dpt": smp.DPT}[head]


def _timm_name(encoder: str) -> str:
    """The timm model of an smp ``tu-`` encoder name, checked to exist in the installed timm."""
    import timm

    name = encoder.removeprefix("tu-")
    if not timm.is_model(name.partition(".")[0]):
        raise ValueError(f"encoder {encoder!r}: timm {timm.__version__} has no model "
                         f"{name.partition('.')[0]!r} (see timm.list_models()); set the experiment's encoder")
    return name


def _encoder_kwargs(head: str, name: str) -> dict:
    """What smp passes on to timm: ViTs take any multiple of their patch size only with
    dynamic_img_size, and patch-14 ViTs are built with 16-pixel patches (the module docstring)."""
    if head != "dpt":
        return {}
    return {"dynamic_img_size": True, **({"patch_size": 16} if "_patch14" in name else {})}


class SMPModel(nn.Module):
    """smp's ``head`` over timm encoder ``encoder``; raw 0-255 RGB in, logits at input size out."""

    def __init__(self, num_classes: int, head: str, encoder: str, init: str = "scratch"):
        super().__init__()
        if head not in SMP_HEADS:
            raise ValueError(f"unknown smp head {head!r}; known: {', '.join(SMP_HEADS)}")
        problem = encoder_problem(f"smp_{head}", encoder)
        if problem:
            raise ValueError(f"encoder {encoder!r}: expected {problem}")
        if init not in ("scratch", "timm"):
            raise ValueError(f"unknown init {init!r} for smp_{head}; known: scratch, timm")
        import timm

        name = _timm_name(encoder)
        try:
            self.net = _smp_class(head)(encoder_name=encoder, encoder_weights=None, classes=num_classes,
                                        **_encoder_kwargs(head, name))
        except (ValueError, RuntimeError, AssertionError) as e:  # e.g. a downsampling smp cannot use
            raise ValueError(f"smp_{head} cannot be built over encoder {encoder!r}: {e}") from None
        self.encoder_name = encoder
        self.normalize = Normalize("imagenet")
        cfg = timm.get_pretrained_cfg(name)
        if cfg is not None and cfg.mean and cfg.std:  # e.g. 0.5 / 0.5 for some ViTs
            self.normalize.mean.copy_(torch.tensor(cfg.mean).view(1, 3, 1, 1))
            self.normalize.std.copy_(torch.tensor(cfg.std).view(1, 3, 1, 1))
        self.output_stride = int(self.net.encoder.output_stride)
        # DPT halves its last token grid and doubles it back: that grid must be even.
        self.pad_multiple = self.output_stride * (2 if head == "dpt" else 1)

    def head_parameters(self):
        """Everything but the encoder (decoder and segmentation head): the 10x-lr part."""
        return [p for name, p in self.net.named_parameters() if not name.startswith("encoder.")]

    def load_timm_encoder(self, path) -> None:
        encoder = self.net.encoder.model
        expected = f"{TIMM_FILE} of {self.encoder_name.removeprefix('tu-')}"
        state = read_state(path, "timm", expected)
        if hasattr(encoder, "patch_embed"):  # a ViT: timm resamples patch and position embeddings
            from timm.models.vision_transformer import checkpoint_filter_fn

            try:
                state = checkpoint_filter_fn(state, encoder)
            except (KeyError, RuntimeError, ValueError) as e:
                raise DMTError(f"timm weights {path} (config key timm_checkpoint) do not fit: "
                               f"expected {expected} ({e})") from None
        own = set(encoder.state_dict())

        def rename(key: str) -> str | None:
            if key in own:
                return key
            flat = key.replace(".", "_", 1)  # timm's features_only names: stages.0 -> stages_0
            return flat if flat in own else None

        load_part(encoder, state, path, "timm", expected, rename=rename)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        s = self.pad_multiple
        # Raw zeros, as the pipeline pads every image (dmt.models.inference.PadCollate), then normalised.
        x = F.pad(images.float(), (0, -w % s, 0, -h % s))
        return self.net(self.normalize(x))[..., :h, :w]


def smp_model(head: str):
    """The registry's constructor of ``smp_{head}``: ``(num_classes, init=, encoder=)``."""

    def build(num_classes: int, init: str = "scratch", encoder: str = "tu-resnet50") -> SMPModel:
        return SMPModel(num_classes, head, encoder, init)

    build.__name__ = f"smp_{head}"
    return build
