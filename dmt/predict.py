"""``python -m dmt predict``: an exported model (``results/{run}/final_model.pt``) on new images.

Segmentation: one palette PNG mask per image, ``{out}/{id}.png``, at the image's own size (the
class index per pixel, coloured with the data set's palette), from whole-image inference
zero-padded to at least the training crop and cropped back, as pseudo-labelling does
(dmt.inference.predict); optionally ``{out}/confidence/{id}.npy`` (max softmax, float16) and
``{out}/overlay/{id}.jpg`` (the image blended half and half with the mask's colours).
Classification: ``{out}/predictions.csv`` with id, class index, class name and probability, each
image resized (bilinear) to the size the model was trained on.
Images are batched in order of size, so that a batch pads little. Every file is written
atomically; ``{out}/predictions.json``, written last, summarises the run.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dmt import IGNORE_INDEX
from dmt.atomic import atomic_path, write_json, write_text
from dmt.data.folder import IMAGE_SUFFIXES
from dmt.data.voc import read_image, write_mask_png
from dmt.errors import DMTError
from dmt.final_model import flat_palette

log = logging.getLogger(__name__)


def list_images(source) -> list[tuple[str, Path]]:
    """(id, file) of every image of ``source``: a folder (its .jpg / .jpeg / .png files, not
    recursive; other files are skipped) or a text file listing one image path per line (relative
    paths are taken from the list's folder; blank lines and # comments skipped). The id is the
    file name without extension: it names the outputs, so two images may not share it."""
    source = Path(source)
    if source.is_dir():
        files = [p for p in sorted(source.iterdir()) if p.is_file() and not p.name.startswith(".")]
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if len(images) < len(files):
            log.info("skipped %d files of %s that are not .jpg, .jpeg or .png", len(files) - len(images), source)
    elif source.is_file():
        try:
            lines = source.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DMTError(f"--images {source} is neither a folder nor a readable list of image paths ({e})") from None
        images = [source.parent / line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        absent = [p for p in images if not p.is_file()]
        if absent:
            raise DMTError(f"{source} lists {absent[0]}, which does not exist ({len(absent)} such lines)")
    else:
        raise DMTError(f"--images {source} does not exist (a folder of images or a file listing them)")
    if not images:
        raise DMTError(f"no images (.jpg, .jpeg, .png) in {source}")
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise DMTError(f"{seen[path.stem]} and {path} would both be written as {path.stem}: "
                           f"give the images distinct names")
        seen[path.stem] = path
    return list(seen.items())


def _size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header; an unreadable file is named here, before any work."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, SyntaxError, ValueError) as e:
        raise DMTError(f"image {path} is not readable ({e})") from None


class ImageFiles(torch.utils.data.Dataset):
    """Items shaped as dmt.inference expects (image uint8 [3, H, W], target all 255, id); with
    ``size`` (height, width) each image is resized to it (classification)."""

    def __init__(self, items: list[tuple[str, Path]], size=None):
        self.items, self.size = items, size
        self.ids = [image_id for image_id, _ in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        image_id, path = self.items[index]
        image = read_image(path)
        if self.size is not None:
            h, w = self.size
            image = np.array(Image.fromarray(image).resize((w, h), Image.BILINEAR))  # writable
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        target = (torch.tensor(IGNORE_INDEX) if self.size is not None
                  else torch.full(tensor.shape[-2:], IGNORE_INDEX, dtype=torch.uint8))
        return {"image": tensor, "target": target, "id": image_id}


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a handle: np.save would append .npy
        np.save(f, array)


def _save_overlay(path: Path, image: np.ndarray, colors: np.ndarray) -> None:
    blend = (0.5 * image.astype(np.float32) + 0.5 * colors.astype(np.float32)).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(blend).save(tmp, format="JPEG", quality=90)


def predict_masks(model, meta: dict, items, out, device, *, batch_size: int = 8, pad_to=None,
                  confidence: bool = False, overlay: bool = False, amp: bool = True,
                  num_workers: int = 0) -> dict:
    """Masks (and optional confidence maps, overlays) of ``items`` under ``out``; the summary."""
    from dmt.inference import predict

    out = Path(out)
    pad_to = list(meta.get("pad_to", [0, 0]) if pad_to is None else pad_to)
    names = meta["class_names"]
    palette = flat_palette(meta["palette"])
    colors = np.asarray(palette, dtype=np.uint8).reshape(256, 3)
    by_size = sorted(items, key=lambda item: (_size(item[1]), item[0]))
    paths = dict(items)
    pixels = np.zeros(len(names), dtype=np.int64)
    for batch in predict(model, ImageFiles(by_size), device, batch_size, pad_to, num_workers, amp,
                         desc="predict"):
        for image_id, label, conf, _ in batch.labels_and_confidences():
            if not np.isfinite(conf).all():
                raise DMTError(f"the model gave non-finite outputs for {paths[image_id]} (NaN weights?)")
            write_mask_png(out / f"{image_id}.png", label, palette)
            pixels += np.bincount(label.ravel(), minlength=len(names))[: len(names)]
            if confidence:
                _save_npy(out / "confidence" / f"{image_id}.npy", conf)
            if overlay:
                _save_overlay(out / "overlay" / f"{image_id}.jpg", read_image(paths[image_id]), colors[label])
    return {"images": len(items), "pad_to": pad_to, "confidence": confidence, "overlay": overlay,
            "class_pixel_share": dict(zip(names, (pixels / max(pixels.sum(), 1)).round(6).tolist()))}


def predict_classes(model, meta: dict, items, out, device, *, batch_size: int = 256, amp: bool = True,
                    num_workers: int = 0) -> dict:
    """``{out}/predictions.csv`` (id, class_index, class, probability) of ``items``; the summary."""
    from dmt.inference import predict_probs

    names = meta["class_names"]
    ids, probs, _ = predict_probs(model, ImageFiles(items, size=meta["image_size"]), device, batch_size,
                                  amp, num_workers, desc="predict")
    if not np.isfinite(probs).all():
        raise DMTError("the model gave non-finite outputs (NaN weights?)")
    labels, top = probs.argmax(axis=1), probs.max(axis=1)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["id", "class_index", "class", "probability"])
    for image_id, label, p in zip(ids, labels, top):
        writer.writerow([image_id, int(label), names[label], f"{p:.6f}"])
    write_text(Path(out) / "predictions.csv", text.getvalue())
    counts = np.bincount(labels, minlength=len(names))
    return {"images": len(ids), "image_size": meta["image_size"],
            "class_counts": dict(zip(names, counts.tolist()))}


def run_predict(model, meta: dict, source, out, device, *, batch_size: int = 8, pad_to=None,
                confidence: bool = False, overlay: bool = False, amp: bool = True,
                num_workers: int = 0) -> dict:
    """Predict every image of ``source`` (see list_images) into ``out``; writes and returns the
    summary (``{out}/predictions.json``), with where the model came from."""
    items = list_images(source)
    common = {"batch_size": batch_size, "amp": amp, "num_workers": num_workers}
    if meta["task"] == "classification":
        if confidence or overlay or pad_to is not None:
            raise DMTError("--confidence, --overlay and --pad-to are for segmentation models; this one "
                           "classifies whole images (predictions.csv holds each one's probability)")
        Path(out).mkdir(parents=True, exist_ok=True)
        summary = predict_classes(model, meta, items, out, device, **common)
    else:
        Path(out).mkdir(parents=True, exist_ok=True)
        summary = predict_masks(model, meta, items, out, device, pad_to=pad_to, confidence=confidence,
                                overlay=overlay, **common)
    summary = {"task": meta["task"], "origin": meta["origin"], "source": str(source), **summary}
    write_json(Path(out) / "predictions.json", summary)
    return summary
