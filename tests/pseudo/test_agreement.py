"""The two teachers' agreement on the unlabeled set, read from their pseudo-label files."""

import json

import numpy as np
import pytest

from dmt.cli import main
from dmt.data.voc import write_mask_png
from dmt.errors import DMTError
from dmt.pseudo.agreement import agreement_matrix, error_overlap, pixel_agreement, summarize_agreement, summarize_errors
from dmt.pseudo.segmentation import PseudoLabelWriter
from dmt.store.atomic import write_json
from dmt.store.integrity import sidecar_fields, sidecar_path

# Teacher argmax per image: A and B agree on 3 of 4 pixels of x and 2 of 3 of y (5 of 7).
A = {"x": np.array([[0, 0], [1, 1]]), "y": np.array([[2, 2, 2]])}
B = {"x": np.array([[0, 1], [1, 1]]), "y": np.array([[2, 2, 0]])}


def write_set(path, labels: dict, conf: float = 0.6, alpha: float = 0.2):
    with PseudoLabelWriter(path, list(labels), 3, alpha, "sha256:teacher") as w:
        for image_id, lab in labels.items():
            # Confidences differ per pixel: most pixels fall below the top-20% thresholds.
            c = np.linspace(0.1, conf, lab.size).reshape(lab.shape).astype(np.float16)
            w.add(image_id, lab, c)
    write_json(sidecar_path(path), sidecar_fields(path))
    return path


