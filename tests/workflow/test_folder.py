"""Your own data end to end: the folder layout built from the digits canvases (masks kept only for
the labeled and val ids), the real DAG on the tiny configuration run as `snakemake --cores 2`
(its default target), then predictions on new images by the rule and by the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.files import digits_as_folder
from helpers.workflow import planned, snakemake, write_config
from PIL import Image

from dmt.data.prepare.digits import prepare_digits
from dmt.data.voc import read_image

# slow: a second whole tiny DAG, on the folder layout (~1.5 min)
pytestmark = pytest.mark.slow

EXPERIMENT = {
    "dataset": "folder",
    "labeled": "all",
    "valtiny": 4,
    "crop_size": [32, 32],
    "baseline": {"oracle_epochs": 1, "lr": 0.01, "batch_size": 4},
    "dmt": {"alphas": [1.0], "gamma1": 3, "gamma2": 3, "epochs": 1, "lr": 0.005, "batch_size": 4,
            "pseudo_per_batch": 3},
    "inference_batch_size": 16,
}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """(working directory, folder root, labeled ids, new images) after the whole DAG ran."""
    tmp = tmp_path_factory.mktemp("folder_wf")
    digits = tmp / "digits"
    prepare_digits(digits, seed=0, n_train=60, n_val=20)
    train = (digits / "ImageSets/Segmentation/train.txt").read_text().split()
    labeled = train[::5]  # 12 canvases: every digit labeled somewhere (prepare requires it)
    root = digits_as_folder(digits, tmp / "mine", labeled, colors={"background": [10, 20, 30]})
    # New images: digits canvases of another seed, at other sizes and modes.
    other = tmp / "other"
    prepare_digits(other, seed=1, n_train=20, n_val=5)
    new = tmp / "new"
    new.mkdir()
    for k, image_id in enumerate((other / "ImageSets/Segmentation/val.txt").read_text().split()[:3]):
        image = Image.open(other / "JPEGImages" / f"{image_id}.jpg")
        image = [image, image.convert("L").resize((50, 40)), image.convert("RGBA").resize((90, 70))][k]
        image.save(new / f"new_{k}.png")
    work = tmp / "work"
    work.mkdir()
    write_config(work, {"folder_root": str(root), "experiments": {"mine": {**EXPERIMENT, "predict_images": str(new)}}})
    jobs = planned(work)
    assert "oracle" not in jobs and jobs["final_model"] == 1 and jobs["predict"] == 1
    snakemake(work, "--cores", "2")
    return work, root, labeled, new


def test_the_split_is_the_folders_and_the_images_its_pixels(done):
    work, root, labeled, _ = done
    splits = work / "resources" / "splits" / "mine"
    assert (splits / "labeled.txt").read_text().split() == labeled
    assert len((splits / "unlabeled.txt").read_text().split()) == 60 - len(labeled)
    (prepared,) = (work / "resources" / "data").glob("folder-*")  # named by the folder's fingerprint
    image_id = labeled[1]
    with Image.open(prepared / "JPEGImages" / f"{image_id}.png") as image:
        assert np.array_equal(np.asarray(image), read_image(root / "labeled" / "images" / f"{image_id}.jpg"))


def test_pseudo_labels_say_there_is_no_ground_truth(done):
    work = done[0]
    for t in "AB":
        summary = json.loads((work / "results/mine/iter1" / f"pseudo_{t}.json").read_text())
        assert summary["ground_truth"] is False and summary["kept_accuracy"] is None
        assert "not measured" in summary["note"] and summary["kept_fraction"] == 1.0


def test_the_final_model_describes_itself(done):
    work = done[0]
    final = json.loads((work / "results/mine/final_miou.json").read_text())
    saved = torch.load(work / "results/mine/final_model.pt", map_location="cpu", weights_only=True)
    meta = saved["meta"]
    assert meta["class_names"] == ["background"] + [str(d) for d in range(10)]
    assert meta["palette"][0] == [10, 20, 30] and meta["pad_to"] == [32, 32]
    assert meta["origin"]["selected"] == final["selected"] and meta["origin"]["score"] == final["miou"]
    assert meta["origin"]["source"] == f"results/mine/iter1/{final['selected'][0]}/model.pt"


def test_predictions_of_the_rule_and_of_the_command(done, tmp_path):
    import subprocess
    import sys

    work, _, _, new = done
    rule_out = work / "results/mine/predictions"
    out = tmp_path / "pred"
    proc = subprocess.run([sys.executable, "-m", "dmt", "predict", "--model", str(work / "results/mine/final_model.pt"),
                           "--images", str(new), "--out", str(out), "--batch-size", "16", "--confidence",
                           "--overlay"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for k in range(3):
        with Image.open(new / f"new_{k}.png") as image, Image.open(rule_out / f"new_{k}.png") as by_rule, \
                Image.open(out / f"new_{k}.png") as by_command:
            assert by_rule.mode == "P" and by_rule.size == image.size
            assert np.array_equal(np.asarray(by_rule), np.asarray(by_command))
        assert np.load(out / "confidence" / f"new_{k}.npy").shape == (image.size[1], image.size[0])
        assert (out / "overlay" / f"new_{k}.jpg").is_file()
    assert json.loads((rule_out / "predictions.json").read_text())["images"] == 3


def test_a_second_run_has_nothing_to_do(done):
    assert planned(done[0]) == {}
