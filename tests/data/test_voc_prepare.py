"""VOC 2012 + SBD preparation on a miniature of both, in their real on-disk formats."""

import numpy as np
import pytest
from helpers.files import MINI_VOC_SIZES as SIZES
from helpers.files import make_mini_voc_sbd, mask_for
from scipy.io import savemat

from dmt.cli import main
from dmt.data.prepare.voc import prepare_voc
from dmt.data.segmentation import SegmentationDataset
from dmt.data.voc import read_mask, read_split
from dmt.errors import DMTError


@pytest.fixture
def roots(tmp_path):
    voc, sbd = make_mini_voc_sbd(tmp_path)
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
