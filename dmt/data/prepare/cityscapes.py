"""Cityscapes (leftImg8bit + gtFine) -> one VOC-layout folder at half resolution, 19 train ids.

The paper trains on Cityscapes down-sampled by 2 (1024x2048 -> 512x1024) with the standard 19
classes. Images are resized with bilinear filtering and written as lossless PNGs (a JPEG round
trip would change the pixels); gtFine labelIds are mapped to train ids (other ids -> 255 ignore)
and resized with nearest neighbour, so no label is ever blended with another. The output is in
PASCAL VOC layout with train.txt and val.txt, checked throughout, and appears only once complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dmt import IGNORE_INDEX
from dmt.data import prepared
from dmt.data.registry import CITYSCAPES_CLASSES
from dmt.data.voc import read_image, read_mask, write_mask_png
from dmt.errors import DMTError
from dmt.store.atomic import write_lines

NUM_LABEL_IDS = 34  # gtFine labelIds 0-33; license plates (-1) are never drawn into them
SPLITS = ("train", "val")  # test has no public labels
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


def _label_to_train_id() -> np.ndarray:
    # labelIds of the 19 evaluated classes, in train-id order (cityscapesscripts' labels.py).
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    for train_id, label_id in enumerate((7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26,
                                         27, 28, 31, 32, 33)):
        lut[label_id] = train_id
    lut.setflags(write=False)
    return lut


LABEL_TO_TRAIN_ID = _label_to_train_id()  # index with a labelIds array to get train ids


def find_images(root: Path, split: str) -> list[Path]:
    """The split's images, sorted; an error says which folder or files were expected where."""
    folder = root / "leftImg8bit" / split
    expected = f"expected {folder}/<city>/*{IMAGE_SUFFIX}"
    if not folder.is_dir():
        raise DMTError(f"cityscapes_root {root} lacks leftImg8bit/{split} ({expected})")
    if not (root / "gtFine" / split).is_dir():
        raise DMTError(f"cityscapes_root {root} lacks gtFine/{split} (expected "
                       f"{root}/gtFine/{split}/<city>/*{LABEL_SUFFIX})")
    images = sorted(folder.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise DMTError(f"cityscapes_root {root} has no {split} images ({expected})")
    return images


def read_label_ids(path) -> np.ndarray:
    """Cityscapes labelIds uint8 [H, W] from an 8-bit greyscale PNG, checked to be 0-33 or 255."""
    return read_mask(path, NUM_LABEL_IDS, what="labelIds", unit="label")


def prepare_cityscapes(cityscapes_root, out_root, scale: float = 0.5) -> dict:
    root, out_root = Path(cityscapes_root), Path(out_root)
    if not root.is_dir():
        raise DMTError(f"cityscapes_root {root} does not exist (expected the folder holding "
                       f"leftImg8bit/{{train,val}}/<city>/*{IMAGE_SUFFIX} and "
                       f"gtFine/{{train,val}}/<city>/*{LABEL_SUFFIX})")
    if not scale > 0:
        raise DMTError(f"scale must be positive, not {scale}")
    images = {split: find_images(root, split) for split in SPLITS}
    ids = {split: [p.name[: -len(IMAGE_SUFFIX)] for p in paths] for split, paths in images.items()}
    all_ids = [i for split in SPLITS for i in ids[split]]
    if len(set(all_ids)) != len(all_ids):  # same file name in two city folders: one would be lost
        raise DMTError(f"cityscapes_root {root} has duplicate image names across city folders")
    params = {"cityscapes_root": str(root.resolve()), "scale": scale}
    done = prepared.existing(out_root, params, "Cityscapes")
    if done is not None:
        return done

    with prepared.building(out_root) as tmp:
        class_pixels = np.zeros(256, np.int64)
        sizes = set()
        todo = [(split, path, i) for split in SPLITS for path, i in zip(images[split], ids[split], strict=False)]
        for split, path, image_id in tqdm(todo, desc="prepare cityscapes", unit="image", mininterval=5):
            label_path = root / "gtFine" / split / path.parent.name / f"{image_id}{LABEL_SUFFIX}"
            if not label_path.is_file():
                raise DMTError(f"image {path} has no gtFine labels: expected {label_path}")
            image = read_image(path)  # decodes fully: a truncated PNG stops here
            label = LABEL_TO_TRAIN_ID[read_label_ids(label_path)]  # checked at full size
            h, w = image.shape[:2]
            if label.shape != (h, w):
                raise DMTError(f"{image_id}: labels {label.shape} and image {(h, w)} differ in size")
            size = (round(w * scale), round(h * scale))  # PIL order: width, height
            if min(size) < 1:
                raise DMTError(f"{image_id}: scale {scale} leaves no pixels of a {h}x{w} image")
            Image.fromarray(image).resize(size, Image.BILINEAR).save(tmp / "JPEGImages" / f"{image_id}.png")
            label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
            write_mask_png(tmp / "SegmentationClass" / f"{image_id}.png", label)
            sizes.add((size[1], size[0]))
            if split == "train":
                class_pixels += np.bincount(label.ravel(), minlength=256)
        for split in SPLITS:
            write_lines(tmp / "ImageSets/Segmentation" / f"{split}.txt", sorted(ids[split]))
        labelled = max(int(class_pixels[: len(CITYSCAPES_CLASSES)].sum()), 1)
        # Lists and plain numbers only: a reused folder returns this summary read back from JSON.
        summary = {
            "params": params,
            "counts": {split: len(ids[split]) for split in SPLITS},
            "sizes": [list(s) for s in sorted(sizes)],
            "train_class_share": {name: round(int(class_pixels[k]) / labelled, 6)
                                  for k, name in enumerate(CITYSCAPES_CLASSES)},
        }
        prepared.finish(tmp, summary)
    return summary
