"""``python -m dmt predict``: an exported model (``results/{run}/final_model.pt``) on new images.

Segmentation: one palette PNG mask per image, ``{out}/{id}.png``, at the image's own size (the
class index per pixel, coloured with the data set's palette), from whole-image inference
zero-padded to at least the training crop and cropped back, as pseudo-labelling does
(dmt.models.inference.predict); optionally ``{out}/confidence/{id}.npy`` (max softmax, float16) and
``{out}/overlay/{id}.jpg`` (the image blended half and half with the mask's colours).
Classification: ``{out}/predictions.csv`` with id, class index, class name and probability, each
image resized (bilinear) to the size the model was trained on.
Masks are predicted in order of image size, so that a batch pads little. Every file is written
atomically; ``{out}/predictions.json``, written last, summarises the run.

The output folder is predict's own. Before any work it refuses an ``--out`` that holds an input
(paths resolved, symlinks followed) or any file it did not write: ``predictions.json`` records
(``files``) what a run writes, claimed before the first write (``complete: false``) and confirmed
last, so a rerun into the same folder, also after a failed or killed run, replaces exactly those
files and removes the ones it no longer writes.

Importing this module reads no torch: the workflow calls ``images_fingerprint`` while planning.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path

from dmt import IGNORE_INDEX
from dmt.data.folder import IMAGE_SUFFIXES
from dmt.errors import DMTError
from dmt.store.atomic import atomic_path, write_json, write_text
from dmt.tasks import task_of

log = logging.getLogger(__name__)

RECORD = "predictions.json"
SUBFOLDERS = ("confidence", "overlay")
# Names of the files predict may record as its own: no other path of a record is ever replaced
# or removed, whatever a (hand-edited, copied) predictions.json says.
_OWN = re.compile(r"[^/\0]+\.png|predictions\.csv|confidence/[^/\0]+\.npy|overlay/[^/\0]+\.jpg")
# What dmt.store.atomic leaves of a write when its process is killed (mkstemp's 8 random characters).
_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")
# Snakemake's mark in a directory output (the workflow's predictions folder): not the user's file.
_MARKS = (".snakemake_timestamp",)


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


def images_fingerprint(source) -> str:
    """A digest of the images of ``source`` (list_images): ids, paths, sizes, modification and
    change times. The workflow's predict rule has it in its params, so that predictions are made
    again when an image is replaced in place (the folder's own time does not change then) or
    images are added, removed or renamed. File metadata only, no pixel read: cheap at planning.
    ctime too, as a copy that keeps the original's time and size (cp -p, rsync -t) changes it.
    A source that predict refuses gives its error's digest: the job reports the error."""
    digest = hashlib.sha256()
    try:
        for image_id, path in list_images(source):
            st = path.stat()
            digest.update(f"{image_id}\0{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
    except (DMTError, OSError) as e:
        digest.update(f"error\0{e}".encode())
    return "sha256:" + digest.hexdigest()[:16]


def _size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header; a file that is unreadable, not an image or over
    the pixel budget (dmt.data.images.open_image) is named here, before any work."""
    from dmt.data.images import open_image

    with open_image(path) as image:
        return image.height, image.width


class ImageFiles:
    """Items shaped as dmt.models.inference expects (image uint8 [3, H, W], target all 255, id); with
    ``size`` (height, width) each image is resized to it (classification). A map-style data set
    for torch's DataLoader (``__len__``, ``__getitem__``)."""

    def __init__(self, items: list[tuple[str, Path]], size=None):
        self.items, self.size = items, size
        self.ids = [image_id for image_id, _ in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        import numpy as np
        import torch
        from PIL import Image

        from dmt.data.voc import read_image

        image_id, path = self.items[index]
        image = read_image(path)
        if self.size is not None:
            h, w = self.size
            image = np.array(Image.fromarray(image).resize((w, h), Image.BILINEAR))  # writable
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        target = (torch.tensor(IGNORE_INDEX) if self.size is not None
                  else torch.full(tensor.shape[-2:], IGNORE_INDEX, dtype=torch.uint8))
        return {"image": tensor, "target": target, "id": image_id}


def output_files(items, task: str, confidence: bool = False, overlay: bool = False) -> list[str]:
    """The files (relative to ``out``) a run on ``items`` writes, besides predictions.json."""
    return task_of(task).prediction_files(items, confidence, overlay)


def mask_files(items, confidence: bool, overlay: bool) -> list[str]:
    """Segmentation: a mask per image, and its confidence map and overlay where asked for."""
    ids = [image_id for image_id, _ in items]
    return ([f"{i}.png" for i in ids] + [f"confidence/{i}.npy" for i in ids if confidence]
            + [f"overlay/{i}.jpg" for i in ids if overlay])


def _refuse_inputs_in(out: Path, source, items, files: list[str]) -> None:
    """An --out that would replace an input: one holding an image or the list file (the same
    folder, a folder above them, a link to them), or an output path that leads to one."""
    root = out.resolve()
    inputs = {path.resolve(): path for _, path in items}
    if Path(source).is_file():
        inputs[Path(source).resolve()] = Path(source)
    for resolved, given in inputs.items():
        if resolved == root or root in resolved.parents:
            raise DMTError(f"--out {out} holds the input {given}: predictions written there could "
                           f"replace it; give an --out folder outside the images")
    for name in [*files, RECORD]:
        resolved = (out / name).resolve()
        if resolved in inputs:
            raise DMTError(f"the output {out / name} is the input {inputs[resolved]} (through a link): "
                           f"give another --out folder")


def _recorded(out: Path) -> set[str]:
    """The files a previous run recorded in ``{out}/predictions.json``; none without one."""
    try:
        record = json.loads((out / RECORD).read_text())
    except (OSError, ValueError):  # absent, unreadable, not JSON (UnicodeDecodeError included)
        return set()
    files = record.get("files") if isinstance(record, dict) else None
    return {f for f in files if isinstance(f, str) and _OWN.fullmatch(f)} if isinstance(files, list) else set()


def _first_foreign(out: Path, own: set[str]) -> tuple[Path | None, list[Path]]:
    """The first entry of ``out`` that predict did not write (not in ``own``, not its record,
    not one of its subfolders), and the temporaries a killed run left of its own files."""
    temporaries = []
    for folder, dirs, names in os.walk(out):
        here = Path(folder)
        rel = here.relative_to(out)
        for name in sorted(dirs):  # a link to a folder is listed here, never entered
            if rel.parts or name not in SUBFOLDERS or (here / name).is_symlink():
                return here / name, temporaries
        for name in sorted(names):
            key = (rel / name).as_posix()
            if key in own or (not rel.parts and name in (RECORD, *_MARKS)):
                continue
            temporary = _TEMPORARY.fullmatch(name)
            if temporary and (rel / temporary.group(1)).as_posix() in own | {RECORD}:
                temporaries.append(here / name)
                continue
            return here / name, temporaries
    return None, temporaries


def claim_output(out, source, items, files: list[str]) -> set[str]:
    """Make ``out`` this run's before any work: refuse an output that would replace an input
    or a file predict did not write; then record (``complete: false``) the files of the
    previous run and of this one, so that a run stopped half-way leaves none unrecorded.
    Returns the previous run's files, for ``finish_output``."""
    out = Path(out)
    _refuse_inputs_in(out, source, items, files)
    if out.exists() and not out.is_dir():
        raise DMTError(f"--out {out} is a file; predictions go into a folder: give a folder's path")
    previous = _recorded(out) if out.is_dir() else set()
    if out.is_dir():
        foreign, temporaries = _first_foreign(out, previous)
        if foreign is not None:
            why = (f"it is not among the files {out / RECORD} records" if (out / RECORD).is_file()
                   else f"there is no {RECORD}, predict's record of the files it wrote")
            raise DMTError(f"--out {out} holds {foreign}, which predict did not write ({why}): predict "
                           f"replaces only its own files; give a new or empty --out folder, or move it away")
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
            log.info("removed %s, left by a killed run", temporary)
    write_json(out / RECORD, {"complete": False, "files": sorted(previous | set(files))})
    return previous


def finish_output(out, previous: set[str], files: list[str], summary: dict) -> dict:
    """Remove what the previous run wrote and this one did not (and subfolders left empty);
    then the summary, recording this run's files, as ``{out}/predictions.json``, written last."""
    out = Path(out)
    for name in sorted(previous - set(files)):
        (out / name).unlink(missing_ok=True)
    for name in SUBFOLDERS:
        with contextlib.suppress(OSError):  # not there, or holds this run's files
            (out / name).rmdir()
    summary = {**summary, "complete": True, "files": sorted(files)}
    write_json(out / RECORD, summary)
    return summary


def _save_npy(path: Path, array) -> None:
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a handle: np.save would append .npy
        np.save(f, array)


def _save_overlay(path: Path, image, colors) -> None:
    import numpy as np
    from PIL import Image

    blend = (0.5 * image.astype(np.float32) + 0.5 * colors.astype(np.float32)).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(blend).save(tmp, format="JPEG", quality=90)


def predict_masks(model, meta: dict, items, out, device, *, batch_size: int = 8, pad_to=None,
                  confidence: bool = False, overlay: bool = False, amp: bool = True,
                  num_workers: int = 0, window=None) -> dict:
    """Masks (and optional confidence maps, overlays) of ``items`` under ``out``, batched in the
    order given (run_predict: by size); the summary. ``window``: a dmt.models.windows.Window;
    None: the one the model was exported with (its meta's ``window`` and ``stride``), else whole images."""
    import numpy as np

    from dmt.data.voc import read_image, write_mask_png
    from dmt.deliver.export import flat_palette
    from dmt.models.inference import predict
    from dmt.models.windows import Window

    out = Path(out)
    pad_to = list(meta.get("pad_to", [0, 0]) if pad_to is None else pad_to)
    window = Window.of(meta.get("window"), meta.get("stride")) if window is None else window
    names = meta["class_names"]
    palette = flat_palette(meta["palette"])
    colors = np.asarray(palette, dtype=np.uint8).reshape(256, 3)
    paths = dict(items)
    pixels = np.zeros(len(names), dtype=np.int64)
    for batch in predict(model, ImageFiles(items), device, batch_size, pad_to, num_workers, amp,
                         desc="predict", window=window):
        for image_id, label, conf, _ in batch.labels_and_confidences():
            if not np.isfinite(conf).all():
                raise DMTError(f"the model gave non-finite outputs for {paths[image_id]} (NaN weights?)")
            write_mask_png(out / f"{image_id}.png", label, palette)
            pixels += np.bincount(label.ravel(), minlength=len(names))[: len(names)]
            if confidence:
                _save_npy(out / "confidence" / f"{image_id}.npy", conf)
            if overlay:
                _save_overlay(out / "overlay" / f"{image_id}.jpg", read_image(paths[image_id]), colors[label])
    shown = {"window": list(window.size), "stride": list(window.stride)} if window else {}
    return {"images": len(items), "pad_to": pad_to, **shown, "confidence": confidence, "overlay": overlay,
            "class_pixel_share": dict(zip(names, (pixels / max(pixels.sum(), 1)).round(6).tolist(), strict=False))}


def predict_classes(model, meta: dict, items, out, device, *, batch_size: int = 256, amp: bool = True,
                    num_workers: int = 0) -> dict:
    """``{out}/predictions.csv`` (id, class_index, class, probability) of ``items``; the summary."""
    import numpy as np

    from dmt.models.inference import predict_probs

    names = meta["class_names"]
    ids, probs, _ = predict_probs(model, ImageFiles(items, size=meta["image_size"]), device, batch_size,
                                  amp, num_workers, desc="predict")
    if not np.isfinite(probs).all():
        raise DMTError("the model gave non-finite outputs (NaN weights?)")
    labels, top = probs.argmax(axis=1), probs.max(axis=1)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["id", "class_index", "class", "probability"])
    for image_id, label, p in zip(ids, labels, top, strict=False):
        writer.writerow([image_id, int(label), names[label], f"{p:.6f}"])
    write_text(Path(out) / "predictions.csv", text.getvalue())
    counts = np.bincount(labels, minlength=len(names))
    return {"images": len(ids), "image_size": meta["image_size"],
            "class_counts": dict(zip(names, counts.tolist(), strict=False))}


def run_predict(model, meta: dict, source, out, device, *, batch_size: int = 8, pad_to=None,
                confidence: bool = False, overlay: bool = False, amp: bool = True,
                num_workers: int = 0, window=None) -> dict:
    """Predict every image of ``source`` (see list_images) into ``out``; writes and returns the
    summary (``{out}/predictions.json``), with where the model came from."""
    items = list_images(source)
    common = {"batch_size": batch_size, "amp": amp, "num_workers": num_workers}
    task = task_of(meta["task"])
    task.check_predict_options(confidence, overlay, pad_to, window)
    # Every header read before any work: an unreadable or oversized image is named now.
    sizes = {image_id: _size(path) for image_id, path in items}
    files = output_files(items, meta["task"], confidence, overlay)
    previous = claim_output(out, source, items, files)
    summary = task.predict_images(model, meta, items, sizes, out, device, pad_to=pad_to, confidence=confidence,
                                  overlay=overlay, window=window, **common)
    summary = {"task": meta["task"], "origin": meta["origin"], "source": str(source), **summary}
    return finish_output(out, previous, files, summary)
