"""Classification data: CIFAR-10 from its official python pickles, the digits_cls set, the data set
items and the training transform, on fixtures in the real formats."""

import json
import pickle
import random

import numpy as np
import pytest
import torch
from helpers.files import make_cifar10_pickles, write_cifar10_batch
from PIL import Image
from torchvision import tv_tensors

from dmt.data.classification import ClassificationDataset, read_class_split
from dmt.data.classification_transforms import (
    AUGMENT,
    Cutout,
    RandomRandAugment,
    classification_train_transform,
    cutout,
)
from dmt.data.prepare.cifar10 import prepare_cifar10
from dmt.data.prepare.digits_cls import prepare_digits_cls
from dmt.data.prepared import MARKER
from dmt.errors import DMTError
from dmt.training.loop import _collate

BATCHES = [f"data_batch_{k}" for k in range(1, 6)]


def load_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def torchvision_read(path):
    """What torchvision.datasets.CIFAR10 does with a batch file (without its md5 checks)."""
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    return entry["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), entry["labels"]


@pytest.fixture
def cifar(tmp_path):
    return make_cifar10_pickles(tmp_path / "src", n_train_per_batch=4, n_test=6)


def test_cifar_batches_read_back_exactly(tmp_path, cifar):
    # Batch 2 by hand: image 1 is black but for three pixels, one per channel.
    data = np.zeros((4, 3072), np.uint8)
    data[1, 0 * 1024 + 0 * 32 + 31] = 9  # R at y=0, x=31
    data[1, 1 * 1024 + 5 * 32 + 7] = 200  # G at y=5, x=7
    data[1, 2 * 1024 + 31 * 32 + 0] = 17  # B at y=31, x=0
    write_cifar10_batch(cifar / "data_batch_2", data, [0, 7, 2, 9], "training batch 2 of 5")

    summary = prepare_cifar10(tmp_path / "src", tmp_path / "out")
    out = tmp_path / "out"
    train, test = load_npz(out / "train.npz"), load_npz(out / "test.npz")
    assert train["images"].shape == (20, 32, 32, 3) and train["images"].dtype == np.uint8
    assert train["labels"].dtype == np.int64 and test["images"].shape == (6, 32, 32, 3)

    image = train["images"][4 + 1]  # batch 1 holds 4 images
    assert image[0, 31, 0] == 9 and image[5, 7, 1] == 200 and image[31, 0, 2] == 17
    assert image.astype(int).sum() == 9 + 200 + 17 and train["labels"][5] == 7

    parts = [torchvision_read(cifar / name) for name in BATCHES]
    np.testing.assert_array_equal(train["images"], np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(train["labels"], np.concatenate([p[1] for p in parts]))
    test_images, test_labels = torchvision_read(cifar / "test_batch")
    np.testing.assert_array_equal(test["images"], test_images)
    np.testing.assert_array_equal(test["labels"], test_labels)

    ids = [f"train_{k:05d}" for k in range(20)]
    assert train["ids"].tolist() == ids == read_class_split(out, "train")
    assert test["ids"].tolist() == [f"test_{k:05d}" for k in range(6)] == read_class_split(out, "test")
    assert summary["counts"] == {"train": 20, "test": 6}
    assert summary["class_counts"]["train"] == np.bincount(train["labels"], minlength=10).tolist()
    assert summary["class_counts"]["test"] == np.bincount(test_labels, minlength=10).tolist()
    assert json.loads((out / MARKER).read_text()) == summary

    # Complete folder from the same source: kept, whether the root or the batch folder is named.
    assert prepare_cifar10(cifar, out) == summary
    prepare_cifar10(cifar, tmp_path / "direct")
    np.testing.assert_array_equal(load_npz(tmp_path / "direct" / "train.npz")["images"], train["images"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_cifar_root_names_the_expected_file(tmp_path):
    with pytest.raises(DMTError, match=r"expected \S*nope/cifar-10-batches-py/data_batch_1"):
        prepare_cifar10(tmp_path / "nope", tmp_path / "out")


@pytest.mark.parametrize("damage, message", [
    ("missing", r"data_batch_4 does not exist"),
    ("truncated", r"data_batch_3 is truncated or corrupt"),
    ("label 11", r"test_batch has labels \[11\]; expected 0-9"),
    ("shape", r"data_batch_5: data is uint8 of shape \(4, 3000\); expected uint8 N x 3072"),
    ("hostile", r"data_batch_1 is truncated or corrupt .*refusing to load \w+\.system"),
], ids=["missing", "truncated", "label11", "shape", "hostile"])
def test_damaged_cifar_batches_are_named(tmp_path, cifar, damage, message):
    if damage == "missing":
        (cifar / "data_batch_4").unlink()
    elif damage == "truncated":
        raw = (cifar / "data_batch_3").read_bytes()
        (cifar / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    elif damage == "label 11":
        write_cifar10_batch(cifar / "test_batch", np.zeros((6, 3072), np.uint8), [0, 11, 2, 3, 4, 5])
    elif damage == "shape":
        write_cifar10_batch(cifar / "data_batch_5", np.zeros((4, 3000), np.uint8), [0, 1, 2, 3])
    else:
        class Exploit:
            def __reduce__(self):
                import os
                return os.system, ("echo pwned",)
        (cifar / "data_batch_1").write_bytes(pickle.dumps({"data": Exploit()}, protocol=2))
    with pytest.raises(DMTError, match=message):
        prepare_cifar10(cifar.parent, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*.tmp"))


def test_digits_cls_is_deterministic_disjoint_and_true_to_the_source(tmp_path):
    from sklearn.datasets import load_digits

    a = prepare_digits_cls(tmp_path / "a", seed=3, n_test=400, size=16)
    b = prepare_digits_cls(tmp_path / "b", seed=3, n_test=400, size=16)
    c = prepare_digits_cls(tmp_path / "c", seed=4, n_test=400, size=16)
    assert a == b and a["source_digits"] != c["source_digits"]
    for split in ("train", "test"):
        x, y = load_npz(tmp_path / "a" / f"{split}.npz"), load_npz(tmp_path / "b" / f"{split}.npz")
        for key in ("images", "labels", "ids"):
            np.testing.assert_array_equal(x[key], y[key])
    src = a["source_digits"]
    assert len(src["test"]) == 400 and len(src["train"]) == 1797 - 400
    assert not set(src["train"]) & set(src["test"]) and len(set(src["train"]) | set(src["test"])) == 1797
    assert a["counts"] == {"train": 1397, "test": 400} and sum(a["class_counts"]["test"]) == 400

    test = load_npz(tmp_path / "a" / "test.npz")
    assert test["images"].shape == (400, 16, 16, 3) and test["images"].dtype == np.uint8
    assert (test["images"][..., 0] == test["images"][..., 2]).all()  # grey replicated to RGB
    assert test["ids"].tolist() == read_class_split(tmp_path / "a", "test")
    bunch = load_digits()
    k = 17
    source = src["test"][k]
    grey = Image.fromarray(np.round(bunch.images[source] / 16 * 255).astype(np.uint8))
    expected = np.asarray(grey.resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(test["images"][k, ..., 1], expected)
    assert test["labels"][k] == bunch.target[source]

    assert prepare_digits_cls(tmp_path / "a", seed=3, n_test=400, size=16) == a
    with pytest.raises(DMTError, match="prepared with"):
        prepare_digits_cls(tmp_path / "a", seed=5, n_test=400, size=16)
    with pytest.raises(DMTError, match="n_test must be between 1 and 1796"):
        prepare_digits_cls(tmp_path / "d", n_test=1797)


def test_read_class_split_says_what_it_expected(tmp_path):
    with pytest.raises(DMTError, match="does not exist"):
        read_class_split(tmp_path / "nope", "train")
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DMTError, match=r"has no split 'train': expected a prepared classification folder "
                                       r"\(train.npz .* lists/train.txt"):
        read_class_split(tmp_path, "train")
    with pytest.raises(DMTError, match="not a prepared classification folder"):
        ClassificationDataset(tmp_path, ["a"])


def test_dataset_items_pseudo_labels_and_unknown_ids(tmp_path, cifar):
    prepare_cifar10(cifar, tmp_path / "out")
    root = tmp_path / "out"
    train, test = load_npz(root / "train.npz"), load_npz(root / "test.npz")
    ids = ["test_00002", "train_00013", "train_00000"]  # from either split, in any order
    data = ClassificationDataset(root, ids)
    assert len(data) == 3
    item = data[0]
    assert set(item) == {"image", "target", "conf", "is_pseudo", "id"}
    assert type(item["image"]) is torch.Tensor and item["image"].dtype == torch.uint8
    assert item["image"].shape == (3, 32, 32)
    np.testing.assert_array_equal(item["image"].permute(1, 2, 0).numpy(), test["images"][2])
    assert item["target"].shape == () and item["target"].dtype == torch.int64
    assert int(item["target"]) == test["labels"][2] and item["id"] == "test_00002"
    assert item["conf"].shape == () and item["conf"].dtype == torch.float32 and float(item["conf"]) == 1.0
    assert item["is_pseudo"] is False
    assert int(data[1]["target"]) == train["labels"][13]
    np.testing.assert_array_equal(data[2]["image"].permute(1, 2, 0).numpy(), train["images"][0])
    # A transform (training's augmentation) gets the image typed for torchvision's transforms.
    seen = ClassificationDataset(root, ids, transform=lambda item: item)[0]
    assert isinstance(seen["image"], tv_tensors.Image) and torch.equal(seen["image"], item["image"])

    pseudo = {i: (np.int64(k + 3), np.float16(0.25 * (k + 1))) for k, i in enumerate(ids)}
    item = ClassificationDataset(root, ids, pseudo=pseudo)[1]
    assert item["is_pseudo"] is True and int(item["target"]) == 4 and float(item["conf"]) == 0.5
    assert item["target"].dtype == torch.int64 and item["conf"].dtype == torch.float32

    item = ClassificationDataset(root, ids, with_labels=False)[0]
    assert int(item["target"]) == 255 and float(item["conf"]) == 0.0 and item["is_pseudo"] is False

    batch = _collate([data[k] for k in range(3)])  # what the training loop stacks
    assert batch["image"].shape == (3, 3, 32, 32) and batch["target"].shape == batch["conf"].shape == (3,)

    with pytest.raises(DMTError, match=r"2 split ids are not in the data set .*: \['zz', 'train_99999'\]"):
        ClassificationDataset(root, ["train_00001", "zz", "train_99999"])


@pytest.fixture
def one_thread():
    """Tiny images: torch's intra-op threads cost more than they save (DataLoader workers use 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _item(size=32, value=None):
    g = torch.Generator().manual_seed(1)
    image = (torch.full((3, size, size), value, dtype=torch.uint8) if value is not None
             else torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
    return {"image": tv_tensors.Image(image), "target": torch.tensor(7), "conf": torch.tensor(0.75),
            "is_pseudo": True, "id": "x"}


@pytest.mark.parametrize("name, size", [("cifar10", 32), ("digits_cls", 16)])
def test_train_transform_keeps_format_and_labels_and_is_seeded_by_torch_only(name, size, one_thread):
    transform = classification_train_transform(**AUGMENT[name])
    item = _item(size)
    outs = []
    for run in range(2):
        random.seed(run)  # other generators must not matter
        np.random.seed(run)
        torch.manual_seed(0)
        outs.append([transform(item) for _ in range(8)])
    for out, again in zip(*outs, strict=False):
        assert isinstance(out["image"], tv_tensors.Image) and out["image"].dtype == torch.uint8
        assert out["image"].shape == (3, size, size)
        assert out["target"] is item["target"] and out["conf"] is item["conf"]
        assert out["is_pseudo"] is True and out["id"] == "x"
        assert torch.equal(out["image"], again["image"])
    assert all(not torch.equal(out["image"], item["image"]) for out in outs[0])
    assert len({out["image"].numpy().tobytes() for out in outs[0]}) == 8
    assert torch.equal(item["image"], _item(size)["image"])  # the input is not modified
    plain = transform(item["image"].as_subclass(torch.Tensor))  # a bare image works too
    assert plain.shape == (3, size, size) and plain.dtype == torch.uint8


def test_random_randaugment_applies_one_op_at_a_random_magnitude(monkeypatch, one_thread):
    augment = RandomRandAugment()
    calls = []
    original = augment._apply_image_or_video_transform

    def spy(image, op, magnitude, **kwargs):
        calls.append((op, augment.magnitude))
        return original(image, op, magnitude, **kwargs)

    monkeypatch.setattr(augment, "_apply_image_or_video_transform", spy)
    torch.manual_seed(0)
    image = _item()["image"]
    for _ in range(120):
        assert augment(image).shape == image.shape
    assert len(calls) == 120  # one operation per sample
    assert {m for _, m in calls} == set(range(1, 11))
    assert len({op for op, _ in calls}) >= 12


def test_cutout_zeroes_exactly_one_square():
    image = torch.full((3, 32, 32), 100, dtype=torch.uint8)
    out = cutout(image, 16, cy=12, cx=20)
    assert (out[:, 4:20, 12:28] == 0).all() and (out == 0).sum() == 3 * 16 * 16
    assert (image == 100).all()  # a copy
    assert (cutout(image, 5, cy=10, cx=10) == 0).sum() == 3 * 5 * 5
    clipped = cutout(image, 16, cy=0, cx=31)  # clipped at the corner: 8 rows, 9 columns
    assert (clipped[:, :8, 23:] == 0).all() and (clipped == 0).sum() == 3 * 8 * 9

    torch.manual_seed(0)
    sides = set()
    for _ in range(50):
        out = Cutout(8)(tv_tensors.Image(image))
        assert isinstance(out, tv_tensors.Image)
        rows, cols = torch.nonzero(out[0] == 0, as_tuple=True)
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert len(rows) == h * w and h <= 8 and w <= 8 and (out[:, rows, cols] == 0).all()
        sides.add((h, w))
    assert (8, 8) in sides and len(sides) > 1  # inside mostly, sometimes clipped