def test_agreement_on_hand_made_arrays():
    m = agreement_matrix(A["x"], B["x"], 3)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]  # rows: A's class, columns: B's
    out = summarize_agreement(m)
    assert (out["agreeing"], out["elements"], out["agreement"]) == (3, 4, 0.75)
    # class 0: 1 pixel both, 2 either (IoU 1/2); class 1: 2 of 3 (2/3); class 2: neither predicts it
    assert out["class_agreement_per_class"] == [0.5, pytest.approx(2 / 3), None]
    assert out["class_agreement"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert summarize_agreement(agreement_matrix([[1, 2]], [[2, 1]], 3))["agreement"] == 0.0
    # one class everywhere but a little: the share is high, the class mean is not
    bg = summarize_agreement(agreement_matrix([0] * 98 + [1, 2], [0] * 98 + [2, 1], 3))
    assert bg["agreement"] == 0.98 and bg["class_agreement"] == pytest.approx(1 / 3)
    with pytest.raises(DMTError, match=r"shapes \(2, 2\) and \(1, 3\)"):
        agreement_matrix(A["x"], B["y"], 3)
    with pytest.raises(DMTError, match="outside the 2 classes"):
        agreement_matrix(A["y"], B["y"], 2)


def test_pixel_agreement_compares_every_pixel_before_the_thresholds(tmp_path):
    sets = {"A": write_set(tmp_path / "pseudo_A.h5", A), "B": write_set(tmp_path / "pseudo_B.h5", B)}
    out = pixel_agreement(sets, ["x", "y"])
    # the thresholds drop most pixels (alpha 0.2), the argmax comparison counts all 7
    assert out["agreeing"] == 5 and out["elements"] == 7
    assert out["agreement"] == pytest.approx(5 / 7) and out["models"] == ["A", "B"]
    # class 0: 1 pixel both of 3 either (x's first, x's second for A, y's last for B); 1 and 2: 2 of 3
    assert out["class_agreement"] == pytest.approx((1 / 3 + 2 / 3 + 2 / 3) / 3)
    assert pixel_agreement({"A": sets["A"], "A2": sets["A"]}, ["x", "y"])["agreement"] == 1.0
    with pytest.raises(DMTError, match="does not match the unlabeled split"):
        pixel_agreement(sets, ["x"])
    with pytest.raises(DMTError, match="two pseudo-label sets, not 1"):
        pixel_agreement({"A": sets["A"]}, ["x", "y"])


def test_error_overlap_and_its_phi_on_hand_made_arrays():
    truth = [0, 0, 1, 1, 2, 2, 255, 0]
    first = [0, 1, 1, 2, 2, 0, 1, 0]   # wrong at 1, 3, 5 (6 is not labeled)
    second = [0, 1, 0, 2, 2, 2, 0, 1]  # wrong at 1, 2, 3, 7; at 1 and 3 with first's wrong class
    counts = error_overlap(first, second, truth)
    assert counts.tolist() == [2, 1, 2, 2, 7]  # both, only first, only second, same class, labeled
    out = summarize_errors(counts, ("A", "B"))
    # phi = (both * neither - only_a * only_b) / sqrt(wrong_a right_a wrong_b right_b) = (4 - 2) / 12
    assert out["phi"] == pytest.approx(1 / 6)
    assert out["error_rate"] == {"A": pytest.approx(3 / 7), "B": pytest.approx(4 / 7)}
    assert out["errors_shared"] == {"A": pytest.approx(2 / 3), "B": 0.5}
    assert out["same_class_where_both_wrong"] == 1.0 and out["one_right"] == pytest.approx(3 / 7)
    # identical errors correlate fully, complementary ones negatively; a model never wrong has no phi
    assert summarize_errors(error_overlap(first, first, truth))["phi"] == pytest.approx(1.0)
    assert summarize_errors(error_overlap([1, 0], [0, 1], [0, 0]))["phi"] == pytest.approx(-1.0)
    assert summarize_errors(error_overlap(truth, second, truth))["phi"] is None
    with pytest.raises(DMTError, match="ground truth of shape"):
        error_overlap(first, second, truth[:3])


def test_with_the_data_the_agreement_compares_the_errors_too(tmp_path):
    sets = {"A": write_set(tmp_path / "pseudo_A.h5", A), "B": write_set(tmp_path / "pseudo_B.h5", B)}
    masks = tmp_path / "data" / "SegmentationClass"
    for folder in (masks, tmp_path / "data/JPEGImages", tmp_path / "data/ImageSets/Segmentation"):
        folder.mkdir(parents=True)  # the VOC layout of a prepared data set
    write_mask_png(masks / "x.png", np.array([[0, 1], [1, 255]], np.uint8))  # A wrong at (0, 1)
    write_mask_png(masks / "y.png", np.array([[2, 2, 0]], np.uint8))          # A wrong at the last
    out = pixel_agreement(sets, ["x", "y"], tmp_path / "data")
    # 6 labeled pixels: A wrong at 2, B at none (B equals the truth where it is labeled)
    assert out["errors"]["error_rate"] == {"A": pytest.approx(2 / 6), "B": 0.0}
    assert out["errors"]["phi"] is None and out["errors"]["one_right"] == pytest.approx(2 / 6)
    assert out["agreement"] == pytest.approx(5 / 7)  # unchanged: every pixel, labeled or not
    assert "errors" not in pixel_agreement(sets, ["x", "y"])
    (masks / "y.png").unlink()
    with pytest.raises(DMTError, match="y.png"):
        pixel_agreement(sets, ["x", "y"], tmp_path / "data")


def test_pixel_agreement_refuses_sets_of_different_image_sizes(tmp_path):
    a = write_set(tmp_path / "a.h5", A)
    b = write_set(tmp_path / "b.h5", {"x": np.zeros((3, 3), int), "y": B["y"]})
    with pytest.raises(DMTError, match="image x: label maps of shapes"):
        pixel_agreement({"A": a, "B": b}, ["x", "y"])


def test_the_agreement_command_checks_digests_and_writes_its_json(tmp_path, capsys):
    a, b = write_set(tmp_path / "pseudo_A.h5", A), write_set(tmp_path / "pseudo_B.h5", B)
    ids = tmp_path / "unlabeled.txt"
    ids.write_text("x\ny\n")
    out = tmp_path / "agreement.json"
    argv = ["agreement", "--dataset", "digits", "--sets", f"A={a}", f"B={b}", "--unlabeled", str(ids)]
    assert main([*argv, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["agreement"] == pytest.approx(5 / 7) and result["element"] == "pixel"
    assert result["sets"]["B"]["file"] == str(b) and result["sets"]["B"]["digest"].startswith("sha256:")
    # a set changed after its job (its sidecar's digest no longer matches) is refused
    write_set(b, A)
    write_json(sidecar_path(b), {**sidecar_fields(b), "digest": "sha256:0"})
    assert main([*argv, "--out", str(tmp_path / "again.json")]) == 2
    assert "does not match the digest its job recorded" in capsys.readouterr().err
    assert not (tmp_path / "again.json").exists()


def test_classification_has_no_second_teacher_to_compare(tmp_path, capsys):
    a = write_set(tmp_path / "pseudo_A.h5", A)
    ids = tmp_path / "unlabeled.txt"
    ids.write_text("x\ny\n")
    code = main(["agreement", "--dataset", "digits_cls", "--sets", f"A={a}", f"B={a}", "--unlabeled", str(ids),
                 "--out", str(tmp_path / "o.json")])
    assert code == 2 and "one model per iteration" in capsys.readouterr().err
