"""Cityscapes preparation on a miniature in its real on-disk format (tests/helpers/files.py)."""

import shutil

import numpy as np
import pytest
from helpers.files import make_mini_cityscapes, mini_cityscapes_ids
from PIL import Image

from dmt.data.prepare.cityscapes import (
    CITYSCAPES_CLASSES,
    LABEL_TO_TRAIN_ID,
    prepare_cityscapes,
)
from dmt.data.prepared import MARKER
from dmt.data.voc import read_image, read_mask, read_split
from dmt.errors import DMTError

# labelId -> train id, written out from the official table (cityscapesscripts labels.py) rather
# than taken from the module under test; every other id is ignored (255).
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
IGNORE_OR_CLASS = set(range(19)) | {255}


@pytest.fixture
def city(tmp_path):
    return make_mini_cityscapes(tmp_path / "cityscapes", size=(16, 32))


def source(root, image_id, split="train", kind="leftImg8bit"):
    folder = "leftImg8bit" if kind == "leftImg8bit" else "gtFine"
    return root / folder / split / image_id.split("_")[0] / f"{image_id}_{kind}.png"


def no_output_left(tmp_path, name="out"):
    return not (tmp_path / name).exists() and not list(tmp_path.glob(f".{name}.*"))


def test_ids_lists_sizes_and_reuse(city, tmp_path):
    out = tmp_path / "out"
    summary = prepare_cityscapes(city, out)
    train = ["aachen_000000_000019", "aachen_000001_000019", "aachen_000002_000019",
             "bochum_000000_000313", "bochum_000000_001097"]
    val = ["frankfurt_000000_000294", "frankfurt_000001_004327"]
    assert read_split(out, "train") == train == mini_cityscapes_ids("train")
    assert read_split(out, "val") == val == mini_cityscapes_ids("val")
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == [f"{i}.png" for i in train + val]
    assert summary["counts"] == {"train": 5, "val": 2} and summary["sizes"] == [[8, 16]]
    assert summary["params"]["scale"] == 0.5
    assert sum(summary["train_class_share"].values()) == pytest.approx(1, abs=1e-4)
    assert list(summary["train_class_share"]) == list(CITYSCAPES_CLASSES)

    for split, image_id in [("train", train[0]), ("val", val[1])]:
        image = read_image(out / "JPEGImages" / f"{image_id}.png")
        with Image.open(source(city, image_id, split)) as full:
            expected = np.asarray(full.convert("RGB").resize((16, 8), Image.BILINEAR))
        np.testing.assert_array_equal(image, expected)  # bilinear, then stored losslessly
        mask = read_mask(out / "SegmentationClass" / f"{image_id}.png", len(CITYSCAPES_CLASSES))
        assert mask.shape == (8, 16) and IGNORE_OR_CLASS.issuperset(np.unique(mask).tolist())

    marker_time = (out / MARKER).stat().st_mtime_ns
    assert prepare_cityscapes(city, out) == summary  # prepared once, kept after
    assert (out / MARKER).stat().st_mtime_ns == marker_time
    with pytest.raises(DMTError, match="prepared with"):
        prepare_cityscapes(city, out, scale=0.25)


def test_label_ids_map_to_the_19_train_ids(city, tmp_path):
    # Every labelId 0-33 and 255, each as a 2x2 block so down-sampling by 2 keeps it exactly.
    blocks = np.resize(np.array(list(range(34)) + [255], np.uint8), (8, 16))
    Image.fromarray(blocks.repeat(2, 0).repeat(2, 1)).save(
        source(city, "bochum_000000_000313", kind="gtFine_labelIds"))
    out = tmp_path / "out"
    prepare_cityscapes(city, out)
    mask = read_mask(out / "SegmentationClass" / "bochum_000000_000313.png", 19)
    expected = np.vectorize(lambda i: TRAIN_IDS.get(int(i), 255))(blocks)
    np.testing.assert_array_equal(mask, expected)
    assert (mask == 255).sum() == sum(1 for i in blocks.ravel() if int(i) not in TRAIN_IDS)
    assert LABEL_TO_TRAIN_ID.shape == (256,) and LABEL_TO_TRAIN_ID.dtype == np.uint8
    assert LABEL_TO_TRAIN_ID.tolist() == [TRAIN_IDS.get(i, 255) for i in range(256)]


def test_odd_scale_and_size(tmp_path):
    city = make_mini_cityscapes(tmp_path / "cityscapes", size=(12, 20))
    summary = prepare_cityscapes(city, tmp_path / "out", scale=0.25)
    assert summary["sizes"] == [[3, 5]]
    assert read_image(tmp_path / "out" / "JPEGImages" / "frankfurt_000000_000294.png").shape == (3, 5, 3)


def test_missing_root_or_folders_say_what_was_expected_where(city, tmp_path):
    with pytest.raises(DMTError, match=r"nowhere does not exist.*leftImg8bit"):
        prepare_cityscapes(tmp_path / "nowhere", tmp_path / "out")
    for path in (city / "leftImg8bit" / "val").rglob("*.png"):
        path.unlink()
    with pytest.raises(DMTError, match=r"no val images \(expected .*leftImg8bit/val/<city>/\*_leftImg8bit\.png"):
        prepare_cityscapes(city, tmp_path / "out")
    shutil.rmtree(city / "gtFine" / "val")
    with pytest.raises(DMTError, match=r"lacks gtFine/val"):
        prepare_cityscapes(city, tmp_path / "out")
    shutil.rmtree(city / "leftImg8bit")
    with pytest.raises(DMTError, match=r"lacks leftImg8bit/train \(expected .*leftImg8bit/train/<city>/"):
        prepare_cityscapes(city, tmp_path / "out")
    assert no_output_left(tmp_path)


def test_label_id_37_is_rejected(city, tmp_path):
    path = source(city, "bochum_000000_000313", kind="gtFine_labelIds")
    label = np.array(Image.open(path))
    label[3, 5] = 37
    Image.fromarray(label).save(path)
    with pytest.raises(DMTError, match=r"bochum_000000_000313_gtFine_labelIds\.png has label ids \[37\]"):
        prepare_cityscapes(city, tmp_path / "out")
    assert no_output_left(tmp_path)


def test_truncated_png_is_rejected(city, tmp_path):
    path = source(city, "aachen_000001_000019")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DMTError, match=r"aachen_000001_000019_leftImg8bit\.png is corrupt or truncated"):
        prepare_cityscapes(city, tmp_path / "out")
    assert no_output_left(tmp_path)


def test_missing_labels_or_size_mismatch_is_rejected(city, tmp_path):
    label = source(city, "frankfurt_000001_004327", "val", kind="gtFine_labelIds")
    label.unlink()
    with pytest.raises(DMTError, match=r"frankfurt_000001_004327_leftImg8bit\.png has no gtFine labels: "
                                       r"expected .*frankfurt_000001_004327_gtFine_labelIds\.png"):
        prepare_cityscapes(city, tmp_path / "out")
    Image.fromarray(np.full((16, 30), 7, np.uint8)).save(label)
    with pytest.raises(DMTError, match=r"frankfurt_000001_004327: labels \(16, 30\) and image \(16, 32\)"):
        prepare_cityscapes(city, tmp_path / "out")
    assert no_output_left(tmp_path)
