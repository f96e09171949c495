"""VOC-layout readers, joint transforms and the embedded digits set, on fixtures in real formats."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from dmt.data.prepare.digits import prepare_digits
from dmt.data.prepared import MARKER
from dmt.data.segmentation import SegmentationDataset
from dmt.data.transforms import train_transform
from dmt.data.voc import (
    check_root,
    read_image,
    read_mask,
    read_split,
    write_mask_png,
)
from dmt.errors import DMTError


def make_voc(root, ids, size=(30, 40), classes=(0, 1, 2)):
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in ids:
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{i}.jpg")
        write_mask_png(root / "SegmentationClass" / f"{i}.png", rng.choice(classes, size).astype(np.uint8))
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids) + "\n")
    return root


def test_palette_png_round_trip(tmp_path):
    mask = np.array([[0, 1, 20], [255, 5, 0]], np.uint8)
    write_mask_png(tmp_path / "m.png", mask)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "P"
        assert im.getpalette()[3:6] == [128, 0, 0]  # VOC colour of class 1
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", 21), mask)


def test_mask_with_class_37_is_rejected_by_name(tmp_path):
    write_mask_png(tmp_path / "bad.png", np.array([[0, 37]], np.uint8))
    with pytest.raises(DMTError, match=r"bad.png has class ids \[37\]; expected 0-20 or 255"):
        read_mask(tmp_path / "bad.png", 21)


def test_truncated_jpeg_is_an_error(tmp_path):
    path = tmp_path / "x.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DMTError, match="x.jpg is corrupt or truncated"):
        read_image(path)


def test_check_root_names_what_is_missing(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DMTError, match="missing SegmentationClass/, ImageSets/Segmentation/"):
        check_root(tmp_path)
    with pytest.raises(DMTError, match="does not exist"):
        check_root(tmp_path / "nope")


def test_dataset_rejects_split_ids_absent_from_the_data(tmp_path):
    root = make_voc(tmp_path, ["a", "b"])
    with pytest.raises(DMTError, match=r"1 split ids are not in the data set.*\['zz'\]"):
        SegmentationDataset(root, ["a", "zz"], 3)


def test_dataset_items_and_pseudo_labels(tmp_path):
    root = make_voc(tmp_path, ["a"])
    item = SegmentationDataset(root, read_split(root, "train"), 3)[0]
    assert item["image"].shape == (3, 30, 40) and item["image"].dtype == torch.uint8
    assert item["target"].dtype == torch.int64 and not item["is_pseudo"]

    class Store:
        def __getitem__(self, image_id):
            return np.full((30, 40), 2, np.uint8), np.full((30, 40), 0.5, np.float16)

    item = SegmentationDataset(root, ["a"], 3, pseudo=Store())[0]
    assert item["is_pseudo"] and (item["target"] == 2).all() and (item["conf"] == 0.5).all()


def test_train_transform_keeps_image_and_labels_aligned():
    # Vertical stripes: pixel value 40 * (class + 1) encodes the class of its column.
    image = torch.zeros(3, 40, 50, dtype=torch.uint8)
    target = torch.zeros(40, 50, dtype=torch.int64)
    for c in range(5):
        image[:, :, 10 * c:10 * (c + 1)] = 40 * (c + 1)
        target[:, 10 * c:10 * (c + 1)] = c
    item = {"image": tv_tensors.Image(image), "target": tv_tensors.Mask(target),
            "conf": tv_tensors.Mask(torch.ones(40, 50)), "is_pseudo": False, "id": "s"}
    torch.manual_seed(0)
    flips = 0
    for _ in range(30):
        out = train_transform((32, 32), (0.5, 1.5))(item)
        img, tgt = out["image"][0].long(), out["target"]
        assert img.shape == tgt.shape == out["conf"].shape == (32, 32)
        keep = tgt != 255
        # Away from stripe borders (resampling blends them), pixel and label must agree.
        interior = keep & (img % 40 == 0)
        assert interior.sum() > 0 and (img[interior] == 40 * (tgt[interior] + 1)).all()
        flips += int(tgt[keep].reshape(-1)[0] > tgt[keep].reshape(-1)[-1])
    assert 0 < flips < 30  # flipped sometimes, not always


def test_label_and_confidence_transformed_together_equal_one_by_one():
    # The packed transform must give what v2 gives on the three tensors separately.
    from torchvision.transforms import v2

    from dmt import IGNORE_INDEX
    from dmt.data.transforms import RandomScale

    g = torch.Generator().manual_seed(0)
    for i in range(40):
        h, w = (int(v) for v in torch.randint(20, 90, (2,), generator=g))
        target = torch.randint(0, 21, (h, w), generator=g)
        target[torch.rand(h, w, generator=g) < 0.2] = IGNORE_INDEX
        item = {"image": tv_tensors.Image(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)),
                "target": tv_tensors.Mask(target), "conf": tv_tensors.Mask(torch.rand(h, w, generator=g)),
                "is_pseudo": True, "id": "x"}
        separate = v2.Compose([RandomScale((0.5, 1.5)),
                               v2.RandomCrop((48, 40), pad_if_needed=True,
                                             fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
                               v2.RandomHorizontalFlip()])
        torch.manual_seed(i)
        expected = separate(item)
        torch.manual_seed(i)
        out = train_transform((48, 40), (0.5, 1.5))(item)
        for key in ("image", "target", "conf"):
            assert type(out[key]) is type(expected[key]) and out[key].dtype == expected[key].dtype
            assert torch.equal(out[key].as_subclass(torch.Tensor), expected[key].as_subclass(torch.Tensor)), key
        assert out["id"] == "x" and out["is_pseudo"]


def test_decoded_files_are_kept_within_the_budget_and_never_altered(tmp_path, monkeypatch):
    import dmt.data.segmentation as segmentation

    make_voc(tmp_path, ["a", "b", "c"])
    fresh = SegmentationDataset(tmp_path, ["a", "b", "c"], 3)
    one_image = read_image(tmp_path / "JPEGImages" / "a.jpg").nbytes + 30 * 40
    monkeypatch.setattr(segmentation, "DECODE_CACHE_BYTES", 2 * one_image)
    ds = SegmentationDataset(tmp_path, ["a", "b", "c"], 3, transform=train_transform((20, 20), (0.5, 1.5)))
    for _ in range(3):
        for i in range(3):
            ds[i]["image"].zero_()  # a consumer writing into its sample must not reach the cache
    assert sorted(ds._decoded) == [0, 1]  # the third did not fit
    plain = SegmentationDataset(tmp_path, ["a", "b", "c"], 3)
    plain._decoded = ds._decoded
    for i in range(3):
        plain[i]["image"].zero_(), plain[i]["target"].zero_()  # no transform: still copies
        for key in ("image", "target", "conf"):
            assert torch.equal(plain[i][key], fresh[i][key])


def test_crop_larger_than_the_image_pads_labels_with_255():
    item = {"image": tv_tensors.Image(torch.full((3, 10, 10), 9, dtype=torch.uint8)),
            "target": tv_tensors.Mask(torch.ones(10, 10, dtype=torch.int64)),
            "conf": tv_tensors.Mask(torch.ones(10, 10))}
    out = train_transform((32, 32), (1.0, 1.0))(item)
    assert (out["target"] == 255).sum() == 32 * 32 - 100 and (out["target"] == 1).sum() == 100
    assert (out["image"][:, out["target"] == 255] == 0).all()


def test_digits_are_deterministic_disjoint_and_readable(tmp_path):
    a = prepare_digits(tmp_path / "a", seed=3, n_train=12, n_val=6)
    b = prepare_digits(tmp_path / "b", seed=3, n_train=12, n_val=6)
    c = prepare_digits(tmp_path / "c", seed=4, n_train=12, n_val=6)
    assert c["source_digits"] != a["source_digits"]  # another seed draws other digits
    name = "JPEGImages/digits_train_00005.jpg"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert a == b
    assert not set(a["source_digits"]["train"]) & set(a["source_digits"]["val"])
    ids = read_split(tmp_path / "a", "val")
    assert len(ids) == 6 and len(read_split(tmp_path / "a", "train")) == 12
    data = SegmentationDataset(tmp_path / "a", ids, 11)
    labels = set()
    for k in range(len(data)):
        labels |= set(data[k]["target"].unique().tolist())
    assert 0 in labels and labels <= set(range(11)) and len(labels) > 2
    # Same parameters again: kept; other parameters: a clear error.
    assert prepare_digits(tmp_path / "a", seed=3, n_train=12, n_val=6) == a
    with pytest.raises(DMTError, match="prepared with"):
        prepare_digits(tmp_path / "a", seed=5, n_train=12, n_val=6)
    assert json.loads((tmp_path / "a" / MARKER).read_text())["params"]["seed"] == 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_id_lists_take_a_byte_order_mark_crlf_and_decomposed_accents(tmp_path):
    # Saved by Windows Notepad (BOM, CRLF), typed on macOS (NFD): the ids the prepared lists hold.
    import unicodedata

    from dmt.data.voc import read_id_file

    path = tmp_path / "labeled.txt"
    path.write_bytes("\ufeffa1\r\n".encode() + unicodedata.normalize("NFD", "café\r\n\r\n").encode())
    assert read_id_file(path) == ["a1", unicodedata.normalize("NFC", "café")]


def _split(capsys, data, out, *extra):
    from dmt.cli import main

    code = main(["split", "--data", str(data), "--valtiny", "2", "--out-dir", str(out), *map(str, extra)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, (err[-1] if err else "")


def test_a_drawn_labeled_set_missing_a_class_stops_the_split_naming_it_and_the_seed(caplog, capsys, tmp_path):
    # Two digits canvases show a few of the ten digits: the others could never be learnt.
    data = tmp_path / "digits"
    prepare_digits(data, seed=0, n_train=40, n_val=10)
    code, err = _split(capsys, data, tmp_path / "s", "--labeled", "2", "--seed", "3", "--dataset", "digits")
    assert code == 2 and err.startswith("error: split seed 3 draws 2 labeled ids of") and "have no labeled pixel" in err
    assert not (tmp_path / "s" / "labeled.txt").exists()
    assert _split(capsys, data, tmp_path / "s", "--labeled", "30", "--seed", "3", "--dataset", "digits")[0] == 0
    # A fixed list (the paper's published ones) is the user's choice: said, not refused.
    (tmp_path / "two.txt").write_text("digits_train_00000\ndigits_train_00001\n")
    code, _ = _split(capsys, data, tmp_path / "f", "--labeled", "2", "--seed", "0", "--dataset", "digits",
                     "--labeled-list", tmp_path / "two.txt")
    labeled = (tmp_path / "f" / "labeled.txt").read_text().split()
    assert code == 0 and labeled == ["digits_train_00000", "digits_train_00001"]
    assert any(r.levelname == "WARNING" and r.getMessage().startswith("the fixed labeled list (2 ids)")
               for r in caplog.records)


def test_a_drawn_classification_set_missing_a_class_stops_the_split(capsys, tmp_path):
    from dmt.data.prepare.digits_cls import prepare_digits_cls

    data = tmp_path / "digits_cls"
    prepare_digits_cls(data)
    code, err = _split(capsys, data, tmp_path / "s", "--labeled", "5", "--seed", "0", "--dataset", "digits_cls",
                       "--valtiny-from-train")
    assert code == 2 and "split seed 0 draws 5 labeled ids" in err and "have no labeled image" in err, err
