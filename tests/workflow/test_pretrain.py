"""The pretrain stage on the tiny digits run: a configured pre-training trains once and initialises
every experiment that names it (weights: pretrained:NAME), whatever its split seed or method."""

import copy
import json

import pytest
from helpers.workflow import TINY, planned, snakemake, write_config

PRETRAININGS = {
    # COCO-like: a segmentation model of the same classes, taken whole
    "seg": {"dataset": "digits", "model": "small_deeplab", "seed": 11, "epochs": 1, "lr": 0.01,
            "batch_size": 8, "transfer": "model", "crop_size": [32, 32]},
    # ImageNet-like: the backbone of a glyph classifier, the head drawn from the student's seed
    "glyph": {"dataset": "digits_cls", "model": "small_classifier", "seed": 12, "epochs": 1, "lr": 0.01,
              "batch_size": 32, "transfer": "backbone"},
}


def pretrained_config(*split_seeds: int) -> dict:
    config = copy.deepcopy(TINY)
    config["pretrainings"] = copy.deepcopy(PRETRAININGS)
    base = config["experiments"].pop("tiny")
    for k in split_seeds:
        config["experiments"][f"tiny_s{k}"] = {**copy.deepcopy(base), "split_seed": k,
                                               "weights": ["pretrained:seg", "pretrained:glyph"]}
    return config


def test_one_pretraining_serves_every_split_seed_and_method(tmp_path):
    config = pretrained_config(0, 1, 2)
    config["comparisons"] = {"pre": {"experiments": ["tiny_s0", "tiny_s1"], "methods": ["dmt", "dst"]}}
    write_config(tmp_path, config)
    jobs = planned(tmp_path, "results/tables/pre.csv", "results/tiny_s2/final_miou.json")
    assert jobs["pretrain"] == 2 and jobs["pretrain_spec"] == 2  # two pre-trainings, not one per run
    assert jobs["baseline"] == 6  # A and B of three split seeds, all from those two files


def test_a_pretraining_that_cannot_serve_is_one_line_before_any_job(tmp_path):
    config = pretrained_config(0)
    config["experiments"]["tiny_s0"]["weights"] = ["pretrained:nosuch", "scratch"]
    write_config(tmp_path, config)
    proc = snakemake(tmp_path, "--cores", "1", "results/tiny_s0/final_miou.json", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "weights pretrained:nosuch names no pre-training; configured: glyph, seg" in out
    assert "Traceback" not in out
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.slow  # both pre-trainings and both baselines (~50 s)
def test_the_baselines_train_from_the_pretrained_files(tmp_path):
    write_config(tmp_path, pretrained_config(0))
    snakemake(tmp_path, "--cores", "2", "results/tiny_s0/iter0/A/model.pt", "results/tiny_s0/iter0/B/model.pt")
    for m, name, kind in (("A", "seg", "model"), ("B", "glyph", "backbone")):
        digest = json.loads((tmp_path / f"resources/pretrained/{name}/model.json").read_text())["digest"]
        meta = json.loads((tmp_path / f"results/tiny_s0/iter0/{m}/model.json").read_text())["meta"]
        assert meta["transfer"]["kind"] == kind and meta["transfer"]["digest"] == digest
    assert "Nothing to be done" in snakemake(tmp_path, "-n", "results/tiny_s0/iter0/B/model.pt").stdout
