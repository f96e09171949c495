"""Class-wise top-alpha thresholds (exact) and the HDF5 pseudo-label store."""

import math

import h5py
import numpy as np
import pytest

from dmt.errors import DMTError
from dmt.pseudo import apply_thresholds, class_thresholds
from dmt.pseudo.h5io import write_sealed
from dmt.pseudo.segmentation import ConfidenceHistogram, PseudoLabelStore, PseudoLabelWriter

# Class 0: five pixels, class 1: three, class 2: two (a tie), class 3: none.
LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
CONF = np.array([0.9, 0.8, 0.8, 0.5, 0.1, 0.3, 0.6, 0.45, 0.7, 0.7])


def test_thresholds_rank_the_top_fraction_per_class():
    tau = class_thresholds(LABELS, CONF, alpha=0.4, num_classes=4)
    # class 0: ceil(0.4*5)=2nd best = 0.8; class 1: ceil(1.2)=2nd of (0.6, 0.45, 0.3) = 0.45;
    # class 2: ceil(0.8)=1st = 0.7; class 3: no pixels.
    assert tau[:3].tolist() == [0.8, 0.45, 0.7]
    assert tau[3] == math.inf
    kept = apply_thresholds(LABELS, CONF, tau)
    # The tie at 0.8 keeps both pixels, the tie at 0.7 both.
    assert kept.tolist() == [0, 0, 0, 255, 255, 255, 1, 1, 2, 2]


def test_alpha_exact_product_is_not_rounded_up():
    # 0.28 * 25 is 7.000000000000001 in binary floating point: still seven pixels, not eight.
    conf = np.arange(25) / 25
    tau = class_thresholds(np.zeros(25, int), conf, alpha=0.28, num_classes=1)
    assert tau[0] == 18 / 25  # 24/25 ... 18/25


def test_alpha_one_keeps_everything():
    tau = class_thresholds(LABELS, CONF, alpha=1.0, num_classes=4)
    assert tau.tolist() == [0, 0, 0, 0]
    assert apply_thresholds(LABELS, CONF, tau).tolist() == LABELS.tolist()


def test_tiny_alpha_keeps_the_best_pixel_of_each_class():
    tau = class_thresholds(LABELS, CONF, alpha=1e-9, num_classes=4)
    assert tau[:3].tolist() == [0.9, 0.6, 0.7]


def test_ignored_input_labels_stay_ignored_and_take_no_part():
    labels = np.array([0, 255, 0])
    conf = np.array([0.5, 1.0, 0.25])
    tau = class_thresholds(labels, conf, alpha=0.5, num_classes=1)
    assert tau.tolist() == [0.5]
    assert apply_thresholds(labels, conf, tau).tolist() == [0, 255, 255]


def test_bad_alpha_is_an_error():
    for bad in (0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            class_thresholds(LABELS, CONF, bad, 4)


def test_histogram_equals_exact_thresholds_on_float16():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=20000).astype(np.uint8)
    conf = rng.random(20000).astype(np.float16)
    hist = ConfidenceHistogram(6)
    for part in np.array_split(np.arange(20000), 7):
        hist.update(labels[part], conf[part])
    for alpha in (1e-6, 0.2, 0.4, 0.6, 0.8, 0.999, 1.0):
        exact = class_thresholds(labels, conf, alpha, 6)
        np.testing.assert_array_equal(hist.thresholds(alpha), exact)
        kept = apply_thresholds(labels, conf, exact)
        np.testing.assert_array_equal(hist.kept_counts(exact),
                                      [(kept == c).sum() for c in range(6)])
    np.testing.assert_array_equal(hist.class_counts(), [(labels == c).sum() for c in range(6)])


def _write(path, images, alpha=0.5, num_classes=3):
    with PseudoLabelWriter(path, list(images), num_classes, alpha, "sha256:abc") as w:
        for image_id, (labels, conf) in images.items():
            w.add(image_id, labels, conf)


def _images():
    # Two images of different sizes; all class-1 pixels of the set rank 1.0 > 0.75 > 0.5 > 0.25.
    a = (np.array([[0, 1], [1, 2]], np.uint8), np.array([[0.5, 1.0], [0.25, 0.75]], np.float16))
    b = (np.array([[1, 0, 0]], np.uint8), np.array([[0.75, 0.5, 0.25]], np.float16))
    return {"img_a": a, "img_b": b}


def test_store_round_trip_with_thresholds_over_the_whole_set(tmp_path):
    path = tmp_path / "pseudo.h5"
    _write(path, _images())
    store = PseudoLabelStore(path, expected_ids=["img_b", "img_a"])
    # class 0: (0.5, 0.5, 0.25) -> 2nd = 0.5; class 1: (1.0, 0.75, 0.25) -> 2nd = 0.75;
    # class 2: (0.75) -> 0.75.
    assert store.tau.tolist() == [0.5, 0.75, 0.75]
    assert store.class_counts.tolist() == [3, 3, 1]
    assert store.kept_counts.tolist() == [2, 2, 1]
    assert store.alpha == 0.5 and store.teacher_digest == "sha256:abc"
    labels, conf = store["img_a"]
    assert labels.tolist() == [[0, 1], [255, 2]]
    assert conf.dtype == np.float16 and conf.tolist() == [[0.5, 1.0], [0.25, 0.75]]
    assert store["img_b"][0].tolist() == [[1, 0, 255]]
    with h5py.File(path) as f:
        assert f["labels/img_a"].dtype == np.uint8 and f["conf/img_a"].dtype == np.float16
        assert f["labels/img_b"].chunks == (1, 3)  # one chunk per image


