"""The real Snakemake DAG on a tiny digits configuration, in a temporary working directory."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.workflow import (
    REPO,
    SNAKEMAKE,
    TIMEOUT,
    TINY,
    job_stats,
    planned,
    snakemake,
    wait_for_checkpoint,
    write_config,
)


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("wf")
    write_config(workdir, TINY)
    snakemake(workdir, "--cores", "2", "results/tiny/final_miou.json")
    return workdir


def test_all_artifacts_exist(done):
    exp = done / "results" / "tiny"
    for name in ("labeled", "unlabeled", "valtiny"):
        assert (done / "resources" / "splits" / "tiny" / f"{name}.txt").stat().st_size > 0
    for i in range(3):
        for m in "AB":
            assert (exp / f"iter{i}" / m / "model.pt").is_file()
            metrics = json.loads((exp / f"iter{i}" / m / "metrics.json").read_text())
            assert 0 <= metrics["val"]["miou"] <= 1
            if i:
                assert (exp / f"iter{i}" / f"pseudo_{m}.h5").is_file()
    final = json.loads((exp / "final_miou.json").read_text())
    assert final["selected"] in ("A2", "B2")
    assert set(final) >= {"miou", "selected", "baseline_miou", "per_class_iou", "val_miou_by_iteration"}
    assert len(final["val_miou_by_iteration"]["A"]) == 3
    assert not list(exp.rglob("*.ckpt")) and not list(done.rglob("*.tmp"))
    assert (done / "logs" / "tiny" / "iter1" / "A" / "train.log").stat().st_size > 0
    assert list((exp / "iter1" / "A" / "tensorboard").iterdir())
    spec = json.loads((exp / "iter2" / "B" / "spec.json").read_text())
    assert spec["init"] == {"from": "results/tiny/iter1/B/model.pt"}
    assert spec["pseudo"] == "results/tiny/iter2/pseudo_A.h5"


def test_second_run_has_nothing_to_do(done):
    assert planned(done, "results/tiny/final_miou.json") == {}


def test_gamma_change_plans_only_finetunes_and_what_follows(done):
    changed = copy.deepcopy(TINY)
    changed["experiments"]["tiny"]["dmt"]["gamma1"] = 4
    write_config(done, changed)
    try:
        jobs = planned(done, "results/tiny/final_miou.json")
    finally:
        write_config(done, TINY)
    assert jobs.get("finetune") == 4 and jobs.get("train_spec") == 4
    assert "baseline" not in jobs and "split" not in jobs and "prepare" not in jobs
    # Iteration 1's pseudo labels come from the untouched baselines.
    assert jobs.get("pseudo_label", 0) == 2  # only iteration 2's


def test_alpha_change_reruns_from_that_iterations_pseudo_labels(done):
    changed = copy.deepcopy(TINY)
    changed["experiments"]["tiny"]["dmt"]["alphas"] = [0.5, 0.9]
    write_config(done, changed)
    try:
        jobs = planned(done, "results/tiny/final_miou.json")
    finally:
        write_config(done, TINY)
    assert jobs == {"pseudo_spec": 2, "pseudo_label": 2, "agreement": 1, "finetune": 2, "evaluate": 2, "final": 1}


def test_forcerun_one_iteration(done):
    jobs = planned(done, "results/tiny/iter2/B/model.pt", "--forcerun", "results/tiny/iter2/B/model.pt")
    assert jobs == {"finetune": 1}


def test_a_metrics_fix_reevaluates_and_retrains_nothing(done, tmp_path):
    """Each rule carries the digest of the code its command runs: a change to dmt/evaluation/metrics.py
    reruns the evaluations and the final summary, no training and no pseudo-labelling."""
    # Snakemake imports dmt from beside the Snakefile: a copy of the workflow with its own dmt.
    copy_ = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    for part in ("dmt", "workflow"):
        shutil.copytree(REPO / part, copy_ / part, ignore=ignore)
    shutil.copy(REPO / "Snakefile", copy_)

    def dry_run() -> dict[str, int]:
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(copy_ / "Snakefile"),
                               "--directory", str(done), "-n", "results/tiny/final_miou.json"],
                              cwd=copy_, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return job_stats(proc.stdout)

    assert dry_run() == {}
    evaluate = copy_ / "dmt" / "evaluation" / "metrics.py"
    evaluate.write_text(evaluate.read_text() + "\n# a fix in the metrics\n")
    assert dry_run() == {"evaluate": 6, "final": 1}


ALL_METHODS = ["baseline", "online", "cbst", "dst", "dmt_naive", "dmt", "dmt_flip", "oracle"]


def with_comparison(config: dict, methods=ALL_METHODS) -> dict:
    config = copy.deepcopy(config)
    config["comparisons"] = {"tiny": {"experiments": ["tiny"], "methods": list(methods)}}
    return config


def test_each_method_plans_its_own_dag(tmp_path):
    write_config(tmp_path, with_comparison(TINY))
    start = {"prepare": 1, "split": 1}
    # one model labelling itself: only baseline A, its own pseudo labels each iteration
    for method in ("cbst", "dst"):
        assert planned(tmp_path, f"results/tiny/{method}/final_miou.json") == {
            **start, "train_spec": 3, "baseline": 1, "pseudo_spec": 2, "pseudo_label": 2, "finetune": 2,
            "evaluate": 3, "final": 1}
    # online self-training: one run from baseline A, no pseudo-label files
    assert planned(tmp_path, "results/tiny/online/final_miou.json") == {
        **start, "train_spec": 2, "baseline": 1, "finetune": 1, "evaluate": 2, "final": 1}
    # two models labelling each other, whose agreement each iteration the collapse check reads
    for method in ("dmt_naive", "dmt_flip"):
        assert planned(tmp_path, f"results/tiny/{method}/final_miou.json") == {
            **start, "train_spec": 6, "baseline": 2, "pseudo_spec": 4, "pseudo_label": 4, "agreement": 2,
            "finetune": 4, "evaluate": 6, "final": 1}
    snakemake(tmp_path, "--cores", "1", "results/tiny/online/iter1/A/spec.json", "results/tiny/cbst/iter2/A/spec.json")
    online = json.loads((tmp_path / "results/tiny/online/iter1/A/spec.json").read_text())
    assert online["init"] == {"from": "results/tiny/iter0/A/model.pt"} and online["pseudo"] is None
    assert online["hyper"]["online_threshold"] == 0.9 and online["hyper"]["epochs"] == 2  # 2 iterations x 1
    cbst = json.loads((tmp_path / "results/tiny/cbst/iter2/A/spec.json").read_text())
    assert cbst["pseudo"] == "results/tiny/cbst/iter2/pseudo_A.h5" and cbst["hyper"]["loss_variant"] == "ce"
    assert cbst["init"] == {"from": "results/tiny/cbst/iter1/A/model.pt"}


@pytest.mark.slow  # runs every method of the tiny comparison (~1 min)
def test_a_comparison_reuses_the_baselines_and_tabulates_every_method(done):
    # Run end to end: online, one model labelling itself, two models (dmt, already run) and the
    # oracle; dst / dmt_naive / dmt_flip differ from these in their loss alone (tests/training/test_losses.py).
    methods = ["baseline", "online", "cbst", "dmt", "oracle"]
    write_config(done, with_comparison(TINY))
    try:
        jobs = planned(done, "results/tables/tiny.csv")
        assert "baseline" not in jobs and "split" not in jobs  # every method starts from iteration 0
        assert jobs["oracle"] == 1 and jobs["compare"] == 1 and jobs["final"] == 5
        write_config(done, with_comparison(TINY, methods))
        snakemake(done, "--cores", "2", "results/tables/tiny.csv")
        # the report then shows the comparison: its table and a figure with one line per method
        out = snakemake(done, "-n", "-p", "plots").stdout
        assert "results/tables/tiny/tiny.png" in out and "--final online=results/tiny/online/final_miou.json" in out
    finally:
        write_config(done, TINY)
    import pandas as pd

    table = pd.read_csv(done / "results/tables/tiny.csv")
    assert list(table["method"]) == methods
    for method in methods[1:-1]:
        path = "results/tiny/final_miou.json" if method == "dmt" else f"results/tiny/{method}/final_miou.json"
        final = json.loads((done / path).read_text())
        assert table.loc[table.method == method, "tiny"].item() == pytest.approx(100 * final["miou"])
    a0 = json.loads((done / "results/tiny/iter0/A/metrics.json").read_text())["val"]["miou"]
    assert table.loc[table.method == "baseline", "tiny"].item() == pytest.approx(100 * a0)
    long = pd.read_csv(done / "results/tables/tiny_iterations.csv")
    assert set(long["method"]) == set(methods[1:-1])
    assert (done / "results/tables/tiny.md").read_text().startswith("# tiny")
    assert not list((done / "results" / "tiny" / "online").glob("iter1/pseudo_*"))


@pytest.mark.slow  # draws every figure, then the report (~30 s)
def test_report_holds_every_figure_and_the_table(done, tmp_path):
    """`snakemake plots`, then `snakemake --report FILE plots` (what `make report` runs): one HTML
    file holding the run's four figures and the experiment's final table."""
    import base64

    from PIL import Image

    oracle = done / "results" / "tiny" / "oracle" / "metrics.json"
    oracle_trained = oracle.exists()  # by the comparison test, if it ran first
    snakemake(done, "--cores", "2", "plots")
    figures = ["miou_by_iteration", "pseudo_labels", "dynamic_weights", "examples"]
    for name in figures:
        with Image.open(done / "results" / "tiny" / "plots" / f"{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 200
    table = (done / "results" / "tiny" / "final_table.csv").read_text().splitlines()
    runs = [line.split(",")[0] for line in table[1:]]
    assert runs[0] == "tiny" and table[1].startswith("tiny,tiny,digits,1/5,dmt,val mIoU,")
    # the oracle is shown where it was trained, and plotting never trains it
    oracle_cell = table[1].split(",")[-2]
    assert (oracle_cell != "") == oracle_trained and oracle.exists() == oracle_trained

    report = tmp_path / "report.html"
    snakemake(done, "--report", str(report), "plots")
    html = report.read_text()
    for name in figures:
        assert f"results/tiny/plots/{name}.png" in html
    assert "results/tiny/final_table.html" in html
    # Results are embedded as data URIs: the table itself is in the file.
    embedded = re.findall(r"data:text/html;[^,]*base64,([A-Za-z0-9+/=]+)", html)
    assert any("tiny: final results" in base64.b64decode(e).decode(errors="replace") for e in embedded)


@pytest.mark.slow  # kills and reruns a training (~45 s)
def test_kill_mid_training_then_rerun_completes(done):
    # Longer fine-tunes, so that the kill lands mid-epoch, after a checkpoint.
    slow = copy.deepcopy(TINY)
    slow["experiments"]["tiny"]["dmt"]["epochs"] = 40
    write_config(done, slow)
    model = done / "results" / "tiny" / "iter1" / "A" / "model.pt"
    ckpt = model.with_name("model.pt.ckpt")
    try:
        proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(done), "--cores", "1",
                                 "results/tiny/iter1/A/model.pt"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_checkpoint(ckpt, proc, 120)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not model.exists()  # removed before the job started; never renamed into place
        # A kill mid-write may leave a temporary, but never one named like a finished file.
        assert all(p.name.endswith(".tmp") for p in model.parent.glob(".model.pt.*"))
        snakemake(done, "--unlock")  # a SIGKILLed Snakemake leaves its lock behind
        snakemake(done, "--cores", "2", "--rerun-incomplete", "results/tiny/iter1/A/model.pt")
        assert model.is_file() and not ckpt.exists()
        assert not list(model.parent.glob(".model.pt.*"))  # the rerun cleared any such leftover
        assert "resuming from" in (done / "logs" / "tiny" / "iter1" / "A" / "train.log").read_text()
    finally:
        write_config(done, TINY)


def _seconds(benchmark: Path) -> float:
    """The job's own wall time from its `benchmark:` file (Snakemake's start-up not counted)."""
    return float(benchmark.read_text().splitlines()[1].split("\t")[0])


# A background job of a non-interactive shell (`make test &`, `nohup ... &`) starts with SIGINT
# ignored, its children inherit that, and Python keeps it: Snakemake would never see the signal
# (CI run that way here: it ran the job to the end and exited 0). Restored to the default, as a
# process manager starts it.
WITH_DEFAULT_SIGINT = [sys.executable, "-c", "import os, signal, sys; "
                       "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"]


@pytest.mark.slow  # one baseline of ~270 steps, then its rerun (~55 s)
def test_sigint_to_snakemake_alone_then_rerun_incomplete_restores_instead_of_retraining(tmp_path):
    # A process manager's `kill -INT <pid>`: the job runs on and finishes, Snakemake flags its
    # outputs incomplete, and --rerun-incomplete deletes them before running the job again.
    long = copy.deepcopy(TINY)
    # ~270 epochs (~20 s): still running at the signal even where a busy machine lets this test
    # see the first checkpoint late (at 60, ~130 epochs, it once finished first under load)
    long["experiments"]["tiny"]["baseline"]["oracle_epochs"] = 120
    write_config(tmp_path, long)
    model = tmp_path / "results" / "tiny" / "iter0" / "A" / "model.pt"
    target = str(model.relative_to(tmp_path))
    snakemake(tmp_path, "--cores", "1", "results/tiny/iter0/A/spec.json", "resources/splits/tiny/labeled.txt")
    log = tmp_path / "snakemake.log"
    with log.open("w") as out:
        command = [*WITH_DEFAULT_SIGINT, *SNAKEMAKE, "--directory", str(tmp_path), "--cores", "1", target]
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_checkpoint(model.with_name("model.pt.ckpt"), proc, 120)
    os.kill(proc.pid, signal.SIGINT)  # Snakemake alone, not its process group
    proc.wait(timeout=TIMEOUT)
    assert proc.returncode != 0 and model.is_file(), log.read_text()
    trained = model.read_bytes()
    benchmark = tmp_path / "logs" / "tiny" / "iter0" / "A" / "train.tsv"
    train_seconds = _seconds(benchmark)
    dry = snakemake(tmp_path, "-n", target, check=False)
    assert "IncompleteFilesException" in dry.stdout + dry.stderr
    snakemake(tmp_path, "--unlock")
    snakemake(tmp_path, "--cores", "1", "--rerun-incomplete", target)
    assert "restored results/tiny/iter0/A/model.pt" in (benchmark.with_name("train.log")).read_text()
    assert model.read_bytes() == trained  # the finished model itself, not a second training
    restore_seconds = _seconds(benchmark)
    print(f"training {train_seconds:.1f} s, restoring after --rerun-incomplete {restore_seconds:.1f} s")
    assert restore_seconds < train_seconds
    assert planned(tmp_path, target) == {}


def test_bad_config_key_fails_before_any_job(tmp_path):
    bad = copy.deepcopy(TINY)
    bad["experiments"]["tiny"]["dmt"]["gama1"] = 3
    write_config(tmp_path, bad)
    proc = snakemake(tmp_path, "--cores", "1", "results/tiny/final_miou.json", check=False)
    assert proc.returncode != 0
    assert "gama1" in proc.stdout + proc.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_a_labeled_draw_without_some_class_stops_at_the_split(tmp_path):
    # 6 of the 60 images at split seed 0 leave some digit without a labeled pixel.
    few = copy.deepcopy(TINY)
    few["experiments"]["tiny"]["labeled"] = "1/10"
    write_config(tmp_path, few)
    proc = snakemake(tmp_path, "--cores", "1", "results/tiny/iter0/A/model.pt", check=False)
    log = (tmp_path / "logs" / "tiny" / "split.log").read_text()
    assert proc.returncode != 0
    assert "error: split seed 0 draws 6 labeled ids" in log and "have no labeled pixel" in log
    assert not (tmp_path / "resources" / "splits" / "tiny" / "labeled.txt").exists()
    assert not (tmp_path / "results" / "tiny" / "iter0" / "A" / "model.pt").exists()


def test_dms_init_trains_baselines_on_the_two_sub_subsets(tmp_path):
    cfg = copy.deepcopy(TINY)
    cfg["experiments"]["tiny"]["init"] = "dms"
    write_config(tmp_path, cfg)
    jobs = planned(tmp_path, "results/tiny/iter0/A/model.pt", "results/tiny/iter0/B/model.pt")
    assert jobs == {"prepare": 1, "split": 1, "dms": 1, "baseline": 2, "train_spec": 2}
    snakemake(tmp_path, "--cores", "1", "results/tiny/iter0/B/spec.json")
    spec = json.loads((tmp_path / "results/tiny/iter0/B/spec.json").read_text())
    assert spec["labeled"] == ["results/tiny/dms/B.txt"]


def test_a_target_of_the_other_task_fails_before_any_job(tmp_path):
    write_config(tmp_path, {"experiments": {**TINY["experiments"],
                                            "tiny_cls": {"dataset": "digits_cls", "labeled": 20, "valtiny": 10}}})
    for target, wrong in (("results/tiny_cls/final_miou.json", "final_miou.json"),
                          ("results/tiny/final_acc.json", "final_acc.json"),
                          ("results/tiny_cls/iter1/B/model.pt", "iter1/B/model.pt")):
        proc = snakemake(tmp_path, "--cores", "1", target, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and wrong in out
        exp = target.split("/")[1]
        right = "final_acc.json" if exp == "tiny_cls" else "final_miou.json"
        assert f"is not part of run {exp}" in out and f"results/{exp}/{right}" in out
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


@pytest.mark.slow  # trains twice (~30 s)
def test_a_changed_init_never_resumes_the_old_checkpoint(tmp_path):
    """An interrupted baseline leaves model.pt.ckpt; after `model:` changes, the rerun trains the
    new model from step 0 instead of resuming the stale checkpoint of the old one."""
    slow = copy.deepcopy(TINY)
    slow["experiments"]["tiny"]["baseline"]["oracle_epochs"] = 30
    write_config(tmp_path, slow)
    model = tmp_path / "results" / "tiny" / "iter0" / "A" / "model.pt"
    ckpt = model.with_name("model.pt.ckpt")
    log = tmp_path / "logs" / "tiny" / "iter0" / "A" / "train.log"

    def start():
        return subprocess.Popen([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "1",
                                 "--rerun-incomplete", "results/tiny/iter0/A/model.pt"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    proc = start()
    wait_for_checkpoint(ckpt, proc, 120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.is_file() and not model.exists()
    snakemake(tmp_path, "--unlock")
    slow["experiments"]["tiny"]["model"] = "deeplab_v2"
    write_config(tmp_path, slow)
    proc = start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and "starting over" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = log.read_text()
    assert "belongs to another configuration; starting over" in text and "resuming from" not in text


def test_the_committed_tiny_config_is_what_the_tests_run():
    """.test/config/config.yaml is config/config.yaml with the tiny `digits`, `pretrainings` and `experiments` (and
    `comparisons: null`): a test, not an import-time check, so that editing a default fails here
    with the fix named instead of stopping every workflow test at collection."""
    import yaml
    from helpers.workflow import TEST_CONFIG, over_repository_config

    committed = yaml.safe_load(TEST_CONFIG.read_text())
    expected = over_repository_config(TINY)
    differ = sorted(k for k in set(committed) | set(expected) if committed.get(k) != expected.get(k))
    assert not differ, (f"{TEST_CONFIG} differs from config/config.yaml in {differ}: copy config/config.yaml's "
                        f"keys other than digits, pretrainings and experiments into it")
