"""benchmarks/gpu_step.py: a tiny CPU run works end to end (no timing is asserted)."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest
from helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_step.py"

FIGURES = {
    "train_ours_dmt_images_per_s", "train_ours_baseline_images_per_s", "train_bare_images_per_s",
    "ratio_dmt", "ratio_baseline", "pseudo_ours_images_per_s", "pseudo_bare_forward_images_per_s",
    "pseudo_ratio", "eval_ours_images_per_s", "projection_algorithm2_hours",
    "projection_total_hours", "projection_total_hours_training_at_bare_speed",
}


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the benchmark script end to end in a child process (~7 s)
def test_tiny_cpu_run_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--threads", "2",
           "--model", "small_deeplab", "--crop", "32", "32", "--batch-size", "4",
           "--steps", "2", "--warmup", "1", "--repeats", "2",
           "--images", "4", "--image-size", "40x48", "--inference-batch-size", "2",
           "--num-workers", "0",
           "--out", str(out)]
    proc = subprocess.run(cmd, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "projected VOC 1/20 run" in proc.stdout

    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["settings"]["precision"] == "fp32"
    assert result["settings"]["pseudo_per_batch"] == 3
    figures = result["figures"]
    assert set(figures) >= FIGURES, FIGURES - set(figures)
    for name, value in figures.items():  # peak GPU memory is only reported on CUDA
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (name, value)
    terms = result["projection"]["terms"]
    assert [t["term"] for t in terms] == ["baselines", "DMT fine-tunes", "pseudo-labelling",
                                          "val evaluations", "valtiny during training"]
    assert all(t["hours"] > 0 and math.isfinite(t["hours"]) for t in terms)


def test_projection_counts_the_paper_schedule():
    gpu_step = _load_script()
    args = gpu_step.parse_args([])  # paper settings: batch 8, 7 pseudo-labelled per batch
    rates = dict.fromkeys(["train_ours_baseline", "train_ours_dmt", "pseudo_ours", "eval_ours"], 3600.0)
    rates["train_bare"] = 7200.0
    proj = gpu_step.project(args, rates)
    images = {t["term"]: t["images"] for t in proj["terms"]}
    assert images == {
        "baselines": 2 * 134 * 67 * 8,                 # ceil(530 / 8) = 67 steps an epoch
        "DMT fine-tunes": 5 * 2 * 4 * 1436 * 8,        # ceil(10052 / 7) = 1436 steps an epoch
        "pseudo-labelling": 10 * 10_052,
        "val evaluations": 12 * 1_449,
        # valtiny (the authors' 20 ids) every 10 epochs and after the last: 14 per baseline, 1 per fine-tune
        "valtiny during training": (2 * 14 + 10 * 1) * 20,
    }
    # At 3600 images/s an image takes 1/3600 s, i.e. 1/3600**2 h.
    assert proj["total_hours"] == pytest.approx(sum(images.values()) / 3600 ** 2)
    assert proj["algorithm2_hours"] == pytest.approx(
        (sum(images.values()) - images["valtiny during training"]) / 3600 ** 2)
    train = images["baselines"] + images["DMT fine-tunes"]
    assert proj["total_hours_training_at_bare_speed"] == pytest.approx(
        proj["total_hours"] - train / 3600 ** 2 / 2)


TRAIN_STEP = SCRIPT.with_name("train_step.py")


@pytest.mark.slow  # times real training (~30 s)
def test_train_step_reports_ratios_and_a_breakdown_that_adds_up(tmp_path):
    out = tmp_path / "train_step.json"
    cmd = [sys.executable, str(TRAIN_STEP), "--sizes", "64", "--steps", "4", "--warmup", "4",
           "--repeats", "1", "--workers", "1", "--breakdown-epochs", "2", "--out", str(out)]
    proc = subprocess.run(cmd, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    row = result["ratios"]["64"]
    for name in ("bare", "in_memory", "pipeline", "pipeline_workers", "ratio_in_memory", "ratio_pipeline",
                 "ratio_pipeline_workers"):
        assert math.isfinite(row[name]) and row[name] > 0, (name, row[name])
    assert row["ratio_pipeline"] == pytest.approx(row["pipeline"] / row["bare"])
    b = result["breakdown"]
    assert b["epochs"] == 2 and b["steps"] == 2 * 4  # 50 labeled images, batch 16
    assert set(b["seconds"]) == {"data", "forward", "loss", "backward", "optimizer", "evaluation",
                                 "logging, checkpoints, saving", "other"}
    assert sum(b["seconds"].values()) == pytest.approx(b["train_s"])
    assert b["seconds"]["forward"] > 0 and b["seconds"]["backward"] > 0 and b["seconds"]["data"] > 0
    assert "ms/step" in proc.stdout
