"""VOC 2012 + SBD preparation on a miniature of both, in their real on-disk formats."""

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from dmt.cli import main
from dmt.data.voc import SegmentationDataset, read_mask, read_split, write_mask_png
from dmt.data.voc_prepare import prepare_voc
from dmt.errors import DMTError

SIZES = {"t1": (20, 30), "t2": (24, 18), "v1": (16, 16), "v2": (30, 22), "s1": (18, 26),
         "s2": (22, 22), "s3": (25, 19)}


def mask_for(image_id, h, w, border=True):
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1 + sum(map(ord, image_id)) % 20
    if border:
        mask[h // 4, w // 4: 3 * w // 4] = 255  # VOC marks object borders 255
    return mask


@pytest.fixture
def roots(tmp_path):
    rng = np.random.default_rng(0)
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    sbd = tmp_path / "benchmark_RELEASE" / "dataset"
    for d in (voc / "JPEGImages", voc / "SegmentationClass", voc / "ImageSets/Segmentation",
              sbd / "cls", sbd / "img"):
        d.mkdir(parents=True)
    for image_id, (h, w) in SIZES.items():
        folder = sbd / "img" if image_id == "s3" else voc / "JPEGImages"  # s3: SBD-only image
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{image_id}.jpg")
        if image_id[0] in "tv":
            write_mask_png(voc / "SegmentationClass" / f"{image_id}.png", mask_for(image_id, h, w))
        if image_id[0] == "s" or image_id in ("t1", "v1"):
            savemat(sbd / "cls" / f"{image_id}.mat",
                    {"GTcls": {"Segmentation": mask_for(image_id, h, w, border=False),
                               "Boundaries": np.zeros((1, 1)), "CategoriesPresent": np.ones(1)}})
    (voc / "ImageSets/Segmentation/train.txt").write_text("t1\nt2\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("v1\nv2\n")
    (sbd / "train.txt").write_text("s1\ns2\nv1\n")
    (sbd / "val.txt").write_text("s3\nt1\n")
    return tmp_path, tmp_path, voc, sbd


def test_train_aug_val_masks_and_sizes(roots, tmp_path):
    voc_root, sbd_root, voc, sbd = roots
    out = tmp_path / "prepared"
    summary = prepare_voc(voc_root, sbd_root, out)
    # SBD train + val + VOC train, minus VOC val (v1 is in SBD train but must not leak).
    assert read_split(out, "train_aug") == ["s1", "s2", "s3", "t1", "t2"]
    assert read_split(out, "val") == ["v1", "v2"]
    assert summary["voc_masks"] == 4 and summary["sbd_masks"] == 3
    # t1 has both: VOC's mask (with its 255 borders) wins; s1 comes from the .mat.
    np.testing.assert_array_equal(read_mask(out / "SegmentationClass/t1.png", 21), mask_for("t1", *SIZES["t1"]))
    np.testing.assert_array_equal(read_mask(out / "SegmentationClass/s1.png", 21),
                                  mask_for("s1", *SIZES["s1"], border=False))
    data = SegmentationDataset(out, read_split(out, "train_aug"), 21)
    for k, image_id in enumerate(data.ids):
        assert data[k]["image"].shape[1:] == SIZES[image_id]  # s3's image comes from SBD's img/
    assert prepare_voc(voc_root, sbd_root, out) == summary  # prepared once, kept after


def test_missing_roots_say_what_was_expected_where(roots, tmp_path, capsys):
    voc_root, sbd_root, voc, sbd = roots
    with pytest.raises(DMTError, match="VOC2012/JPEGImages"):
        prepare_voc(tmp_path / "nowhere", sbd_root, tmp_path / "out")
    with pytest.raises(DMTError, match=r"benchmark_RELEASE/dataset/cls/\*\.mat"):
        prepare_voc(voc_root, tmp_path / "nowhere", tmp_path / "out")
    assert main(["prepare", "voc", "--out", str(tmp_path / "out")]) == 2
    assert "voc_root" in capsys.readouterr().err


def test_class_37_in_an_sbd_mask_is_rejected(roots, tmp_path):
    voc_root, sbd_root, voc, sbd = roots
    bad = mask_for("s2", *SIZES["s2"], border=False)
    bad[0, 0] = 37
    savemat(sbd / "cls" / "s2.mat", {"GTcls": {"Segmentation": bad}})
    with pytest.raises(DMTError, match=r"s2.mat has class ids \[37\]"):
        prepare_voc(voc_root, sbd_root, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_truncated_jpeg_is_rejected(roots, tmp_path):
    voc_root, sbd_root, voc, sbd = roots
    path = voc / "JPEGImages" / "t2.jpg"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DMTError, match="t2.jpg is corrupt or truncated"):
        prepare_voc(voc_root, sbd_root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