def test_failed_generation_leaves_no_file(tmp_path):
    path = tmp_path / "pseudo.h5"
    with pytest.raises(RuntimeError), PseudoLabelWriter(path, ["x", "y"], 3, 0.5, "d") as w:
        w.add("x", *_images()["img_a"])
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    writer = PseudoLabelWriter(path, ["x", "y"], 3, 0.5, "d")
    with pytest.raises(DMTError, match="1 ids got no pseudo labels"), writer as w:
        w.add("x", *_images()["img_a"])
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "pseudo.h5"
    _write(path, _images())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DMTError, match="damaged or truncated"):
        PseudoLabelStore(path)


def test_not_a_pseudo_label_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1
    with pytest.raises(DMTError, match="other.h5 is not a sealed dmt HDF5 file"):
        PseudoLabelStore(path)
    with write_sealed(path) as out:
        out.file["x"] = 1
    with pytest.raises(DMTError, match="not a complete DMT pseudo-label file"):
        PseudoLabelStore(path)


def test_ids_that_do_not_match_the_split_are_a_clear_error(tmp_path):
    path = tmp_path / "pseudo.h5"
    _write(path, _images())
    with pytest.raises(DMTError, match="1 ids missing.*'img_c'.*1 unexpected.*'img_b'"):
        PseudoLabelStore(path, expected_ids=["img_a", "img_c"])
    with pytest.raises(DMTError, match="no pseudo labels for id 'nope'"):
        PseudoLabelStore(path)["nope"]


def test_non_finite_teacher_output_is_rejected(tmp_path):
    labels = np.zeros((1, 2), np.uint8)
    conf = np.array([[np.nan, 0.5]], np.float16)
    with pytest.raises(DMTError, match="non-finite"), PseudoLabelWriter(tmp_path / "p.h5", ["a"], 2, 0.5, "d") as w:
        w.add("a", labels, conf)
    assert not (tmp_path / "p.h5").exists()


class _Images:
    """Three images of different sizes, with ground truth for the accuracy diagnostic."""

    def __init__(self):
        import torch
        from torchvision import tv_tensors

        g = torch.Generator().manual_seed(0)
        self.ids = ["a", "b", "c"]
        self.items = []
        for image_id, (h, w) in zip(self.ids, [(20, 24), (17, 30), (24, 16)], strict=False):
            image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
            target = torch.randint(0, 3, (h, w), generator=g)
            self.items.append({"image": tv_tensors.Image(image), "target": tv_tensors.Mask(target),
                               "id": image_id})

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return self.items[i]


def test_generate_one_pass_matches_the_model_and_exact_thresholds(tmp_path):
    import torch

    from dmt.models import build_model
    from dmt.pseudo.segmentation import generate

    model = build_model("small_deeplab", 3, seed=0).eval()
    data = _Images()
    summary = generate(model, data, tmp_path / "p.h5", 3, 0.5, "sha256:t", torch.device("cpu"),
                       batch_size=2, pad_to=(24, 24))
    store = PseudoLabelStore(tmp_path / "p.h5", expected_ids=data.ids)
    all_labels, all_conf = [], []
    for item in data.items:
        h, w = item["image"].shape[-2:]
        padded = torch.zeros(1, 3, 24, 30 if item["id"] != "c" else 24, dtype=torch.uint8)
        padded[0, :, :h, :w] = item["image"]
        with torch.no_grad():
            probs = model(padded).softmax(1)[0, :, :h, :w]
        labels, conf = store.raw(item["id"])
        assert labels.shape == (h, w)
        agree = labels == probs.argmax(0).numpy()
        assert agree.mean() > 0.999  # ties in float rounding aside
        np.testing.assert_allclose(conf.astype(np.float32), probs.max(0).values.numpy(), atol=1e-3)
        all_labels.append(labels.ravel())
        all_conf.append(conf.ravel())
    labels, conf = np.concatenate(all_labels), np.concatenate(all_conf)
    np.testing.assert_array_equal(store.tau, class_thresholds(labels, conf, 0.5, 3))
    kept = apply_thresholds(labels, conf, store.tau)
    truth = np.concatenate([i["target"].numpy().ravel() for i in data.items])
    assert summary["kept_accuracy"] == pytest.approx((kept == truth).sum() / (kept != 255).sum())
    assert summary["kept_fraction"] == pytest.approx((kept != 255).mean())
    for c, acc in enumerate(summary["kept_accuracy_per_class"]):
        k = kept == c
        assert acc == (pytest.approx((truth[k] == c).mean()) if k.any() else None)
