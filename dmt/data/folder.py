"""Your own data: a few images with masks, many without, and a validation set.

    {root}/classes.yaml                 class names in index order, optional colours
    {root}/labeled/images/{id}.jpg|png  + {root}/labeled/masks/{id}.png   (every image has one)
    {root}/unlabeled/images/{id}.jpg|png                                  (no masks)
    {root}/val/images/{id}.jpg|png      + {root}/val/masks/{id}.png

An id is a file name without its extension (NFC-normalised: a name typed on macOS matches the
same name written on Linux), unique across the three sets. Masks are single-channel PNGs
(greyscale or palette: the pixel values are the class indices, not colours), 255 where a pixel is
not labeled, unless ``classes.yaml`` maps pixel values to classes (``mask_values``). Images are
JPEG or PNG of any mode (dmt.data.images), read as displayed: an EXIF orientation is applied.

``prepare_folder`` checks every file and writes the VOC layout the readers take
(``dmt.data.voc``): images as lossless PNG (one extension for the reader, the user's pixels
unchanged), masks as palette PNG, the lists ``labeled``, ``unlabeled``, ``train`` (both) and
``val``, and a normalised ``classes.yaml``. ``scan`` is the cheap part (file names only, no
decoding) that the experiment plan runs at configuration time for the class names and set sizes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from dmt import IGNORE_INDEX
from dmt.errors import DMTError

log = logging.getLogger(__name__)

CLASSES_FILE = "classes.yaml"
SETS = ("labeled", "unlabeled", "val")
MASKED = {"labeled": True, "unlabeled": False, "val": True}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = ("{root}/classes.yaml, {root}/labeled/images + labeled/masks, {root}/unlabeled/images, "
          "{root}/val/images + val/masks")
CLASSES_EXAMPLE = "classes: [background, {name: cat, color: [255, 0, 0]}, dog]"
CLASSES_KEYS = ("classes", "ignore_index", "mask_values")


@dataclass(frozen=True)
class Classes:
    names: tuple[str, ...]
    # RGB per class where classes.yaml gives one, else None (predicted masks then use VOC's colour).
    colors: tuple[tuple[int, int, int] | None, ...]
    # (pixel value, class index) pairs where classes.yaml maps mask values to classes (binary
    # masks: 0 background, 255 object); empty: pixel values are the class indices.
    mask_values: tuple[tuple[int, int], ...] = ()

    def values(self) -> dict[int, int] | None:
        """Pixel value -> class index for ``read_mask``, or None where the values are the indices."""
        return dict(self.mask_values) if self.mask_values else None

    def to_yaml(self) -> dict:
        return {"classes": [{"name": n, **({"color": list(c)} if c else {})}
                            for n, c in zip(self.names, self.colors, strict=False)],
                "ignore_index": IGNORE_INDEX}


def _bad_classes(path: Path, why: str) -> DMTError:
    return DMTError(f"{path}: {why}; expected e.g. `{CLASSES_EXAMPLE}`")


def read_classes(path) -> Classes:
    """Class names and colours from a ``classes.yaml``, checked; every problem one DMTError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DMTError(f"{path} does not exist: the data set's class names go there, one per class "
                       f"index (e.g. `{CLASSES_EXAMPLE}`)")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise DMTError(f"{path} is not readable YAML ({' '.join(str(e).split())})") from None
    if not isinstance(data, dict) or "classes" not in data:
        raise _bad_classes(path, "no `classes:` list")
    unknown = sorted(set(map(str, data)) - set(CLASSES_KEYS))
    if unknown:
        raise _bad_classes(path, f"unknown keys {unknown} (classes.yaml takes {', '.join(CLASSES_KEYS)})")
    if data.get("ignore_index", IGNORE_INDEX) != IGNORE_INDEX:
        raise _bad_classes(path, f"ignore_index {data['ignore_index']!r}: masks mark unlabeled pixels "
                                 f"{IGNORE_INDEX}, the only ignore index supported")
    entries = data["classes"]
    if not isinstance(entries, list) or not 2 <= len(entries) <= IGNORE_INDEX:
        count = len(entries) if isinstance(entries, list) else type(entries).__name__
        raise _bad_classes(path, f"`classes` must list 2 to {IGNORE_INDEX} classes (got {count})")
    names, colors = [], []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            extra = sorted(set(map(str, entry)) - {"name", "color"})
            if extra:
                raise _bad_classes(path, f"class {index} has unknown keys {extra} (a class takes name and color)")
            name, color = entry.get("name"), entry.get("color")
        else:
            name, color = entry, None
        if not isinstance(name, str) or not name.strip():
            raise _bad_classes(path, f"class {index} has no name (got {name!r})")
        if color is not None and not (isinstance(color, list) and len(color) == 3 and all(
                type(v) is int and 0 <= v <= 255 for v in color)):
            raise _bad_classes(path, f"class {index} ({name}) has colour {color!r}; a colour is [R, G, B], "
                                     f"each 0-255")
        names.append(name.strip())
        colors.append(tuple(color) if color is not None else None)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _bad_classes(path, f"class names {duplicates} appear more than once")
    mask_values = _read_mask_values(path, data.get("mask_values"), names)
    return Classes(tuple(names), tuple(colors), mask_values)


