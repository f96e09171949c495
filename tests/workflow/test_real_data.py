"""The paper's experiments (VOC, Cityscapes, DeepLab-v2) planned and run on miniatures of the real
data sets and checkpoints, in their real on-disk formats: nothing is downloaded."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from helpers.files import (
    make_caffe_coco_checkpoint,
    make_imagenet_state_dict,
    make_mini_cityscapes,
    make_mini_voc_sbd,
)
from helpers.workflow import REPO, planned, snakemake, write_config

FULL_DAG = {"split": 1, "train_spec": 12, "baseline": 2, "pseudo_spec": 10, "pseudo_label": 10, "agreement": 5,
            "finetune": 10, "evaluate": 12, "final": 1}
# Tiny runnable versions of the paper's experiments: same model, inits and rules, 1 step each.
TINY_REAL = {
    "voc_tiny": {"dataset": "voc", "labeled": 2, "labeled_list": "data:train", "valtiny": 1,
                 "model": "deeplab_v2", "weights": ["coco", "imagenet"], "crop_size": [33, 33],
                 # sqrt(10582 / 2) * 0.01 rounds to 1 epoch
                 "baseline": {"oracle_epochs": 0.01, "lr": 1.0e-3, "batch_size": 2},
                 "inference_batch_size": 2},
    # Crops of 8x16 leave layer4 a 1x2 map: batch-norm statistics of 4 values blow the weights
    # up in one step and evaluation (rightly) refuses the NaN logits; 16x32 trains sanely.
    "city_tiny": {"dataset": "cityscapes", "labeled": 2, "valtiny": 1, "model": "deeplab_v2",
                  "weights": ["coco", "coco"], "init": "dms", "crop_size": [16, 32],
                  "baseline": {"oracle_epochs": 0.02, "lr": 1.0e-3, "batch_size": 2},
                  "inference_batch_size": 2},
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("raw")
    make_mini_voc_sbd(root)
    make_mini_cityscapes(root / "cityscapes", size=(32, 64))  # halved when prepared: 16x32
    make_caffe_coco_checkpoint(root / "resnet101COCO-41f33a49.pth")
    make_imagenet_state_dict(root / "resnet101-63fe2227.pth")
    return {"voc_root": str(root / "VOCdevkit"), "sbd_root": str(root / "benchmark_RELEASE"),
            "cityscapes_root": str(root / "cityscapes"),
            "coco_checkpoint": str(root / "resnet101COCO-41f33a49.pth"),
            "imagenet_checkpoint": str(root / "resnet101-63fe2227.pth")}


def configure(workdir: Path, raw: dict, experiments: dict | None = None) -> None:
    config = dict(raw)
    if experiments:
        base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["experiments"] = {**base["experiments"], **copy.deepcopy(experiments)}
    write_config(workdir, config)


@pytest.mark.parametrize("target", ["voc_1_20", "city_1_8"])
def test_full_dag_of_a_paper_experiment_is_planned(tmp_path, raw, target):
    configure(tmp_path, raw)
    jobs = planned(tmp_path, f"results/{target}/final_miou.json")
    assert jobs == {"prepare": 1, "convert_coco": 1, **FULL_DAG}


def test_table_1_settings_reach_the_jobs(tmp_path, raw):
    configure(tmp_path, raw)
    targets = ["voc_1_20/iter0/A", "voc_1_20/iter0/B", "voc_1_20/iter1/A", "city_1_8/iter1/B",
               "city_1_8/iter0/A", "voc_1_106/iter0/A"]
    snakemake(tmp_path, "--cores", "1", *[f"results/{t}/spec.json" for t in targets])
    specs = {t: json.loads((tmp_path / "results" / t / "spec.json").read_text()) for t in targets}
    voc_a, voc_b = specs["voc_1_20/iter0/A"], specs["voc_1_20/iter0/B"]
    assert voc_a["hyper"]["epochs"] == 134 and voc_a["hyper"]["lr"] == 2e-3
    assert voc_a["hyper"]["crop_size"] == [321, 321]
    assert voc_a["init"]["weights"] == "coco:resources/weights/deeplab_v2_coco.pt"
    assert voc_b["init"]["weights"] == f"imagenet:{raw['imagenet_checkpoint']}"
    ft = specs["voc_1_20/iter1/A"]["hyper"]
    assert (ft["gamma1"], ft["gamma2"], ft["lr"], ft["epochs"], ft["batch_size"], ft["pseudo_per_batch"]) \
        == (5, 5, 1e-3, 4, 8, 7)
    city = specs["city_1_8/iter1/B"]["hyper"]
    assert (city["gamma1"], city["lr"], city["epochs"], city["pseudo_per_batch"], city["crop_size"]) \
        == (3, 4e-3, 10, 6, [256, 512])
    assert specs["city_1_8/iter0/A"]["hyper"]["epochs"] == 170  # sqrt(8) * 60
    assert specs["voc_1_106/iter0/A"]["hyper"]["epochs"] == 309  # sqrt(10582 / 100) * 30
    assert specs["voc_1_106/iter0/A"]["labeled"] == ["results/voc_1_106/dms/A.txt"]


def test_missing_or_wrong_roots_are_named_before_any_job(tmp_path, raw):
    configure(tmp_path, {k: v for k, v in raw.items() if k != "sbd_root"})
    proc = snakemake(tmp_path, "--cores", "1", "results/voc_1_20/final_miou.json", check=False)
    assert proc.returncode != 0 and "--config sbd_root=/path" in proc.stdout + proc.stderr
    configure(tmp_path, {**raw, "cityscapes_root": str(tmp_path / "nowhere")})
    proc = snakemake(tmp_path, "--cores", "1", "results/city_1_8/final_miou.json", check=False)
    assert proc.returncode != 0
    assert re.search(r"cityscapes_root=\S*nowhere .*does not exist", proc.stdout + proc.stderr)
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_a_corrupt_image_stops_preparation_with_one_message(tmp_path, raw):
    voc = tmp_path / "VOCdevkit"
    shutil.copytree(raw["voc_root"], voc)
    jpeg = voc / "VOC2012" / "JPEGImages" / "t2.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    configure(tmp_path, {**raw, "voc_root": str(voc)})
    proc = snakemake(tmp_path, "--cores", "1", "resources/data/voc", check=False)
    assert proc.returncode != 0
    assert "error: image" in proc.stderr and "t2.jpg is corrupt or truncated" in proc.stderr
    assert not (tmp_path / "resources" / "data" / "voc").exists()


@pytest.mark.slow
def test_deeplab_v2_baselines_run_on_the_miniatures(tmp_path, raw):
    """prepare (VOC + SBD, Cityscapes), convert-coco, splits (VOC's fixed train list, DMS) and one
    CPU epoch of DeepLab-v2 from COCO and ImageNet inits, then evaluation on val."""
    configure(tmp_path, raw, TINY_REAL)
    # city_tiny's B has the same init as A (DMS): one of them shows the Cityscapes path.
    targets = [f"results/{e}/iter0/{m}/metrics.json" for e, m in (("voc_tiny", "A"), ("voc_tiny", "B"),
                                                                   ("city_tiny", "A"))]
    snakemake(tmp_path, "--cores", "2", *targets)
    splits = tmp_path / "resources" / "splits"
    assert (splits / "voc_tiny" / "labeled.txt").read_text() == "t1\nt2\n"  # VOC train (Table 5)
    assert (splits / "voc_tiny" / "unlabeled.txt").read_text() == "s1\ns2\ns3\n"
    for target in targets:
        metrics = json.loads((tmp_path / target).read_text())
        assert 0 <= metrics["val"]["miou"] <= 1
    import torch

    a = torch.load(tmp_path / "results/voc_tiny/iter0/A/model.pt", weights_only=True)
    b = torch.load(tmp_path / "results/voc_tiny/iter0/B/model.pt", weights_only=True)
    assert a["meta"]["init"] == "coco" and b["meta"]["init"] == "imagenet"
    assert a["summary"]["steps"] == 1
    city = torch.load(tmp_path / "results/city_tiny/iter0/A/model.pt", weights_only=True)
    assert city["meta"]["num_classes"] == 19 and city["meta"]["dataset"] == "cityscapes"
