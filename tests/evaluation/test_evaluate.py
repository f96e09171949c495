import numpy as np
import pytest

from dmt.evaluation.metrics import ConfusionMatrix, accuracy, fine_grained_accuracy


def test_miou_ignores_255_and_excludes_absent_classes():
    cm = ConfusionMatrix(4)
    # The 255 pixel, predicted 2, must not count: class 2 then appears nowhere, class 3 neither.
    cm.update(np.array([0, 0, 1, 1, 255]), np.array([0, 1, 1, 1, 2]))
    s = cm.summary(["bg", "a", "b", "c"])
    # bg: tp 1 / union (2 + 1 - 1) = 1/2; a: tp 2 / union (2 + 3 - 2) = 2/3.
    assert s["per_class_iou"] == pytest.approx({"bg": 0.5, "a": 2 / 3})
    assert s["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["pixel_accuracy"] == pytest.approx(3 / 4)
    assert s["excluded_classes"] == ["b", "c"]
    assert s["pixels"] == 4


def test_a_class_only_predicted_counts_with_iou_zero():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 0]]), np.array([[0, 2]]))
    s = cm.summary()
    assert s["per_class_iou"] == {"0": 0.5, "2": 0.0}
    assert s["miou"] == pytest.approx(0.25)


def test_ground_truth_outside_the_classes_is_an_error():
    with pytest.raises(ValueError, match=r"\[37\]"):
        ConfusionMatrix(21).update(np.array([37]), np.array([0]))


def test_accuracy_and_fine_grained_accuracy():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.2, 0.8]])
    targets = np.array([0, 0, 1, 1])
    assert accuracy(probs, targets) == 0.5
    # Correct rows count their true-class probability (0.7, 0.8), wrong rows 0.
    assert fine_grained_accuracy(probs, targets) == pytest.approx((0.7 + 0.8) / 4)


def test_subsets_share_one_pass():
    import torch
    from torchvision import tv_tensors

    from dmt.evaluation.metrics import evaluate_subsets

    class Constant(torch.nn.Module):
        calls = 0

        def forward(self, images):
            Constant.calls += len(images)
            logits = torch.zeros(len(images), 2, *images.shape[-2:])
            logits[:, 1] = 1  # predicts class 1 everywhere
            return logits

    class Data:
        num_classes = 2
        ids = ["a", "b"]

        def __len__(self):
            return 2

        def __getitem__(self, i):
            target = torch.full((2, 2), i, dtype=torch.int64)  # a: all 0, b: all 1
            return {"image": tv_tensors.Image(torch.zeros(3, 2, 2, dtype=torch.uint8)),
                    "target": tv_tensors.Mask(target), "id": self.ids[i]}

    out = evaluate_subsets(Constant(), Data(), {"val": ["a", "b"], "valtiny": ["b"]},
                           torch.device("cpu"), progress=False)
    assert Constant.calls == 2  # each image predicted once
    assert out["valtiny"]["miou"] == 1.0 and out["valtiny"]["excluded_classes"] == ["0"]
    assert out["val"]["per_class_iou"] == {"0": 0.0, "1": 0.5}


def test_classification_final_is_the_best_fine_grained_valtiny_iteration(tmp_path):
    import json

    from dmt.evaluation.final import select_final_classification

    # (valtiny acc, valtiny fine-grained, test acc) per iteration 0..3
    rows = [(0.97, 0.80, 0.90), (0.95, 0.81, 0.91), (0.96, 0.83, 0.93), (0.96, 0.83, 0.94)]
    files = {}
    for i, (acc, fg, test) in enumerate(rows):
        files[i, "A"] = tmp_path / f"iter{i}.json"
        files[i, "A"].write_text(json.dumps(
            {"valtiny": {"accuracy": acc, "fine_grained_accuracy": fg},
             "test": {"accuracy": test, "fine_grained_accuracy": test - 0.1}}))
    final = select_final_classification(files)
    # iteration 0 is the baseline, never selected; 2 and 3 tie on both criteria: the later wins
    assert final["selected"] == "iter3" and final["accuracy"] == 0.94
    assert final["baseline_accuracy"] == 0.90 and final["gain"] == pytest.approx(0.04)
    assert final["fine_grained_accuracy"] == pytest.approx(0.84)
    assert [h["valtiny_accuracy"] for h in final["history"]] == [0.97, 0.95, 0.96, 0.96]