def _read_mask_values(path: Path, given, names: list[str]) -> tuple[tuple[int, int], ...]:
    """classes.yaml's ``mask_values`` (pixel value -> class name) as (value, index) pairs, checked:
    values 0-255, names of listed classes, exactly one value per class."""
    if given is None:
        return ()
    example = f"e.g. `mask_values: {{0: {names[0]}, 255: {names[1]}}}`"
    if not isinstance(given, dict) or not given:
        raise DMTError(f"{path}: mask_values maps pixel values to class names, {example}")
    bad = [k for k in given if type(k) is not int or not 0 <= k <= 255]
    if bad:
        raise DMTError(f"{path}: mask_values has keys {bad[:5]}; its keys are pixel values 0-255, {example}")
    unknown = sorted({str(v) for v in given.values() if v not in names})
    if unknown:
        raise DMTError(f"{path}: mask_values names {unknown}, which are not classes of `classes:` {names}")
    twice = sorted({v for v in given.values() if list(given.values()).count(v) > 1})
    if twice:
        raise DMTError(f"{path}: mask_values gives class {twice[0]!r} several pixel values "
                       f"({sorted(k for k, v in given.items() if v == twice[0])}); give each class one value")
    absent = [n for n in names if n not in given.values()]
    if absent:
        raise DMTError(f"{path}: mask_values gives no pixel value to class(es) {absent}; every class "
                       f"needs one, or its pixels could never appear")
    return tuple(sorted((value, names.index(name)) for value, name in given.items()))


@dataclass(frozen=True)
class Item:
    id: str
    image: Path
    mask: Path | None


@dataclass(frozen=True)
class Layout:
    root: Path
    classes: Classes
    sets: dict[str, list[Item]]
    # Digest of every file's name, size and mtime: a change to the folder shows in it.
    fingerprint: str

    def counts(self) -> dict[str, int]:
        return {name: len(items) for name, items in self.sets.items()}


def _entries(folder: Path) -> list[Path]:
    """The files of ``folder``, sorted; an unreadable folder is an error naming it."""
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise DMTError(f"{folder} cannot be read ({e.strerror or e}); give dmt read access to it") from None


def _listing(folder: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """id -> file of ``folder``; hidden files skipped, anything else that is not a ``suffixes``
    file (a folder, a .txt, a .tif, a dangling link) is an error, as are two files of one id.
    Ids are NFC-normalised, so that names differing only in their Unicode form are one id."""
    if not folder.is_dir():
        raise DMTError(f"{folder} does not exist; a folder data set has {LAYOUT}")
    found: dict[str, Path] = {}
    for path in _entries(folder):
        if path.name.startswith("."):
            continue
        if path.is_symlink() and not path.exists():
            raise DMTError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; "
                           f"remove the link or restore the file it points to")
        if path.is_dir() or path.suffix.lower() not in suffixes:
            kind = "a folder" if path.is_dir() else "not a " + " or ".join(suffixes) + " file"
            raise DMTError(f"{path} is {kind}; {folder} holds only {what}s ({', '.join(suffixes)})")
        image_id = unicodedata.normalize("NFC", path.stem)
        if image_id != image_id.strip() or any(ch in image_id for ch in "\n\r\t"):
            raise DMTError(f"{path}: an id (file name without extension) must not begin or end with "
                           f"spaces nor hold tabs or line breaks")
        if image_id in found:
            same = "" if found[image_id].stem == path.stem else " (the same name in two Unicode forms)"
            raise DMTError(f"duplicate id {image_id!r} in {folder}: {found[image_id].name} and {path.name}{same}")
        found[image_id] = path
    return found


