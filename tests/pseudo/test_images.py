"""Top-alpha image pseudo-labels for classification (Algorithm 1, line 5), by hand."""

import numpy as np
import pytest
import torch

from dmt.errors import DMTError
from dmt.pseudo.images import (
    ImagePseudoLabels,
    generate_image_labels,
    top_alpha_images,
    top_alpha_threshold,
)

CONF = [0.9, 0.2, 0.7, 0.95, 0.7, 0.4, 0.1, 0.6, 0.3, 0.5]


def test_top_alpha_keeps_the_most_confident_share():
    assert top_alpha_images(CONF, 0.2).tolist() == [0, 3]  # ceil(0.2 * 10) = 2: .95 and .9
    assert top_alpha_threshold(CONF, 0.2) == 0.9
    assert top_alpha_images(CONF, 0.4).tolist() == [0, 2, 3, 4]  # 4th is .7, tied: both kept
    assert top_alpha_images(CONF, 0.3).tolist() == [0, 2, 3, 4]  # 3rd is .7: the tie keeps 4
    assert top_alpha_images(CONF, 0.25).tolist() == [0, 2, 3, 4]  # ceil(2.5) = 3
    assert top_alpha_images(CONF, 1.0).tolist() == list(range(10))
    assert top_alpha_threshold(CONF, 1.0) == 0.0
    assert top_alpha_images(CONF, 0.01).tolist() == [3]  # at least one image


def test_non_finite_confidence_is_an_error():
    with pytest.raises(DMTError, match="non-finite"):
        top_alpha_images([0.5, float("nan")], 0.5)


class Fixed(torch.nn.Module):
    """Logits stored per image index (the image's first pixel)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, images):
        return self.logits[images[:, 0, 0, 0].long()]


class Images(torch.utils.data.Dataset):
    def __init__(self, truth):
        self.truth, self.ids = truth, [f"u{k}" for k in range(len(truth))]

    def __len__(self):
        return len(self.truth)

    def __getitem__(self, k):
        return {"image": torch.full((3, 2, 2), k, dtype=torch.uint8), "target": torch.tensor(self.truth[k]),
                "conf": torch.tensor(1.0), "is_pseudo": False, "id": self.ids[k]}


def test_generate_writes_the_kept_images_with_label_and_confidence(tmp_path):
    # softmax confidences: u0 .88 (class 1), u1 .5 (tie -> class 0), u2 .73 (class 0), u3 .98 (class 2)
    logits = [[0.0, 2.0, 0.0], [1.0, 1.0, -30.0], [1.0, 0.0, 0.0], [0.0, 0.0, 4.5]]
    truth = [1, 1, 0, 0]
    summary = generate_image_labels(Fixed(logits), Images(truth), tmp_path / "p.h5", 0.5, "sha256:x",
                                    torch.device("cpu"), batch_size=3, amp=False)
    store = ImagePseudoLabels(tmp_path / "p.h5", unlabeled_ids=["u0", "u1", "u2", "u3", "u4"])
    assert store.ids == ["u0", "u3"] and summary["kept"] == 2
    label, conf = store["u3"]
    assert label == 2 and conf == pytest.approx(np.exp(4.5) / (np.exp(4.5) + 2), rel=1e-6)
    assert store["u0"][0] == 1
    assert summary["kept_accuracy"] == 0.5 and summary["all_accuracy"] == 0.5
    with pytest.raises(DMTError, match="outside the unlabeled split"):
        ImagePseudoLabels(tmp_path / "p.h5", unlabeled_ids=["u0"])
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(DMTError, match="bad.h5 is not a sealed dmt HDF5 file"):
        ImagePseudoLabels(tmp_path / "bad.h5")
