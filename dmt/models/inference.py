"""One forward pass over a data set at the original image size: what evaluation,
pseudo-labelling and ``predict`` share.

Images are zero-padded (bottom/right) to at least the training input size, as the model saw
zero-padded crops in training, and the prediction is cropped back to the original size.
With a sliding window (dmt.models.windows.Window: the modern protocol's Cityscapes evaluation),
images are padded to at least the window, the model sees every window position (the last one of
a row or column flush with the image's end), and the logits of overlapping windows are averaged
per pixel; labels and confidences (the softmax of the averaged logits) are then taken as for the
whole image.
Per pixel we keep only argmax and max-probability, computed on the device, so that a uint8 label
and a float16 confidence are all that crosses to the host; evaluation needs only the argmax.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from dmt import IGNORE_INDEX
from dmt.errors import DMTError, NonFiniteOutput
from dmt.models.windows import Window, window_starts

NONFINITE = "the model produced NaN or infinite logits: its weights are broken"


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if present, else CPU. ``auto`` or ``cuda`` with several GPUs visible: one
    that no other dmt job holds, for this process's lifetime (dmt.devices). ``cuda:N``: as is."""
    try:
        device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else
                              "cpu" if name == "auto" else name)
    except RuntimeError as e:
        raise DMTError(f"bad --device {name!r}: auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DMTError(f"--device {name}: no CUDA device is visible here; use --device cpu or auto")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if device.index is None and count > 1:
            from dmt.devices import claim_gpu

            device = torch.device("cuda", claim_gpu(count))
        if device.index is not None:
            if device.index >= count:
                raise DMTError(f"--device {name}: only {count} CUDA device(s) visible")
            # Make cuda:N the current device too, so that calls that use the current device
            # (bf16 support, autocast) do not open a context on GPU 0 that another job uses.
            torch.cuda.set_device(device)
        # Fixed crop sizes in training: cuDNN's autotuned kernels pay off after the first steps.
        torch.backends.cudnn.benchmark = True
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA where supported, fp16 otherwise; nothing on CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def sliding_logits(model: torch.nn.Module, images: torch.Tensor, sizes, window: Window) -> torch.Tensor:
    """The per-pixel mean, in float32, of ``model``'s logits over every window covering it.

    Each image slides over its own size (``sizes``; at least the window, the rest zero as padded),
    not the batch's padded size, so its result does not depend on the images batched with it; the
    windows of one image run as one batch. Outside an image's extent the logits are 0."""
    (wh, ww), (sh, sw) = window.size, window.stride
    total = count = None
    for k, (h, w) in enumerate(sizes):
        h, w = max(h, wh), max(w, ww)
        spots = [(top, left) for top in window_starts(h, wh, sh) for left in window_starts(w, ww, sw)]
        logits = model(torch.stack([images[k, :, top:top + wh, left:left + ww] for top, left in spots])).float()
        if total is None:
            total = logits.new_zeros((images.shape[0], logits.shape[1], *images.shape[-2:]))
            count = logits.new_zeros((images.shape[0], 1, *images.shape[-2:]))
        for (top, left), window_logits in zip(spots, logits, strict=True):
            total[k, :, top:top + wh, left:left + ww] += window_logits
            count[k, :, top:top + wh, left:left + ww] += 1
    return total / count.clamp(min=1)


def forward(model: torch.nn.Module, images: torch.Tensor, sizes=None, window: Window | None = None) -> torch.Tensor:
    """``model``'s logits of ``images`` (original ``sizes``): at once, or averaged over sliding windows."""
    return model(images) if window is None else sliding_logits(model, images, sizes, window)


class PadCollate:
    """Batches images of different sizes by zero-padding to a common size >= ``min_size``."""

    def __init__(self, min_size: Sequence[int] = (0, 0)):
        self.min_size = tuple(min_size)

    def __call__(self, samples: list[dict]) -> dict:
        h = max([s["image"].shape[-2] for s in samples] + [self.min_size[0]])
        w = max([s["image"].shape[-1] for s in samples] + [self.min_size[1]])

        def pad(t: torch.Tensor, value) -> torch.Tensor:
            return F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2]), value=value)

        return {
            "image": torch.stack([pad(s["image"].as_subclass(torch.Tensor), 0) for s in samples]),
            "target": torch.stack([pad(s["target"].as_subclass(torch.Tensor), IGNORE_INDEX)
                                   for s in samples]),
            "size": [tuple(s["image"].shape[-2:]) for s in samples],
            "id": [s["id"] for s in samples],
        }