def _fingerprint(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        try:
            stat = path.stat()
        except OSError as e:  # removed, or its folder made unreadable, since it was listed
            raise DMTError(f"{path} cannot be read ({e.strerror or e})") from None
        h.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "sha256:" + h.hexdigest()[:16]


def scan(root) -> Layout:
    """The folder's classes and files, from names alone: missing folders or masks, masks without
    an image, duplicate ids and empty sets are errors naming the file. Decoding is for
    ``prepare_folder``."""
    root = Path(root)
    if not root.is_dir():
        raise DMTError(f"folder_root {root} does not exist; a folder data set has {LAYOUT}")
    classes = read_classes(root / CLASSES_FILE)
    sets: dict[str, list[Item]] = {}
    owner: dict[str, Path] = {}
    files = [root / CLASSES_FILE]
    for name in SETS:
        images_dir = root / name / "images"
        images = _listing(images_dir, IMAGE_SUFFIXES, "image")
        if not images:
            raise DMTError(f"{images_dir} holds no images (.jpg, .jpeg or .png): the {name} set is empty")
        for image_id, path in images.items():
            if image_id in owner:
                raise DMTError(f"duplicate id {image_id!r}: {owner[image_id]} and {path}; ids (file names "
                               f"without extension) must be unique across labeled, unlabeled and val")
            owner[image_id] = path
        masks_dir = root / name / "masks"
        masks: dict[str, Path] = {}
        if MASKED[name]:
            masks = _listing(masks_dir, (".png",), "mask")
            missing = [i for i in images if i not in masks]
            if missing:
                raise DMTError(f"{images[missing[0]]} has no mask {masks_dir / (missing[0] + '.png')} "
                               f"({len(missing)} {name} images lack one); every {name} image needs its mask")
            orphans = [i for i in masks if i not in images]
            if orphans:
                raise DMTError(f"mask {masks[orphans[0]]} has no image {images_dir / orphans[0]}.jpg|.png "
                               f"({len(orphans)} such masks)")
        elif masks_dir.exists():
            raise DMTError(f"{masks_dir} exists, but unlabeled images have no masks: move the images that "
                           f"have masks, with them, to {root / 'labeled'}")
        sets[name] = [Item(i, images[i], masks.get(i)) for i in images]
        files += list(images.values()) + list(masks.values())
    return Layout(root, classes, sets, _fingerprint(root, files))


def inspect(folder_root) -> dict:
    """What the experiment plan needs before preparation: class names, set sizes (``train`` is
    labeled + unlabeled, the list the split partitions) and the fingerprint of the files."""
    layout = scan(folder_root)
    counts = layout.counts()
    return {"class_names": list(layout.classes.names), "train": counts["labeled"] + counts["unlabeled"],
            **counts, "fingerprint": layout.fingerprint}


def _size_error(item: Item, mask_shape, image_shape) -> DMTError:
    (mh, mw), (ih, iw) = mask_shape, image_shape
    hint = (" (transposed: was the mask drawn on a rotated copy? masks must match the image as "
            "displayed, its EXIF orientation applied)" if (mh, mw) == (iw, ih) else "")
    return DMTError(f"mask {item.mask} is {mw}x{mh} but its image {item.image} is {iw}x{ih}{hint}")


def _check_fit(item: Item, mask_shape, shown_shape, tag: int) -> None:
    """The mask must match the image as displayed (EXIF orientation ``tag`` applied). Where the
    tag moves pixels but the mask would also fit the stored layout (a square photo, a 180-degree
    turn), which one it was drawn on cannot be told: refused rather than trained on a guess."""
    from dmt.data.images import (
        MOVING_ORIENTATIONS,
        TRANSPOSING_ORIENTATIONS,
        describe_orientation,
    )

    if tag not in MOVING_ORIENTATIONS:
        if mask_shape != shown_shape:
            raise _size_error(item, mask_shape, shown_shape)
        return
    stored = shown_shape[::-1] if tag in TRANSPOSING_ORIENTATIONS else shown_shape
    turned = f"carries EXIF orientation {tag} ({describe_orientation(tag)} for display, as dmt reads it)"
    fix = ("remove the tag (e.g. `exiftool -Orientation= -n FILE`) if the mask matches the stored "
           "pixels, or save the image with its pixels turned (e.g. `mogrify -auto-orient FILE`) if "
           "it matches the displayed ones")
    if mask_shape == shown_shape == stored:
        raise DMTError(f"image {item.image} {turned} and its mask {item.mask} fits both the stored and "
                       f"the displayed pixels, so which one it was drawn on cannot be checked: {fix}")
    if mask_shape == stored:
        (h, w), (sh, sw) = mask_shape, shown_shape
        raise DMTError(f"mask {item.mask} is {w}x{h}, the stored pixels of {item.image}, but the image "
                       f"{turned} is {sw}x{sh}: turn the mask likewise, or {fix.split(', or ')[0]}")
    if mask_shape != shown_shape:
        raise _size_error(item, mask_shape, shown_shape)


def _prepare_item(tmp: Path, item: Item, classes: Classes):
    """Write one image (as RGB PNG) and its mask (class ids) into the VOC layout under ``tmp``;
    returns the mask's pixel counts per value (256), or None for an image without a mask."""
    import numpy as np
    from PIL import Image

    from dmt.data.images import read_rgb
    from dmt.data.voc import read_mask, write_mask_png

    image, tag = read_rgb(item.image)  # decodes fully: a truncated file stops here, named
    Image.fromarray(image).save(tmp / "JPEGImages" / f"{item.id}.png")
    if item.mask is None:
        return None
    mask = read_mask(item.mask, len(classes.names), values=classes.values())
    _check_fit(item, mask.shape, image.shape[:2], tag)
    write_mask_png(tmp / "SegmentationClass" / f"{item.id}.png", mask)
    return np.bincount(mask.ravel(), minlength=256)


def _check_labeled_classes(layout: Layout, counts) -> None:
    """Every class must have labeled pixels: one no labeled mask shows cannot be learnt. Masks of
    only 0 and 255 are the common binary form whose 255 is the object, not "not labeled": that
    case says which ``mask_values`` line maps it."""
    names = layout.classes.names
    missing = [name for name, count in zip(names, counts, strict=False) if count == 0]
    if not missing:
        return
    where, yaml_file = layout.root / "labeled" / "masks", layout.root / CLASSES_FILE
    only_binary = not layout.classes.mask_values and counts[1:len(names)].sum() == 0 and counts[IGNORE_INDEX] > 0
    if only_binary:
        raise DMTError(f"the labeled masks in {where} hold only the pixel values 0 and {IGNORE_INDEX}, and "
                       f"{IGNORE_INDEX} means not labeled, so class(es) {missing} never appear; if "
                       f"{IGNORE_INDEX} marks {names[1]}, add to {yaml_file}: "
                       f"`mask_values: {{0: {names[0]}, {IGNORE_INDEX}: {names[1]}}}`")
    raise DMTError(f"class(es) {missing} of {yaml_file} have no labeled pixel in {where}: a class the "
                   f"labeled masks never show cannot be learnt; label some of its pixels or remove it "
                   f"from the classes")


def _shares(names, counts) -> dict[str, float]:
    counts = counts[:len(names)]
    return dict(zip(names, (counts / max(counts.sum(), 1)).round(4).tolist(), strict=False))


def prepare_folder(folder_root, out_root, fingerprint: str | None = None) -> dict:
    """Check every file of the folder data set at ``folder_root`` and write it in the VOC layout
    under ``out_root`` (built beside it and renamed once complete); returns the summary.

    Reuses a complete folder made from the same files; one made from others is an error.
    ``fingerprint``: what the workflow planned with (``scan``); a folder changed since is an error."""
    import numpy as np
    import yaml
    from tqdm import tqdm

    from dmt.data import prepared
    from dmt.store.atomic import write_lines

    layout = scan(folder_root)
    if fingerprint is not None and fingerprint != layout.fingerprint:
        raise DMTError(f"{layout.root} changed after the workflow planned its preparation (files added, "
                       f"removed or edited); run the workflow again")
    out_root = Path(out_root)
    params = {"folder_root": str(layout.root.resolve()), "fingerprint": layout.fingerprint}
    done = prepared.existing(out_root, params, "folder data set")
    if done is not None:
        return done
    names = layout.classes.names
    with prepared.building(out_root) as tmp:
        pixels = {name: np.zeros(256, dtype=np.int64) for name in MASKED if MASKED[name]}
        items = [(name, item) for name in SETS for item in layout.sets[name]]
        for name, item in tqdm(items, desc="prepare folder", unit="image", mininterval=5):
            counts = _prepare_item(tmp, item, layout.classes)
            if counts is not None:
                pixels[name] += counts
        _check_labeled_classes(layout, pixels["labeled"])
        # A class val never shows is left out of the mIoU (dmt.evaluation.metrics): said here, not silently.
        absent = [n for n, count in zip(names, pixels["val"], strict=False) if count == 0]
        if absent:
            log.warning("class(es) %s have no pixel in %s: the val mIoU cannot score them", absent,
                        layout.root / "val" / "masks")
        lists = {name: [item.id for item in layout.sets[name]] for name in SETS}
        lists["train"] = sorted(lists["labeled"] + lists["unlabeled"])
        for name, ids in lists.items():
            write_lines(tmp / "ImageSets" / "Segmentation" / f"{name}.txt", ids)
        (tmp / CLASSES_FILE).write_text(yaml.safe_dump(layout.classes.to_yaml(), sort_keys=False))
        summary = {
            "params": params,
            "counts": {name: len(ids) for name, ids in lists.items()},
            "class_names": list(names),
            # Classes no labeled mask shows cannot be learnt; the share tells the user early.
            "labeled_pixel_share": _shares(names, pixels["labeled"]),
            "val_pixel_share": _shares(names, pixels["val"]),
            "classes_absent_from_val": absent,
        }
        prepared.finish(tmp, summary)
    return summary