def test_segmentation_final_picks_the_better_last_model_on_valtiny(tmp_path):
    import json

    from dmt.evaluation.final import select_final

    # (valtiny mIoU, val mIoU) of A and B after iterations 0..2
    rows = {(0, "A"): (0.30, 0.31), (0, "B"): (0.35, 0.29), (1, "A"): (0.40, 0.41), (1, "B"): (0.42, 0.40),
            (2, "A"): (0.50, 0.52), (2, "B"): (0.50, 0.55)}
    files = {}
    for (i, m), (tiny, val) in rows.items():
        files[i, m] = tmp_path / f"{i}{m}.json"
        block = {"miou": val, "per_class_iou": {}, "excluded_classes": [], "pixel_accuracy": 0.9}
        files[i, m].write_text(json.dumps({"valtiny": {"miou": tiny}, "val": block}))
    final = select_final(files)
    # valtiny ties at iteration 2 go to A; the baseline is B0 (better valtiny), reported on val
    assert final["selected"] == "A2" and final["miou"] == 0.52
    assert final["baseline_selected"] == "B0" and final["baseline_miou"] == 0.29
    assert final["val_miou_by_iteration"] == {"A": [0.31, 0.41, 0.52], "B": [0.29, 0.40, 0.55]}
    del files[1, "B"]
    with pytest.raises(ValueError, match="1:B"):
        select_final(files)


def _segmentation_metrics(tmp_path, rows):
    import json

    files = {}
    for (i, m), (tiny, val) in rows.items():
        files[i, m] = tmp_path / f"{i}{m}.json"
        block = {"miou": val, "per_class_iou": {"bg": val}, "excluded_classes": [], "pixel_accuracy": 0.9}
        files[i, m].write_text(json.dumps({"valtiny": {"miou": tiny}, "val": block}))
    return files


def test_segmentation_final_sets_the_last_models_side_by_side_with_the_oracle_choice(tmp_path):
    from dmt.evaluation.final import select_final

    # valtiny prefers A2, val would prefer B2: the oracle's look differs from the selection
    rows = {(0, "A"): (0.30, 0.31), (0, "B"): (0.35, 0.29), (1, "A"): (0.40, 0.41), (1, "B"): (0.42, 0.40),
            (2, "A"): (0.51, 0.52), (2, "B"): (0.50, 0.55)}
    final = select_final(_segmentation_metrics(tmp_path, rows))
    assert final["last_models"] == {"A2": {"valtiny_miou": 0.51, "val_miou": 0.52},
                                    "B2": {"valtiny_miou": 0.50, "val_miou": 0.55}}
    assert final["oracle_choice"] == {"model": "B2", "miou": 0.55,
                                      "note": "chosen on val: not a valid selection, for reference"}
    # the keys that were there before keep their values
    assert {k: v for k, v in final.items() if k not in ("last_models", "oracle_choice")} == {
        "miou": 0.52, "selected": "A2", "baseline_miou": 0.29, "baseline_selected": "B0",
        "gain": pytest.approx(0.52 - 0.29), "per_class_iou": {"bg": 0.52}, "excluded_classes": [],
        "pixel_accuracy": 0.9, "val_miou_by_iteration": {"A": [0.31, 0.41, 0.52], "B": [0.29, 0.40, 0.55]}}
    # one model (a method without mutual training): it is the oracle's choice too
    single = select_final(_segmentation_metrics(tmp_path, {k: v for k, v in rows.items() if k[1] == "A"}))
    assert list(single["last_models"]) == ["A2"] and single["oracle_choice"]["model"] == "A2"
    # val ties go to A, as valtiny ties do
    tied = select_final(_segmentation_metrics(tmp_path, {**rows, (2, "B"): (0.50, 0.52)}))
    assert tied["oracle_choice"]["model"] == "A2"


def test_classification_final_sets_the_last_iteration_beside_the_oracle_choice(tmp_path):
    import json

    from dmt.evaluation.final import select_final_classification

    # (valtiny acc, valtiny fine-grained, test acc) per iteration 0..3; valtiny selects 2, test prefers 1
    rows = [(0.90, 0.80, 0.90), (0.95, 0.81, 0.96), (0.96, 0.85, 0.93), (0.96, 0.83, 0.94)]
    files = {}
    for i, (acc, fg, test) in enumerate(rows):
        files[i, "A"] = tmp_path / f"iter{i}.json"
        files[i, "A"].write_text(json.dumps({"valtiny": {"accuracy": acc, "fine_grained_accuracy": fg},
                                             "test": {"accuracy": test, "fine_grained_accuracy": test - 0.1}}))
    final = select_final_classification(files)
    assert final["selected"] == "iter2" and final["final_iteration_accuracy"] == 0.94
    assert final["last_models"] == {"iter3": {"test_accuracy": 0.94, "test_fine_grained_accuracy": pytest.approx(0.84),
                                              "valtiny_accuracy": 0.96, "valtiny_fine_grained_accuracy": 0.83}}
    # the oracle's look is among the candidates 1..N, never the baseline
    assert final["oracle_choice"] == {"model": "iter1", "accuracy": 0.96,
                                      "note": "chosen on test: not a valid selection, for reference"}
    assert final["history"][2] == {"iteration": 2, "test_accuracy": 0.93, "test_fine_grained_accuracy":
                                   pytest.approx(0.83), "valtiny_accuracy": 0.96, "valtiny_fine_grained_accuracy": 0.85}
