"""The modern protocol end to end on miniatures: every new experiment planned by Snakemake, a
missing weights file or data root refused before any job, the protocol table, and a training step
plus a sliding-window pseudo-labelling pass of DeepLabV3+ and of an smp / timm model through the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import timm
import torch
import yaml
from helpers.files import make_mini_cityscapes, make_mini_voc_sbd
from helpers.workflow import REPO, job_stats, snakemake, write_config

from dmt.cli import main
from dmt.data.prepare.digits import prepare_digits
from dmt.jobs import to_json
from dmt.plan import Plan, PlanError
from dmt.pseudo.segmentation import PseudoLabelStore

CITY = ("1_30", "1_16", "1_8", "1_4", "1_2")
NEW = [f"voc_classic_{n}" for n in (92, 183, 366, 732, 1464)] + \
      [f"voc_{kind}_{r}" for kind in ("blended", "u2pl") for r in ("1_16", "1_8", "1_4")] + \
      [f"city_full_{r}" for r in CITY]
PER_EXPERIMENT = {"split": 1, "dms": 1, "train_spec": 12, "baseline": 2, "pseudo_spec": 10, "pseudo_label": 10,
                  "agreement": 5, "finetune": 10, "evaluate": 12, "final": 1}


def _config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("raw")
    make_mini_voc_sbd(root)
    make_mini_cityscapes(root / "cityscapes", size=(32, 64))
    weights = root / "resnet101-63fe2227.pth"
    weights.write_bytes(b"planning only reads that it exists")
    return {"voc_root": str(root / "VOCdevkit"), "sbd_root": str(root / "benchmark_RELEASE"),
            "cityscapes_root": str(root / "cityscapes"), "imagenet_checkpoint": str(weights)}


# ----------------------------------------------------------------------------- the plan
def test_new_experiments_use_the_lists_the_model_and_the_window():
    plan = Plan(_config())
    for name in NEW:
        exp = plan.experiment(name)
        assert exp.fixed_labeled_count() == exp.cfg["labeled"]
        assert exp.cfg["model"] == "deeplabv3plus" and exp.cfg["head_lr_mult"] == 10.0
    city = plan.experiment("city_full_1_8")
    assert city.dataset == "cityscapes_full"
    assert (city.evaluate_options()["window"], city.evaluate_options()["stride"]) == ([801, 801], [534, 534])
    pseudo = plan.run("city_full_1_8").pseudo_job(1, "A")
    assert (pseudo.window, pseudo.stride) == ([801, 801], [534, 534])
    assert plan.run("city_full_1_8").export_options()["window"] == [801, 801]
    # Whole-image experiments: their pseudo spec files are what they were (no window keys).
    old = json.loads(to_json(plan.run("voc_1_20").pseudo_job(1, "A")))
    assert "window" not in old and "stride" not in old
    assert plan.experiment("voc_1_20").evaluate_options()["window"] is None


@pytest.mark.parametrize("change,message", [
    ({"weights": ["coco", "coco"]}, "model deeplabv3plus takes no coco weights; weights: scratch, imagenet"),
    ({"model": "smp_dpt", "encoder": "tu-convnext_tiny", "weights": ["scratch", "scratch"]},
     "option encoder='tu-convnext_tiny': expected a patch-16 or patch-14 ViT"),
    ({"sliding_window": {"size": [321, 321], "stride": [400, 100]}}, r"stride \[400, 100\] is larger than the window"),
])
def test_a_model_option_weights_or_window_it_cannot_take_is_refused_by_the_plan(change, message):
    config = _config()
    config["experiments"]["voc_classic_92"].update(change)
    with pytest.raises(PlanError, match=message):
        Plan(config)


def test_every_new_experiment_plans_its_full_dag(tmp_path, raw):
    write_config(tmp_path, raw)
    out = snakemake(tmp_path, "-n", *[f"results/{e}/final_miou.json" for e in NEW]).stdout
    assert job_stats(out) == {"prepare": 2, **{k: v * len(NEW) for k, v in PER_EXPERIMENT.items()}}
    assert "resources/data/cityscapes_full" in out


@pytest.mark.parametrize("change,message", [
    ({"imagenet_checkpoint": None}, r"needs .*--config imagenet_checkpoint=/path"),
    ({"imagenet_checkpoint": "/nowhere/resnet101.pth"}, r"imagenet_checkpoint=/nowhere/resnet101.pth .*does not exist"),
    ({"cityscapes_root": "/nowhere/cityscapes"}, r"cityscapes_root=/nowhere/cityscapes .*does not exist"),
])
def test_a_missing_weights_file_or_data_root_fails_before_any_job(tmp_path, raw, change, message):
    write_config(tmp_path, {**raw, **change})
    proc = snakemake(tmp_path, "--cores", "1", "results/city_full_1_8/final_miou.json", check=False)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and len(errors) == 1 and re.search(message, errors[0])
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_an_explicit_timm_weights_path_that_is_missing_fails_before_any_job(tmp_path, raw):
    config = _config()
    smp = {**config["experiments"]["voc_classic_92"], "model": "smp_upernet", "encoder": "tu-convnext_atto",
           "weights": ["timm:/nowhere/convnext_atto.pth", "timm:/nowhere/convnext_atto.pth"]}
    write_config(tmp_path, {**raw, "experiments": {**config["experiments"], "smp_92": smp}})
    proc = snakemake(tmp_path, "--cores", "1", "results/smp_92/final_miou.json", check=False)
    assert proc.returncode != 0
    assert "experiment smp_92: weights 'timm:/nowhere/convnext_atto.pth': /nowhere/convnext_atto.pth is " \
           "not a file" in proc.stdout + proc.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


# ----------------------------------------------------------------------------- the table
def test_the_protocol_table_shows_runs_made_empty_cells_and_labelled_published_rows(tmp_path, raw):
    """With one DMT run made: its cells filled, every other cell of this pipeline empty, the
    published rows with their source; made by the workflow's protocol_table rule."""
    write_config(tmp_path, raw)
    final = tmp_path / "results" / "voc_classic_183" / "final_miou.json"
    final.parent.mkdir(parents=True)
    final.write_text(json.dumps({"task": "segmentation", "miou": 0.7012, "selected": "B5", "baseline_miou": 0.6,
                                 "val_miou_by_iteration": {"A": [0.5511, 0.6], "B": [0.56, 0.7012]}}))
    snakemake(tmp_path, "--cores", "1", "results/tables/protocol_modern_voc_classic.csv")
    table = pd.read_csv(tmp_path / "results/tables/protocol_modern_voc_classic.csv", dtype={"row": str})
    rows = {r: table[table["row"] == r].iloc[0] for r in table["row"]}
    assert list(table.columns) == ["row", "kind", "model", "92", "183", "366", "732", "1464", "source"]
    assert rows["dmt"]["183"] == pytest.approx(70.12) and rows["baseline"]["183"] == pytest.approx(55.11)
    assert np.isnan(rows["dmt"]["92"]) and np.isnan(rows["dst"]["183"]) and rows["dmt"]["kind"] == "this pipeline"
    assert rows["dmt"]["model"] == "deeplabv3plus"
    assert rows["UniMatch V1"]["92"] == 75.2 and rows["UniMatch V1"]["kind"] == "published"
    assert "LiheYoung/UniMatch @0324f3d" in rows["UniMatch V1"]["source"] and rows["UniMatch V2"]["model"] == "DINOv2-B"
    markdown = (tmp_path / "results/tables/protocol_modern_voc_classic.md").read_text()
    assert "nan" not in markdown.lower() and "70.12" in markdown  # empty cells are blank


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("d") / "digits"
    prepare_digits(root, seed=0, n_train=6, n_val=2)
    return root


