"""The real Snakemake DAG in a scratch working directory: the tiny digits configuration, a
configuration written over the repository's, Snakemake run as a child process, a dry run's job
counts."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
# Seconds a Snakemake run of a test may take; raise it on a machine shared with other work.
TIMEOUT = int(os.environ.get("DMT_TEST_TIMEOUT", "600"))

TINY = {
    "digits": {"seed": 0, "n_train": 60, "n_val": 20},
    "experiments": {
        "tiny": {
            "dataset": "digits",
            "labeled": "1/5",  # 12 of 60: the smallest draw with every digit labeled at split seeds 0-2
            "valtiny": 4,
            "crop_size": [32, 32],
            "checkpoint_every": 2,
            "baseline": {"oracle_epochs": 1, "lr": 0.01, "batch_size": 4},
            "dmt": {"alphas": [0.5, 1.0], "gamma1": 3, "gamma2": 3, "epochs": 1, "lr": 0.005,
                    "batch_size": 4, "pseudo_per_batch": 3},
            "inference_batch_size": 16,
        }
    },
}


def write_config(workdir: Path, config: dict) -> None:
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base.update(copy.deepcopy(config))
    named = {e for c in (base.get("comparisons") or {}).values() for e in c["experiments"]}
    if not named <= set(base["experiments"]):
        base["comparisons"] = None  # the repository's name experiments this configuration lacks
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(base))


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True,
                          text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (the 'Job stats' table)."""
    return job_stats(snakemake(workdir, "-n", *args).stdout)


def job_stats(out: str) -> dict[str, int]:
    counts = {}
    for line in out.split("Job stats:")[-1].splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def wait_for_checkpoint(ckpt: Path, proc: subprocess.Popen, timeout: float) -> None:
    """Block until a training job has written its first checkpoint (while ``proc`` runs)."""
    deadline = time.time() + timeout
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert ckpt.exists(), "training never reached its first checkpoint"
