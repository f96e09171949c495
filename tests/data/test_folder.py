"""Your own data (dmt/data/folder.py): the folder layout prepared into the VOC layout, and every
bad input stopped with one error line naming the file, with nothing written."""

import json
import os
import shutil
import struct
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.files import FOLDER_CLASSES, folder_mask, make_mini_folder
from PIL import Image

from dmt.cli import main
from dmt.data.folder import inspect, read_classes
from dmt.data.registry import dataset_info
from dmt.data.voc import read_image, read_mask, read_split


def prepare(capsys, root, out):
    code = main(["prepare", "folder", "--folder-root", str(root), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, (err[-1] if err else "")


def test_prepares_the_voc_layout_with_converted_images(capsys, folder, tmp_path):
    out = tmp_path / "prepared"
    code, _ = prepare(capsys, folder, out)
    assert code == 0
    assert read_split(out, "labeled") == ["labeled_0", "labeled_1", "labeled_2"]
    assert read_split(out, "unlabeled") == [f"unlabeled_{k}" for k in range(4)]
    assert read_split(out, "train") == sorted(read_split(out, "labeled") + read_split(out, "unlabeled"))
    assert read_split(out, "val") == ["val_0", "val_1"]
    for k in range(4):  # JPEG, PNG, grey PNG, RGBA PNG -> RGB PNG with the same pixels
        source = folder / "unlabeled" / "images" / f"unlabeled_{k}.{'jpg' if k == 0 else 'png'}"
        with Image.open(out / "JPEGImages" / f"unlabeled_{k}.png") as image:
            assert image.mode == "RGB" and image.size == (24, 20)
            assert np.array_equal(np.asarray(image), read_image(source))
    # Masks only where the user gave them, their class indices kept (greyscale and palette alike).
    assert sorted(p.stem for p in (out / "SegmentationClass").iterdir()) == \
        ["labeled_0", "labeled_1", "labeled_2", "val_0", "val_1"]
    for k in range(3):
        assert np.array_equal(read_mask(out / "SegmentationClass" / f"labeled_{k}.png", 3), folder_mask(20, 24, k))
    info = dataset_info("folder", out)
    assert info.class_names == FOLDER_CLASSES and info.num_classes == 3
    assert info.class_colors == (None, (200, 100, 0), None)
    summary = inspect(folder)
    assert (summary["labeled"], summary["unlabeled"], summary["val"], summary["train"]) == (3, 4, 2, 7)


def test_a_prepared_folder_is_reused_and_a_changed_one_refused(capsys, folder, tmp_path):
    out = tmp_path / "prepared"
    assert prepare(capsys, folder, out)[0] == 0
    marker = (out / ".complete.json").read_text()
    assert prepare(capsys, folder, out)[0] == 0 and (out / ".complete.json").read_text() == marker
    shutil.copy(folder / "unlabeled/images/unlabeled_1.png", folder / "unlabeled/images/extra.png")
    code, err = prepare(capsys, folder, out)
    assert code == 2 and "prepared with" in err and "remove it" in err


def test_classes_without_a_root_are_not_guessed():
    assert dataset_info("folder").class_names == ()
    with pytest.raises(ValueError, match="classes.yaml"):
        dataset_info("folder").num_classes  # noqa: B018 - the access itself raises


def _jpeg_cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_mask(folder, name, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name)


def _classes(folder, extra: str) -> None:
    (folder / "classes.yaml").write_text(f"classes: [background, cat, dog]\n{extra}\n")


def _forged_png(path, width: int, height: int) -> None:
    """A PNG header claiming ``width`` x ``height`` pixels over a few bytes (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


# (how to break the folder, text the error must contain, the file it must name)
BROKEN = {
    "mask size differs": (lambda f: _write_mask(f, "labeled/masks/labeled_0.png", np.zeros((20, 30))),
                          "is 30x20 but its image", "labeled/masks/labeled_0.png"),
    "mask transposed": (lambda f: _write_mask(f, "val/masks/val_0.png", np.zeros((24, 20))),
                        "transposed", "val/masks/val_0.png"),
    "class out of range": (lambda f: _write_mask(f, "val/masks/val_1.png", np.full((20, 24), 7)),
                           "class ids [7]", "val/masks/val_1.png"),
    "truncated JPEG": (lambda f: _jpeg_cut(f / "unlabeled/images/unlabeled_0.jpg"),
                       "corrupt or truncated", "unlabeled/images/unlabeled_0.jpg"),
    "truncated mask": (lambda f: _jpeg_cut(f / "labeled/masks/labeled_1.png"),
                       "corrupt or truncated", "labeled/masks/labeled_1.png"),
    "text file as an image": (lambda f: (f / "val/images/val_1.png").write_text("not an image"),
                              "corrupt or truncated", "val/images/val_1.png"),
    "RGB mask": (lambda f: Image.new("RGB", (24, 20)).save(f / "labeled/masks/labeled_2.png"),
                 "is a RGB image", "labeled/masks/labeled_2.png"),
    "labeled image without mask": (lambda f: (f / "labeled/masks/labeled_1.png").unlink(),
                                   "has no mask", "labeled/images/labeled_1.png"),
    "mask without image": (lambda f: shutil.copy(f / "val/masks/val_0.png", f / "val/masks/val_9.png"),
                           "has no image", "val/masks/val_9.png"),
    "duplicate id in a set": (lambda f: shutil.copy(f / "unlabeled/images/unlabeled_1.png",
                                                    f / "unlabeled/images/unlabeled_0.png"),
                              "duplicate id 'unlabeled_0'", "unlabeled/images"),
    "duplicate id across sets": (lambda f: shutil.copy(f / "labeled/images/labeled_1.png",
                                                       f / "val/images/labeled_1.png"),
                                 "must be unique across", "val/images/labeled_1.png"),
    "empty labeled set": (lambda f: [p.unlink() for p in (f / "labeled").rglob("*.*")],
                          "the labeled set is empty", "labeled/images"),
    "empty unlabeled set": (lambda f: [p.unlink() for p in (f / "unlabeled/images").iterdir()],
                            "the unlabeled set is empty", "unlabeled/images"),
    "empty val set": (lambda f: [p.unlink() for p in (f / "val").rglob("*.*")],
                      "the val set is empty", "val/images"),
    "missing val folder": (lambda f: shutil.rmtree(f / "val"), "does not exist", "val/images"),
    "masks for unlabeled images": (lambda f: (f / "unlabeled/masks").mkdir(),
                                   "unlabeled images have no masks", "unlabeled/masks"),
    "another file type": (lambda f: (f / "labeled/images/notes.txt").write_text("x"),
                          "holds only images", "labeled/images/notes.txt"),
    "no classes.yaml": (lambda f: (f / "classes.yaml").unlink(), "does not exist", "classes.yaml"),
    "classes.yaml not YAML": (lambda f: (f / "classes.yaml").write_text("classes: [a, b\n"),
                              "not readable YAML", "classes.yaml"),
    "one class": (lambda f: (f / "classes.yaml").write_text("classes: [background]\n"),
                  "2 to 255 classes", "classes.yaml"),
    "duplicate class names": (lambda f: (f / "classes.yaml").write_text("classes: [a, b, a]\n"),
                              "['a'] appear more than once", "classes.yaml"),
    "bad colour": (lambda f: (f / "classes.yaml").write_text("classes: [a, {name: b, color: [1, 2]}]\n"),
                   "[R, G, B]", "classes.yaml"),
    "other ignore index": (lambda f: (f / "classes.yaml").write_text("classes: [a, b]\nignore_index: 0\n"),
                           "the only ignore index", "classes.yaml"),
    "unknown key": (lambda f: (f / "classes.yaml").write_text("classes: [a, b]\ncolours: {}\n"),
                    "unknown keys ['colours']", "classes.yaml"),
    "class without labeled pixels": (lambda f: [_write_mask(f, f"labeled/masks/labeled_{k}.png", folder_mask(20, 24, 0))
                                                for k in range(3)],
                                     "class(es) ['dog'] of", "classes.yaml"),
    "mask_values of no class": (lambda f: _classes(f, "mask_values: {0: background, 1: cat, 2: bird}"),
                                "mask_values names ['bird']", "classes.yaml"),
    "mask_values key not a pixel value": (lambda f: _classes(f, "mask_values: {0: background, 300: cat, 2: dog}"),
                                          "has keys [300]", "classes.yaml"),
    "mask_values twice one class": (lambda f: _classes(f, "mask_values: {0: background, 1: cat, 2: cat, 3: dog}"),
                                    "gives class 'cat' several pixel values ([1, 2])", "classes.yaml"),
    "mask_values missing a class": (lambda f: _classes(f, "mask_values: {0: background, 1: cat}"),
                                    "no pixel value to class(es) ['dog']", "classes.yaml"),
    "mask value not mapped": (lambda f: _classes(f, "mask_values: {0: background, 10: cat, 20: dog}"),
                              "has pixel values [1] that classes.yaml's mask_values does not map",
                              "labeled/masks/labeled_0.png"),
    "dangling symbolic link": (lambda f: os.symlink(f / "gone.jpg", f / "unlabeled/images/link.jpg"),
                               "is a symbolic link to", "unlabeled/images/link.jpg"),
    "image over the pixel budget": (lambda f: _forged_png(f / "unlabeled/images/unlabeled_1.png", 30000, 30000),
                                    "pixels, more than the 89,478,485", "unlabeled/images/unlabeled_1.png"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_folder_stops_with_one_line_naming_the_file(capsys, folder, tmp_path, case):
    break_it, message, culprit = BROKEN[case]
    break_it(folder)
    out = tmp_path / "resources" / "data" / "folder"
    code, err = prepare(capsys, folder, out)
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert str(folder / culprit) in err, err
    assert not out.exists()  # nothing half-written: no folder, no temporary beside it
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_class_entries_take_names_and_optional_colours(tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text(yaml.safe_dump({"classes": [" sky ", {"name": "road", "color": [1, 2, 3]}]}))
    classes = read_classes(path)
    assert classes.names == ("sky", "road") and classes.colors == (None, (1, 2, 3))
    # The prepared copy (to_yaml) reads back as the same classes.
    path.write_text(yaml.safe_dump(classes.to_yaml()))
    assert read_classes(path) == classes


# --- Mask conventions, image orientation, odd files and names (issue 19)


def _binary_folder(root, mask_values=None):
    """A two-class folder whose masks are the common binary form: 0 background, 255 object."""
    make_mini_folder(root)
    for name, n in (("labeled", 3), ("val", 2)):
        for k in range(n):
            mask = np.where(folder_mask(20, 24, k) == 0, 0, 255)  # box and the 255 border row: object
            _write_mask(root, f"{name}/masks/{name}_{k}.png", mask)
    classes = {"classes": ["background", "object"]}
    if mask_values:
        classes["mask_values"] = mask_values
    (root / "classes.yaml").write_text(yaml.safe_dump(classes))
    return root


def test_binary_masks_without_a_mapping_say_which_line_to_add(capsys, tmp_path):
    # Before: prepared, trained and scored miou 1.0 with "object" read as not labeled.
    root = _binary_folder(tmp_path / "mine")
    code, err = prepare(capsys, root, tmp_path / "prepared")
    assert code == 2, err
    assert "hold only the pixel values 0 and 255" in err and "['object'] never appear" in err
    assert f"add to {root / 'classes.yaml'}: `mask_values: {{0: background, 255: object}}`" in err
    assert not (tmp_path / "prepared").exists()


def test_mask_values_map_pixel_values_to_classes(capsys, tmp_path):
    root = _binary_folder(tmp_path / "mine", {0: "background", 255: "object"})
    out = tmp_path / "prepared"
    assert prepare(capsys, root, out)[0] == 0
    for k in range(3):
        expected = np.where(folder_mask(20, 24, k) == 0, 0, 1)
        assert np.array_equal(read_mask(out / "SegmentationClass" / f"labeled_{k}.png", 2), expected)
    assert dataset_info("folder", out).class_names == ("background", "object")
    assert "mask_values" not in (out / "classes.yaml").read_text()  # prepared masks hold the indices


def _exif_image(path, h, w, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    pixels = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), quality=95)


def test_a_rotated_photo_must_have_its_mask_in_the_displayed_orientation(capsys, folder, tmp_path):
    # Stored 24 wide x 20 high, displayed (EXIF 6: 90 degrees clockwise) 20 wide x 24 high.
    _exif_image(folder / "labeled/images/labeled_0.jpg", 20, 24, 6)
    code, err = prepare(capsys, folder, tmp_path / "p1")  # the mask fits the stored pixels
    assert code == 2 and "is 24x20, the stored pixels of" in err and "EXIF orientation 6" in err, err
    assert str(folder / "labeled/masks/labeled_0.png") in err
    _write_mask(folder, "labeled/masks/labeled_0.png", np.rot90(folder_mask(20, 24, 0), -1))
    out = tmp_path / "p2"
    assert prepare(capsys, folder, out)[0] == 0
    with Image.open(out / "JPEGImages" / "labeled_0.png") as image:
        assert image.size == (20, 24) and not image.getexif()


@pytest.mark.parametrize("h,w,orientation", [(20, 20, 6), (20, 24, 3)])
def test_a_tagged_photo_whose_mask_fits_either_way_is_refused(capsys, folder, tmp_path, h, w, orientation):
    # A square photo turned by 90 degrees, any photo turned by 180: the mask cannot be checked.
    _exif_image(folder / "val/images/val_0.jpg", h, w, orientation)
    _write_mask(folder, "val/masks/val_0.png", folder_mask(h, w, 0))
    code, err = prepare(capsys, folder, tmp_path / "prepared")
    assert code == 2 and f"image {folder / 'val/images/val_0.jpg'} carries EXIF orientation" in err, err
    assert "fits both the stored and the displayed pixels" in err and "remove the tag" in err


def test_a_class_absent_from_val_is_reported(caplog, capsys, folder, tmp_path):
    _write_mask(folder, "val/masks/val_1.png", folder_mask(20, 24, 0))  # val shows cat only, no dog
    out = tmp_path / "prepared"
    assert prepare(capsys, folder, out)[0] == 0
    summary = json.loads((out / ".complete.json").read_text())
    assert summary["classes_absent_from_val"] == ["dog"]
    assert any("['dog'] have no pixel in" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_names_differing_only_in_unicode_form_are_one_id(capsys, folder, tmp_path):
    nfc, nfd = unicodedata.normalize("NFC", "café_0"), unicodedata.normalize("NFD", "café_0")
    (folder / "labeled/images/labeled_0.jpg").rename(folder / f"labeled/images/{nfd}.jpg")  # macOS
    (folder / "labeled/masks/labeled_0.png").rename(folder / f"labeled/masks/{nfc}.png")  # Linux
    out = tmp_path / "prepared"
    code, err = prepare(capsys, folder, out)
    assert code == 0, err
    assert nfc in read_split(out, "labeled")
    assert {p.stem for p in (out / "JPEGImages").iterdir()} >= {nfc}
    names = {p.stem for p in (out / "JPEGImages").iterdir()} | {p.stem for p in (out / "SegmentationClass").iterdir()}
    assert nfd not in names


def test_an_unreadable_folder_is_one_line_naming_it(capsys, folder, tmp_path, monkeypatch):
    # The tests run as root, whom chmod does not stop: the folder's listing fails as it would.
    target = folder / "unlabeled" / "images"
    iterdir = Path.iterdir

    def denied(self):
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", denied)
    code, err = prepare(capsys, folder, tmp_path / "prepared")
    assert code == 2 and err == f"error: {target} cannot be read (Permission denied); give dmt read access to it"