def _ids_file(path, ids):
    path.write_text("".join(f"{i}\n" for i in ids))
    return str(path)


@pytest.mark.slow  # a ResNet-101 / ConvNeXt step and two passes: about 12 s each on this shared machine
@pytest.mark.parametrize("init", [
    {"model": "deeplabv3plus", "seed": 0, "weights": "scratch"},
    {"model": "smp_upernet", "seed": 0, "weights": "timm", "options": {"encoder": "tu-convnext_atto"}},
])
def test_a_training_step_and_a_sliding_window_pseudo_pass_through_the_cli(tmp_path, digits, init):
    """A baseline step, then pseudo labels and evaluation in sliding windows, from the CLI."""
    if init["weights"] == "timm":  # the encoder's weights from a local file in timm's layout
        torch.manual_seed(0)
        torch.save(timm.create_model("convnext_atto", pretrained=False).state_dict(), tmp_path / "atto.pth")
        init = {**init, "weights": f"timm:{tmp_path / 'atto.pth'}"}
    train_ids = (digits / "ImageSets/Segmentation/train.txt").read_text().split()
    labeled, unlabeled = _ids_file(tmp_path / "l.txt", train_ids[:2]), _ids_file(tmp_path / "u.txt", train_ids[2:])
    hyper = {"epochs": 1, "lr": 1e-3, "batch_size": 2, "crop_size": [32, 32], "seed": 0, "head_lr_mult": 10.0}
    spec = {"kind": "train", "dataset": "digits", "data": str(digits), "labeled": [labeled], "hyper": hyper,
            "init": init}
    (tmp_path / "a.json").write_text(json.dumps(spec))
    assert main(["train", "--spec", str(tmp_path / "a.json"), "--out", str(tmp_path / "A0.pt")]) == 0
    pseudo = {"kind": "pseudo", "dataset": "digits", "data": str(digits), "teacher": str(tmp_path / "A0.pt"),
              "unlabeled": unlabeled, "alpha": 0.5, "batch_size": 2, "pad_to": [32, 32],
              "window": [32, 32], "stride": [16, 16]}
    (tmp_path / "p.json").write_text(json.dumps(pseudo))
    assert main(["pseudo", "--spec", str(tmp_path / "p.json"), "--out", str(tmp_path / "p.h5")]) == 0
    store = PseudoLabelStore(tmp_path / "p.h5", expected_ids=train_ids[2:])
    assert store.raw(train_ids[2])[0].shape == (64, 64)  # canvases larger than the window
    val = str(digits / "ImageSets/Segmentation/val.txt")
    assert main(["evaluate", "--dataset", "digits", "--data", str(digits), "--model", str(tmp_path / "A0.pt"),
                 "--valtiny", val, "--out", str(tmp_path / "m.json"), "--pad-to", "32", "32",
                 "--window", "32", "32", "--stride", "16", "16"]) == 0
    assert 0 <= json.loads((tmp_path / "m.json").read_text())["val"]["miou"] <= 1
    model = torch.load(tmp_path / "A0.pt", weights_only=True)
    assert model["meta"]["model"] == init["model"] and model["summary"]["steps"] == 1
    assert model["meta"].get("options") == init.get("options")
