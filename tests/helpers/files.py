"""Builders of miniature data sets in their real on-disk formats, shared by several tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# split -> city -> (sequence, frame) of each image; names as in the real archives.
MINI_CITYSCAPES = {
    "train": {"aachen": [(0, 19), (1, 19), (2, 19)], "bochum": [(0, 313), (0, 1097)]},
    "val": {"frankfurt": [(0, 294), (1, 4327)]},
}


def mini_cityscapes_ids(split: str) -> list[str]:
    """The image ids (file stems without ``_leftImg8bit``) of a split of make_mini_cityscapes."""
    return sorted(f"{city}_{seq:06d}_{frame:06d}" for city, frames in MINI_CITYSCAPES[split].items()
                  for seq, frame in frames)


def make_mini_cityscapes(root: Path, rng_seed: int = 0, size: tuple[int, int] = (16, 32)) -> Path:
    """A miniature Cityscapes under ``root`` (which is returned): leftImg8bit/ and gtFine/ for
    train (2 cities) and val (1 city), images ``size`` (height, width) RGB PNGs, labelIds 8-bit
    greyscale PNGs drawn from all ids 0-33 (mapped and ignored ones), plus the gtFine colour,
    instanceIds and polygons files that sit beside them in the real data set."""
    root = Path(root)
    rng = np.random.default_rng(rng_seed)
    for split, cities in MINI_CITYSCAPES.items():
        for city, frames in cities.items():
            images, labels = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            for seq, frame in frames:
                stem = f"{city}_{seq:06d}_{frame:06d}"
                image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(image).save(images / f"{stem}_leftImg8bit.png")
                label_ids = rng.integers(0, 34, size, dtype=np.uint8)
                Image.fromarray(label_ids).save(labels / f"{stem}_gtFine_labelIds.png")
                colour = rng.integers(0, 256, (*size, 4), dtype=np.uint8)
                Image.fromarray(colour).save(labels / f"{stem}_gtFine_color.png")
                instances = label_ids.astype(np.uint16) * 1000  # 16-bit, as in the real files
                Image.fromarray(instances).save(labels / f"{stem}_gtFine_instanceIds.png")
                (labels / f"{stem}_gtFine_polygons.json").write_text(
                    json.dumps({"imgHeight": size[0], "imgWidth": size[1], "objects": []}))
    return root


# id -> (height, width) of the miniature VOC 2012 + SBD: t* VOC train, v* VOC val, s* SBD only.
MINI_VOC_SIZES = {"t1": (20, 30), "t2": (24, 18), "v1": (16, 16), "v2": (30, 22), "s1": (18, 26),
                  "s2": (22, 22), "s3": (25, 19)}


def mask_for(image_id: str, h: int, w: int, border: bool = True) -> np.ndarray:
    """A centred box of a class derived from the id; VOC-style 255 borders if ``border``."""
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1 + sum(map(ord, image_id)) % 20
    if border:
        mask[h // 4, w // 4: 3 * w // 4] = 255  # VOC marks object borders 255
    return mask


def make_mini_voc_sbd(root: Path, sizes: dict[str, tuple[int, int]] = MINI_VOC_SIZES,
                      rng_seed: int = 0) -> tuple[Path, Path]:
    """VOCdevkit/VOC2012 (JPEGs, palette PNG masks, ImageSets) and benchmark_RELEASE/dataset
    (img/, cls/*.mat GTcls structs, train.txt, val.txt) under ``root``; returns both folders.

    Ids starting with t are VOC train, v VOC val, anything else SBD; every third SBD id has its
    image only in SBD's img/. t1 and v1 are also in SBD (v1 in SBD train: it must not leak)."""
    from scipy.io import savemat

    from dmt.data.voc import write_mask_png

    rng = np.random.default_rng(rng_seed)
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    sbd = Path(root) / "benchmark_RELEASE" / "dataset"
    for d in (voc / "JPEGImages", voc / "SegmentationClass", voc / "ImageSets/Segmentation",
              sbd / "cls", sbd / "img"):
        d.mkdir(parents=True, exist_ok=True)
    sbd_ids = [i for i in sizes if i[0] not in "tv"]
    for image_id, (h, w) in sizes.items():
        sbd_only_image = image_id in sbd_ids[2::3]
        folder = sbd / "img" if sbd_only_image else voc / "JPEGImages"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{image_id}.jpg")
        if image_id[0] in "tv":
            write_mask_png(voc / "SegmentationClass" / f"{image_id}.png", mask_for(image_id, h, w))
        if image_id[0] not in "tv" or image_id in ("t1", "v1"):
            savemat(sbd / "cls" / f"{image_id}.mat",
                    {"GTcls": {"Segmentation": mask_for(image_id, h, w, border=False),
                               "Boundaries": np.zeros((1, 1)), "CategoriesPresent": np.ones(1)}})
    lines = lambda ids: "".join(f"{i}\n" for i in ids)  # noqa: E731
    (voc / "ImageSets/Segmentation/train.txt").write_text(lines(i for i in sizes if i[0] == "t"))
    (voc / "ImageSets/Segmentation/val.txt").write_text(lines(i for i in sizes if i[0] == "v"))
    cut = (len(sbd_ids) + 1) // 2
    (sbd / "train.txt").write_text(lines(sbd_ids[:cut] + (["v1"] if "v1" in sizes else [])))
    (sbd / "val.txt").write_text(lines(sbd_ids[cut:] + (["t1"] if "t1" in sizes else [])))
    return voc, sbd


def make_caffe_coco_checkpoint(path: Path, num_classes: int = 21, seed: int = 0,
                               prefix: str = "Scale.") -> dict:
    """A checkpoint shaped like the Caffe-converted COCO DeepLab-v2 (random values): ResNet-101
    keys without num_batches_tracked, optionally prefixed, and layer5.conv2d_list.{0-3} heads."""
    import torch
    from torchvision.models import resnet101

    torch.manual_seed(seed)
    state = {f"{prefix}{k}": v for k, v in resnet101().state_dict().items()
             if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    for k in range(4):
        state[f"{prefix}layer5.conv2d_list.{k}.weight"] = torch.randn(num_classes, 2048, 3, 3) * 0.01
        state[f"{prefix}layer5.conv2d_list.{k}.bias"] = torch.randn(num_classes)
    torch.save(state, path)
    return state


def make_imagenet_state_dict(path: Path, seed: int = 0) -> dict:
    """A torchvision resnet101 state dict (random values) where the ImageNet one would be."""
    import torch
    from torchvision.models import resnet101

    torch.manual_seed(seed)
    state = resnet101().state_dict()
    torch.save(state, path)
    return state


def _py2_pickle(obj) -> bytes:
    """``obj`` pickled the way Python 2's cPickle wrote the official CIFAR-10 batches (protocol 2,
    str as byte strings, numpy arrays through numpy.core.multiarray._reconstruct with their data
    as a byte string): dicts, lists, str, non-negative ints and uint8 arrays only."""
    import struct

    out = bytearray(b"\x80\x02")

    def string(b: bytes):
        out.extend(b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b)

    def emit(o):
        if isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                emit(k)
                emit(v)
            out.extend(b"u")
        elif isinstance(o, list):
            out.extend(b"](")
            for v in o:
                emit(v)
            out.extend(b"e")
        elif isinstance(o, str):
            string(o.encode("latin1"))
        elif isinstance(o, int):
            out.extend(b"K" + bytes([o]) if 0 <= o < 256 else b"J" + struct.pack("<i", o))
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85")
            string(b"b")
            out.extend(b"\x87R(K\x01(")  # REDUCE, then the state: (1, shape, dtype, fortran, data)
            for dim in o.shape:
                emit(int(dim))
            out.extend(b"tcnumpy\ndtype\n")
            string(b"u1")
            out.extend(b"K\x00K\x01\x87R(K\x03")
            string(b"|")
            out.extend(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89")
            string(np.ascontiguousarray(o).tobytes())
            out.extend(b"tb")
        else:
            raise TypeError(type(o))

    emit(obj)
    out.extend(b".")
    return bytes(out)


def write_cifar10_batch(path: Path, data: np.ndarray, labels: list[int], batch_label: str = "batch") -> None:
    """One CIFAR-10 python batch: ``data`` N x 3072 uint8 rows (R plane, G, B; 32x32 row-major)."""
    batch = {"batch_label": batch_label, "labels": [int(v) for v in labels], "data": data,
             "filenames": [f"image_{k:05d}.png" for k in range(len(labels))]}
    Path(path).write_bytes(_py2_pickle(batch))


def make_cifar10_pickles(root: Path, n_train_per_batch: int = 4, n_test: int = 6, seed: int = 0) -> Path:
    """A miniature CIFAR-10 python version under ``root``: cifar-10-batches-py/ with data_batch_1-5
    (``n_train_per_batch`` images each), test_batch (``n_test``) and batches.meta, pickled as the
    official files are; random pixels and labels 0-9 from ``seed``. Returns cifar-10-batches-py."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_train_per_batch
        write_cifar10_batch(folder / name, rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                            rng.integers(0, 10, n).tolist(), f"{name} of the miniature set")
    meta = {"num_cases_per_batch": n_train_per_batch, "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                            "ship", "truck"]}
    (folder / "batches.meta").write_bytes(_py2_pickle(meta))
    return folder


def digits_as_folder(digits_root: Path, out: Path, labeled_ids, colors: dict[str, list[int]] | None = None) -> Path:
    """The prepared digits set (``python -m dmt prepare digits``, VOC layout) in the folder data
    set's layout under ``out`` (returned): ``labeled_ids`` of its train list with their masks,
    the other train ids as unlabeled images without masks, val with masks, classes.yaml with the
    digits' class names (``colors``: class name -> RGB for some of them). Files are copied as
    they are (JPEG images, palette PNG masks)."""
    import shutil

    import yaml

    from dmt.data.registry import DIGITS_CLASSES

    digits_root, out = Path(digits_root), Path(out)
    lists = digits_root / "ImageSets" / "Segmentation"
    train = (lists / "train.txt").read_text().split()
    val = (lists / "val.txt").read_text().split()
    labeled = set(labeled_ids)
    assert labeled <= set(train), "labeled ids must come from the digits train list"
    sets = {"labeled": [i for i in train if i in labeled], "unlabeled": [i for i in train if i not in labeled],
            "val": val}
    for name, ids in sets.items():
        (out / name / "images").mkdir(parents=True)
        if name != "unlabeled":
            (out / name / "masks").mkdir(parents=True)
        for image_id in ids:
            shutil.copy(digits_root / "JPEGImages" / f"{image_id}.jpg", out / name / "images")
            if name != "unlabeled":
                shutil.copy(digits_root / "SegmentationClass" / f"{image_id}.png", out / name / "masks")
    colors = colors or {}
    classes = [{"name": n, "color": colors[n]} if n in colors else n for n in DIGITS_CLASSES]
    (out / "classes.yaml").write_text(yaml.safe_dump({"classes": classes}, sort_keys=False))
    return out


FOLDER_CLASSES = ("background", "cat", "dog")


def folder_mask(h: int, w: int, k: int) -> np.ndarray:
    """Background with a box of class 1 or 2 (by ``k``) and a 255 (unlabeled) border row."""
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1 + k % 2
    mask[0] = 255
    return mask


def make_mini_folder(root: Path, counts=(("labeled", 3), ("unlabeled", 4), ("val", 2)),
                     size: tuple[int, int] = (20, 24), seed: int = 0) -> Path:
    """A folder data set under ``root`` (returned) in the layout users give: classes.yaml (three
    classes, one with a colour), {labeled,unlabeled,val}/images with masks for labeled and val.
    Images alternate JPEG RGB, PNG RGB, PNG greyscale and PNG RGBA; masks alternate greyscale and
    palette PNGs. Ids are ``{set}_{k}``."""
    import yaml

    from dmt.data.voc import write_mask_png

    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    for name, n in counts:
        (root / name / "images").mkdir(parents=True)
        if name != "unlabeled":
            (root / name / "masks").mkdir(parents=True)
        for k in range(n):
            image_id = f"{name}_{k}"
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            kind = k % 4
            if kind == 0:
                Image.fromarray(pixels).save(root / name / "images" / f"{image_id}.jpg", quality=95)
            elif kind == 1:
                Image.fromarray(pixels).save(root / name / "images" / f"{image_id}.png")
            elif kind == 2:
                Image.fromarray(pixels[..., 0]).save(root / name / "images" / f"{image_id}.png")
            else:
                alpha = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)
                Image.fromarray(np.concatenate([pixels, alpha], axis=2)).save(
                    root / name / "images" / f"{image_id}.png")
            if name != "unlabeled":
                mask = folder_mask(h, w, k)
                if k % 2:
                    write_mask_png(root / name / "masks" / f"{image_id}.png", mask)
                else:
                    Image.fromarray(mask).save(root / name / "masks" / f"{image_id}.png")
    classes = ["background", {"name": "cat", "color": [200, 100, 0]}, "dog"]
    (root / "classes.yaml").write_text(yaml.safe_dump({"classes": classes, "ignore_index": 255}))
    return root


def write_pseudo(path, n=50):
    """A segmentation pseudo-label file of ``n`` 64x64 images (random labels and confidences),
    written by the pipeline's own writer."""
    from dmt.pseudo.segmentation import PseudoLabelWriter

    rng = np.random.default_rng(0)
    ids = [f"i{k}" for k in range(n)]
    with PseudoLabelWriter(path, ids, 11, 0.5, "sha256:x") as w:
        for i in ids:
            w.add(i, rng.integers(0, 11, (64, 64)), rng.random((64, 64)).astype(np.float16))
