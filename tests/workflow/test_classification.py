"""Algorithm 1 through the real Snakemake DAG: the embedded digits and a CIFAR-10 miniature in
its real pickle format."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from helpers.files import make_cifar10_pickles
from helpers.workflow import REPO, planned, snakemake, write_config

CLS_DAG = {"split": 1, "train_spec": 6, "baseline": 1, "finetune": 5, "pseudo_spec": 5, "pseudo_label": 5,
           "evaluate": 6, "final": 1}
TINY_CLS = {
    "dataset": "digits_cls", "labeled": 30, "valtiny": 10, "model": "wrn_10_2", "crop_size": [8, 8],
    # sqrt(1300 / 30) * 0.4 rounds to 3 epochs of 30 labeled images (the fewest, in steps of 2 from
    # 20, in which split seeds 0-2 draw every class)
    "baseline": {"oracle_epochs": 0.4, "lr": 0.05, "batch_size": 10},
    "dmt": {"alphas": [0.5, 1.0], "gamma1": 4, "gamma2": 4, "epochs": 1, "lr": 0.05,
            "batch_size": 64, "pseudo_per_batch": 56},
    "classification": {"mixup_alpha": 0.75, "ema_decay": 0.9, "schedule": "cosine", "gamma_ramp": True},
    "checkpoint_every": 5,
    "inference_batch_size": 512,
}


def configure(workdir, extra: dict | None = None, experiments: dict | None = None) -> None:
    config = dict(extra or {})
    if experiments:
        base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["experiments"] = {**base["experiments"], **copy.deepcopy(experiments)}
    write_config(workdir, config)


@pytest.mark.slow
def test_digits_algorithm_1_end_to_end(tmp_path):
    configure(tmp_path, experiments={"cls_tiny": TINY_CLS})
    snakemake(tmp_path, "--cores", "2", "results/cls_tiny/final_acc.json")
    exp = tmp_path / "results" / "cls_tiny"
    final = json.loads((exp / "final_acc.json").read_text())
    assert set(final) >= {"accuracy", "baseline_accuracy", "fine_grained_accuracy", "selected", "history"}
    assert final["selected"] in ("iter1", "iter2") and len(final["history"]) == 3
    assert 0 <= final["fine_grained_accuracy"] <= final["accuracy"] <= 1
    unlabeled = (tmp_path / "resources/splits/cls_tiny/unlabeled.txt").read_text().split()
    assert len(unlabeled) == 1300 - 30 - 10
    first = json.loads((exp / "iter1" / "pseudo_A.json").read_text())
    assert first["num_images"] == len(unlabeled) and first["kept"] >= len(unlabeled) // 2
    assert json.loads((exp / "iter2" / "pseudo_A.json").read_text())["kept"] == len(unlabeled)
    metrics = json.loads((exp / "iter2" / "A" / "metrics.json").read_text())
    assert metrics["test"]["images"] == 497 and metrics["valtiny"]["images"] == 10
    import torch

    models = [torch.load(exp / f"iter{i}" / "A" / "model.pt", weights_only=True) for i in range(3)]
    # Algorithm 1: every iteration is a fresh model from a previously unused seed.
    assert len({m["spec"]["seed"] for m in models}) == 3
    assert models[1]["spec"]["gamma_ramp"] and models[1]["spec"]["mixup_alpha"] == 0.75
    assert planned(tmp_path, "results/cls_tiny/final_acc.json") == {}
    # The report's figures of a classification run (the segmentation ones: test_workflow.py).
    snakemake(tmp_path, "--cores", "2", "plots")
    for name in ("acc_by_iteration", "pseudo_labels", "dynamic_weights", "examples"):
        assert (exp / "plots" / f"{name}.png").stat().st_size > 10_000
    row = (exp / "final_table.csv").read_text().splitlines()[1]
    assert row.startswith("cls_tiny,cls_tiny,digits_cls,30,dmt,test accuracy,")


def test_cifar10_experiments_plan_table_1_settings(tmp_path):
    root = make_cifar10_pickles(tmp_path / "cifar10").parent
    configure(tmp_path, {"cifar10_root": str(root)})
    assert planned(tmp_path, "results/cifar10_4000/final_acc.json") == {"prepare": 1, **CLS_DAG}
    targets = [f"results/{e}/{i}/A/spec.json" for e in ("cifar10_4000", "cifar10_1000") for i in ("iter0", "iter1")]
    snakemake(tmp_path, "--cores", "1", *targets)
    specs = {tuple(t.split("/")[1:3]): json.loads((tmp_path / t).read_text()) for t in targets}
    base, dmt = specs["cifar10_4000", "iter0"], specs["cifar10_4000", "iter1"]
    assert (base["hyper"]["epochs"], base["hyper"]["lr"], base["init"]["model"]) == (1061, 0.2, "wrn_28_2")
    h = dmt["hyper"]  # sqrt(12.5) * 300 = 1061 baseline epochs above
    assert (h["epochs"], h["lr"], h["batch_size"], h["pseudo_per_batch"], h["gamma1"]) == (750, 0.1, 512, 448, 4)
    assert h["schedule"] == "cosine" and h["gamma_ramp"] and h["weight_decay"] == 5e-4
    assert specs["cifar10_1000", "iter1"]["hyper"]["pseudo_per_batch"] == 496  # 31:1
    assert base["init"]["seed"] != dmt["init"]["seed"] and dmt["init"]["weights"] == "scratch"


@pytest.mark.slow
def test_cifar10_pickles_run_through_the_pipeline(tmp_path):
    root = make_cifar10_pickles(tmp_path / "cifar10", n_train_per_batch=6, n_test=6).parent
    # 16 of the 30 random labels: the fewest (in steps of 4 from 8) in which split seed 0 draws all ten
    tiny = {**TINY_CLS, "dataset": "cifar10", "labeled": 16, "valtiny": 4, "crop_size": [32, 32],
            "baseline": {"oracle_epochs": 1, "lr": 0.05, "batch_size": 4},
            "dmt": {**TINY_CLS["dmt"], "alphas": [0.5], "batch_size": 8, "pseudo_per_batch": 6}}
    configure(tmp_path, {"cifar10_root": str(root)}, {"cifar_tiny": tiny})
    snakemake(tmp_path, "--cores", "2", "results/cifar_tiny/final_acc.json")
    splits = tmp_path / "resources/splits/cifar_tiny"
    assert len((splits / "unlabeled.txt").read_text().split()) == 30 - 16 - 4
    final = json.loads((tmp_path / "results/cifar_tiny/final_acc.json").read_text())
    assert final["selected"] == "iter1"
    assert json.loads((tmp_path / "results/cifar_tiny/iter1/A/metrics.json").read_text())["test"]["images"] == 6


def test_missing_cifar_root_is_named(tmp_path):
    configure(tmp_path)
    proc = snakemake(tmp_path, "-n", "results/cifar10_4000/final_acc.json", check=False)
    assert proc.returncode != 0 and "--config cifar10_root=/path" in proc.stdout + proc.stderr
