"""PASCAL VOC 2012 + SBD -> one VOC-layout folder with the standard train_aug / val lists.

train_aug (10,582 ids on the real data) is SBD train + SBD val + VOC train, minus VOC val; val is
VOC val (1,449). Masks come from VOC's SegmentationClass where VOC has one (it marks object
borders 255), else from SBD's ``cls/*.mat`` (GTcls.Segmentation), converted to palette PNGs.
Images are linked, not copied. Everything is checked (class ids 0-20 or 255, readable files)
and the folder appears only once complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dmt import IGNORE_INDEX
from dmt.data import prepared
from dmt.data.registry import VOC_CLASSES
from dmt.data.voc import read_id_file, read_image, read_mask, write_mask_png
from dmt.errors import DMTError
from dmt.store.atomic import write_lines

NUM_CLASSES = len(VOC_CLASSES)


def find_voc(root) -> Path:
    """The VOC2012 folder under ``root`` (root itself, root/VOC2012 or root/VOCdevkit/VOC2012)."""
    root = Path(root)
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            needed = ["SegmentationClass", "ImageSets/Segmentation/train.txt",
                      "ImageSets/Segmentation/val.txt"]
            missing = [n for n in needed if not (candidate / n).exists()]
            if missing:
                raise DMTError(f"voc_root {root}: {candidate} lacks {', '.join(missing)}")
            return candidate
    raise DMTError(f"voc_root {root} does not hold VOC2012/JPEGImages (expected "
                   f"<voc_root>/JPEGImages, <voc_root>/VOC2012/JPEGImages or "
                   f"<voc_root>/VOCdevkit/VOC2012/JPEGImages)")


def find_sbd(root) -> Path:
    """The SBD ``dataset`` folder (holding cls/*.mat, img/, train.txt, val.txt) under ``root``."""
    root = Path(root)
    for candidate in (root, root / "dataset", root / "benchmark_RELEASE" / "dataset"):
        if (candidate / "cls").is_dir():
            missing = [n for n in ("train.txt", "val.txt") if not (candidate / n).is_file()]
            if missing:
                raise DMTError(f"sbd_root {root}: {candidate} lacks {', '.join(missing)}")
            if not any((candidate / "cls").glob("*.mat")):
                raise DMTError(f"sbd_root {root}: {candidate / 'cls'} holds no .mat files")
            return candidate
    raise DMTError(f"sbd_root {root} does not hold benchmark_RELEASE/dataset/cls/*.mat (expected "
                   f"<sbd_root>/cls, <sbd_root>/dataset/cls or <sbd_root>/benchmark_RELEASE/dataset/cls)")


def read_sbd_mask(path) -> np.ndarray:
    from scipy.io import loadmat

    try:
        mask = loadmat(path)["GTcls"][0]["Segmentation"][0]
    except FileNotFoundError:
        raise DMTError(f"SBD mask {path} does not exist") from None
    except (KeyError, IndexError, ValueError, OSError, TypeError) as e:
        raise DMTError(f"SBD mask {path} is not a GTcls .mat struct ({e})") from None
    mask = np.asarray(mask)
    bad = np.unique(mask[(mask >= NUM_CLASSES) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise DMTError(f"SBD mask {path} has class ids {bad.tolist()[:10]}; expected 0-20 or 255")
    return mask.astype(np.uint8)


def prepare_voc(voc_root, sbd_root, out_root) -> dict:
    voc, sbd = find_voc(voc_root), find_sbd(sbd_root)
    out_root = Path(out_root)
    params = {"voc_root": str(voc.resolve()), "sbd_root": str(sbd.resolve())}
    done = prepared.existing(out_root, params, "VOC + SBD")
    if done is not None:
        return done

    voc_train = read_id_file(voc / "ImageSets/Segmentation/train.txt")
    val = read_id_file(voc / "ImageSets/Segmentation/val.txt")
    sbd_ids = read_id_file(sbd / "train.txt") + read_id_file(sbd / "val.txt")
    val_set = set(val)
    train_aug = sorted(set(sbd_ids + voc_train) - val_set)

    with prepared.building(out_root) as tmp:
        sources = {"voc_masks": 0, "sbd_masks": 0}
        for image_id in tqdm(train_aug + val, desc="prepare voc", unit="image", mininterval=5):
            image = voc / "JPEGImages" / f"{image_id}.jpg"
            if not image.is_file():
                image = sbd / "img" / f"{image_id}.jpg"
            shape = read_image(image).shape[:2]  # decodes fully: a truncated JPEG stops here
            voc_mask = voc / "SegmentationClass" / f"{image_id}.png"
            if voc_mask.is_file():
                mask = read_mask(voc_mask, NUM_CLASSES)
                sources["voc_masks"] += 1
            elif image_id in val_set:
                raise DMTError(f"VOC val id {image_id} has no mask {voc_mask}")
            else:
                mask = read_sbd_mask(sbd / "cls" / f"{image_id}.mat")
                sources["sbd_masks"] += 1
            if mask.shape != shape:
                raise DMTError(f"{image_id}: mask {mask.shape} and image {shape} differ in size")
            os.symlink(image.resolve(), tmp / "JPEGImages" / f"{image_id}.jpg")
            write_mask_png(tmp / "SegmentationClass" / f"{image_id}.png", mask)
        write_lines(tmp / "ImageSets/Segmentation/train_aug.txt", train_aug)
        write_lines(tmp / "ImageSets/Segmentation/train.txt", sorted(set(voc_train) - val_set))
        write_lines(tmp / "ImageSets/Segmentation/val.txt", val)
        summary = {"params": params, "counts": {"train_aug": len(train_aug), "val": len(val),
                                                "voc_train": len(voc_train)}, **sources}
        prepared.finish(tmp, summary)
    return summary
