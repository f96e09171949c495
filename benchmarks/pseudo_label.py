"""Pseudo-label generation (forward + HDF5 + exact thresholds) vs a bare forward pass.

Both passes run the same model over the same images with the same loader, batch size and padding;
the bare pass only calls the model. Reports seconds, their ratio (goal <= 1.15) and the bytes per
pixel of the HDF5 file before and after compression (goal <= 3 before).

    .venv/bin/python benchmarks/pseudo_label.py                     # VOC-sized, small model, CPU
    .venv/bin/python benchmarks/pseudo_label.py --images 100 --height 64 --width 64 --classes 11
    .venv/bin/python benchmarks/pseudo_label.py --torchvision deeplabv3_resnet101 --images 16

``--torchvision NAME`` stands in a paper-sized network (random weights) for the small CPU model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

from dmt.models import build_model
from dmt.models.inference import PadCollate, autocast, pick_device
from dmt.pseudo.segmentation import generate


class TorchvisionSegmentation(torch.nn.Module):
    """A torchvision segmentation network with the pipeline's model contract (uint8 in, logits out)."""

    def __init__(self, name: str, num_classes: int):
        super().__init__()
        import torchvision

        self.net = getattr(torchvision.models.segmentation, name)(
            weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def forward(self, images):
        return self.net((images.float() - self.mean) / self.std)["out"]


class RandomImages(Dataset):
    """Deterministic smooth random images (compressible like photos, unlike white noise)."""

    def __init__(self, n: int, height: int, width: int, num_classes: int):
        self.ids = [f"img{i:05d}" for i in range(n)]
        self.size = (height, width)
        self.num_classes = num_classes

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        h, w = self.size
        coarse = torch.rand(1, 3, h // 16 + 1, w // 16 + 1, generator=g) * 255
        image = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")[0]
        return {"image": tv_tensors.Image(image.to(torch.uint8)),
                "target": tv_tensors.Mask(torch.full((h, w), 255, dtype=torch.int64)),
                "id": self.ids[i]}


def bare_forward(model, dataset, device, batch_size, pad_to, amp) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=PadCollate(pad_to))
    model.eval().to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            with autocast(device, amp):
                out = model(batch["image"].to(device))
            out.float().sum().item()  # wait for the device, as the real pass does
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="small_deeplab")
    p.add_argument("--torchvision", help="e.g. deeplabv3_resnet101: time that network instead")
    p.add_argument("--images", type=int, default=60)
    p.add_argument("--height", type=int, default=375)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--classes", type=int, default=21)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--alpha", type=float, default=0.4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.torchvision:
        torch.manual_seed(0)
        model, args.model = TorchvisionSegmentation(args.torchvision, args.classes), args.torchvision
    else:
        model = build_model(args.model, args.classes, seed=0)
    data = RandomImages(args.images, args.height, args.width, args.classes)
    pad_to = (args.height, args.width)
    amp = device.type == "cuda"
    # Warm-up on one full batch, so that allocation and kernel selection for the batch shape
    # stay out of both timings.
    bare_forward(model, RandomImages(args.batch_size, args.height, args.width, args.classes), device,
                 args.batch_size, pad_to, amp)

    bare = bare_forward(model, data, device, args.batch_size, pad_to, amp)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pseudo.h5"
        start = time.perf_counter()
        generate(model, data, path, args.classes, args.alpha, "benchmark", device, args.batch_size,
                 pad_to, amp=amp)
        full = time.perf_counter() - start
        on_disk = path.stat().st_size
        with h5py.File(path) as f:
            raw = sum(f[g][k].id.get_storage_size() and f[g][k].dtype.itemsize * f[g][k].size
                      for g in ("labels", "conf") for k in f[g])
    pixels = args.images * args.height * args.width
    result = {
        "device": str(device), "model": args.model, "images": args.images,
        "image_size": [args.height, args.width], "classes": args.classes, "threads": args.threads,
        "bare_forward_s": round(bare, 3), "pseudo_label_s": round(full, 3),
        "ratio": round(full / bare, 3),
        "overhead_ms_per_image": round(1000 * (full - bare) / args.images, 2),
        "bytes_per_pixel_uncompressed": raw / pixels,
        "bytes_per_pixel_on_disk": round(on_disk / pixels, 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
