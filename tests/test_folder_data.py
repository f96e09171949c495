"""Your own data (dmt/data/folder.py): the folder layout prepared into the VOC layout, and every
bad input stopped with one error line naming the file, with nothing written."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dmt.cli import main
from dmt.data.folder import inspect, read_classes
from dmt.data.registry import dataset_info
from dmt.data.voc import read_image, read_mask, read_split
from fixtures import FOLDER_CLASSES, folder_mask, make_mini_folder


@pytest.fixture
def folder(tmp_path):
    return make_mini_folder(tmp_path / "mine")


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
        dataset_info("folder").num_classes


def _jpeg_cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_mask(folder, name, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(folder / name)


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
