"""One forward pass over a data set at the original image size: what evaluation and
pseudo-labelling share.

Images are zero-padded (bottom/right) to at least the training input size, as the model saw
zero-padded crops in training, and the prediction is cropped back to the original size.
Per pixel we keep only argmax and max-probability, computed on the device, so that a uint8 label
and a float16 confidence are all that crosses to the host.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from dmt import IGNORE_INDEX


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA where supported, fp16 otherwise; nothing on CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


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


def predict(model: torch.nn.Module, dataset, device: torch.device, batch_size: int = 8,
            pad_to: Sequence[int] = (0, 0), num_workers: int = 0, amp: bool = True,
            desc: str | None = "predict") -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(id, label uint8 [H, W], confidence float16 [H, W], target uint8 [H, W])`` per image."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=PadCollate(pad_to), pin_memory=device.type == "cuda")
    model.eval().to(device)
    with torch.inference_mode():
        for batch in tqdm(loader, desc=desc, unit="batch", mininterval=5, disable=desc is None):
            images = batch["image"].to(device, non_blocking=True)
            with autocast(device, amp):
                logits = model(images)
            conf, label = logits.float().softmax(dim=1).max(dim=1)
            label = label.to(torch.uint8).cpu().numpy()
            conf = conf.to(torch.float16).cpu().numpy()
            target = batch["target"].to(torch.uint8).numpy()
            for k, (h, w) in enumerate(batch["size"]):
                yield batch["id"][k], label[k, :h, :w], conf[k, :h, :w], target[k, :h, :w]