class PredictedBatch:
    """One batch's logits, still on the device, with what is needed to crop them back.

    Whether every logit is finite is reduced on the device and read after the labels' own copy
    to the host (no extra synchronisation): NaN logits would otherwise become class 0 and a
    plausible score.
    """

    def __init__(self, ids, sizes, logits, targets):
        self.ids, self.sizes, self.logits, self.targets = ids, sizes, logits, targets
        self.finite = torch.isfinite(logits).all()

    def _check_finite(self) -> None:
        if not self.finite.item():
            raise NonFiniteOutput(NONFINITE)

    def _crops(self, *arrays):
        for k, (h, w) in enumerate(self.sizes):
            yield (self.ids[k], *(a[k, :h, :w] if a is not None else None for a in arrays),
                   self.targets[k, :h, :w])

    def labels(self):
        """``(id, label uint8, target uint8)`` per image: argmax only, no softmax needed."""
        label = self.logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        self._check_finite()
        return self._crops(label)

    def labels_and_confidences(self):
        """``(id, label uint8, confidence float16, target uint8)`` per image.

        max softmax = exp(max logit - logsumexp): two reductions, no probability tensor.
        """
        logits = self.logits.float()
        top, label = logits.max(dim=1)
        conf = torch.exp(top - torch.logsumexp(logits, dim=1))
        crops = self._crops(label.to(torch.uint8).cpu().numpy(), conf.to(torch.float16).cpu().numpy())
        self._check_finite()
        return crops


def ready_for_inference(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Eval mode on ``device``; channels-last on CUDA, as in training (NHWC tensor cores)."""
    model.eval().to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def images_to(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host batch of images on ``device``, in the layout ``ready_for_inference`` expects."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images


def predict(model: torch.nn.Module, dataset, device: torch.device, batch_size: int = 8,
            pad_to: Sequence[int] = (0, 0), num_workers: int = 0, amp: bool = True,
            desc: str | None = "predict", window: Window | None = None) -> Iterator[PredictedBatch]:
    """Run ``model`` over ``dataset`` once; yield each batch's logits (not yet synchronised).
    ``window``: sliding-window inference (inputs padded to at least the window as well)."""
    if window is not None:
        pad_to = tuple(max(p, s) for p, s in zip(pad_to, window.size, strict=True))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=PadCollate(pad_to), pin_memory=device.type == "cuda")
    model = ready_for_inference(model, device)
    with torch.inference_mode():
        for batch in tqdm(loader, desc=desc, unit="batch", mininterval=5, disable=desc is None):
            with autocast(device, amp):
                logits = forward(model, images_to(batch["image"], device), batch["size"], window)
            yield PredictedBatch(batch["id"], batch["size"], logits,
                                 batch["target"].to(torch.uint8).numpy())


def predict_probs(model, dataset, device, batch_size: int = 256, amp: bool = True,
                  num_workers: int = 0, desc: str | None = "predict") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Softmax of ``model`` over ``dataset`` in one pass: ``(ids, probs [N, C] float32, targets [N])``
    (targets are 255 where the data set has no label)."""
    def collate(items):
        return (torch.stack([i["image"].as_subclass(torch.Tensor) for i in items]),
                torch.stack([i["target"].as_subclass(torch.Tensor) for i in items]),
                [i["id"] for i in items])

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate, pin_memory=device.type == "cuda")
    model = ready_for_inference(model, device)
    ids, probs, targets = [], [], []
    with torch.inference_mode():
        for images, target, batch_ids in tqdm(loader, desc=desc, unit="batch", mininterval=5,
                                              disable=desc is None):
            with autocast(device, amp):
                logits = model(images_to(images, device))
            probs.append(logits.float().softmax(dim=1).cpu().numpy())
            if not np.isfinite(probs[-1]).all():  # NaN or inf logits: no score, no label
                raise NonFiniteOutput(NONFINITE)
            targets.append(target.numpy())
            ids += batch_ids
    if not ids:
        raise DMTError("no images to predict")
    return ids, np.concatenate(probs), np.concatenate(targets)
