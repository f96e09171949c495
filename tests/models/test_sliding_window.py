"""Sliding-window inference (dmt.models.windows.Window): the same output as the whole image where
one window covers it, exactly the window-averaged logits elsewhere, and the window reaching
evaluation, pseudo-labelling and predict."""

import numpy as np
import pytest
import torch
from torch import nn

from dmt.errors import DMTError
from dmt.evaluation.metrics import evaluate_segmentation
from dmt.models import build_model
from dmt.models.inference import predict
from dmt.models.windows import Window, window_starts
from dmt.pseudo.segmentation import PseudoLabelStore, generate


class Images:
    """Images of different sizes with random targets, as dmt.models.inference expects them."""

    def __init__(self, sizes, classes=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.ids = [f"im{k}" for k in range(len(sizes))]
        self.items = [{"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g),
                       "target": torch.randint(0, classes, (h, w), generator=g), "id": i}
                      for i, (h, w) in zip(self.ids, sizes, strict=True)]
        self.num_classes = classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


class WindowMean(nn.Module):
    """Logits that depend on the whole input: a per-pixel 1x1 map plus the input's mean per
    channel, so every window position sees another offset."""

    def __init__(self, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.pixel = nn.Conv2d(3, classes, 1)
        self.pooled = nn.Linear(3, classes)

    def forward(self, x):
        x = x.float() / 255
        return self.pixel(x) + self.pooled(x.mean(dim=(2, 3)))[:, :, None, None]


def reference_logits(model, image: torch.Tensor, size, starts_h, starts_w) -> np.ndarray:
    """The window average by hand: each window run on its own, summed into place in numpy."""
    c = model.pixel.out_channels
    h, w = image.shape[-2:]
    total, count = np.zeros((c, h, w)), np.zeros((h, w))
    for top in starts_h:
        for left in starts_w:
            crop = image[None, :, top:top + size[0], left:left + size[1]]
            with torch.no_grad():
                total[:, top:top + size[0], left:left + size[1]] += model(crop)[0].double().numpy()
            count[top:top + size[0], left:left + size[1]] += 1
    assert count.min() >= 1
    return total / count


def collect(model, data, **kwargs):
    out = {}
    for batch in predict(model, data, torch.device("cpu"), desc=None, **kwargs):
        for k, (h, w) in enumerate(batch.sizes):
            out[batch.ids[k]] = batch.logits[k, :, :h, :w].float().numpy()
    return out


def test_window_starts_cover_the_image_the_last_flush_with_its_end():
    assert window_starts(10, 6, 4) == [0, 4]
    assert window_starts(11, 6, 2) == [0, 2, 4, 5]
    assert window_starts(2048, 801, 534) == [0, 534, 1068, 1247]
    assert window_starts(1024, 801, 534) == [0, 223]
    assert window_starts(6, 6, 3) == [0]


@pytest.mark.parametrize("name", ["small_deeplab", "deeplabv3plus"])
def test_one_window_covering_the_image_equals_whole_image_inference(name):
    model = build_model(name, 3, seed=0).eval()
    data = Images([(20, 24), (17, 30), (24, 16)])
    # Batch 1 on both sides: the same tensors reach the model, so the logits are bit-equal.
    whole = collect(model, data, batch_size=1, pad_to=(24, 32))
    slid = collect(model, data, batch_size=2, window=Window((24, 32), (16, 16)))
    for i in data.ids:
        np.testing.assert_array_equal(slid[i], whole[i])


def test_windows_elsewhere_average_exactly_the_logits_of_each_window():
    model = WindowMean().eval()
    data = Images([(10, 13), (9, 11)])
    size, stride = (6, 8), (4, 3)
    slid = collect(model, data, batch_size=2, window=Window(size, stride))
    # im0 10x13: rows 0, 4; columns 0, 3, 5 (the last flush with the end); im1 9x11: 0, 3 and 0, 3.
    expected = reference_logits(model, data.items[0]["image"], size, [0, 4], [0, 3, 5])
    np.testing.assert_allclose(slid["im0"], expected, rtol=0, atol=1e-5)
    expected = reference_logits(model, data.items[1]["image"], size, [0, 3], [0, 3])
    np.testing.assert_allclose(slid["im1"], expected, rtol=0, atol=1e-5)
    # A position-dependent model: the windows' average is not the whole image's output.
    whole = collect(model, data, batch_size=1)
    assert np.abs(whole["im0"] - slid["im0"]).max() > 1e-3


def test_pseudo_labels_take_the_softmax_of_the_averaged_logits(tmp_path):
    model = WindowMean().eval()
    data = Images([(10, 13), (9, 11)])
    window = Window((6, 8), (4, 3))
    generate(model, data, tmp_path / "p.h5", 3, 1.0, "sha256:t", torch.device("cpu"), batch_size=2, window=window)
    store = PseudoLabelStore(tmp_path / "p.h5", expected_ids=data.ids)
    for item, starts in zip(data.items, [([0, 4], [0, 3, 5]), ([0, 3], [0, 3])], strict=True):
        logits = reference_logits(model, item["image"], window.size, *starts)
        probs = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
        labels, conf = store.raw(item["id"])
        assert (labels == probs.argmax(0)).mean() > 0.999  # ties in float rounding aside
        np.testing.assert_allclose(conf.astype(np.float64), probs.max(0), atol=1e-3)


def test_evaluation_scores_the_window_averaged_labels():
    model = WindowMean().eval()
    data = Images([(10, 13), (9, 11)])
    window = Window((6, 8), (4, 3))
    result = evaluate_segmentation(model, data, torch.device("cpu"), batch_size=2, window=window, progress=False)
    slid = collect(model, data, batch_size=2, window=window)
    correct = sum(int((slid[i["id"]].argmax(0) == i["target"].numpy()).sum()) for i in data.items)
    assert result["pixel_accuracy"] == pytest.approx(correct / (10 * 13 + 9 * 11))


def test_bad_windows_are_one_clear_line():
    with pytest.raises(DMTError, match="stride .* larger than the window"):
        Window((8, 8), (9, 4))
    with pytest.raises(DMTError, match="positive"):
        Window((0, 8), (4, 4))
    with pytest.raises(DMTError, match="needs a stride"):
        Window.of([8, 8], None)
    with pytest.raises(DMTError, match="give --window"):
        Window.of(None, [8, 8])
    assert Window.of(None, None) is None


def test_predict_slides_the_window_the_model_was_exported_with(tmp_path):
    from PIL import Image

    from dmt.deliver.export import palette
    from dmt.deliver.predict import predict_masks

    model = WindowMean().eval()
    data = Images([(10, 13), (9, 11)])
    paths = []
    for item in data.items:
        path = tmp_path / f"{item['id']}.png"
        Image.fromarray(item["image"].permute(1, 2, 0).numpy()).save(path)
        paths.append((item["id"], path))
    meta = {"class_names": ["a", "b", "c"], "palette": palette((), 3), "pad_to": [0, 0],
            "window": [6, 8], "stride": [4, 3]}
    summary = predict_masks(model, meta, paths, tmp_path / "out", torch.device("cpu"), batch_size=2)
    assert (summary["window"], summary["stride"]) == ([6, 8], [4, 3])
    slid = collect(model, data, batch_size=2, window=Window((6, 8), (4, 3)))
    for image_id, _ in paths:
        mask = np.asarray(Image.open(tmp_path / "out" / f"{image_id}.png"))
        np.testing.assert_array_equal(mask, slid[image_id].argmax(0))
    whole = predict_masks(model, {**meta, "window": None, "stride": None}, paths, tmp_path / "w",
                          torch.device("cpu"), batch_size=2)
    assert "window" not in whole
