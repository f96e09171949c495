"""The real Snakemake DAG in a scratch working directory: the tiny digits configuration, a
configuration written over the repository's, Snakemake run as a child process, a dry run's job
counts, a DAG marked as run without running it."""

from __future__ import annotations

import copy
import json
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

# The tiny digits run, committed as a runnable configuration (the Snakemake workflow catalog's
# .test/ convention: `snakemake --directory .test ...`). The tests take its `digits`, `pretrainings`
# (none: the tiny run starts from scratch) and `experiments` and write them over the repository's
# configuration (write_config).
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
TINY = {key: value for key, value in yaml.safe_load(TEST_CONFIG.read_text()).items()
        if key in ("digits", "pretrainings", "experiments")}


def over_repository_config(config: dict) -> dict:
    """config/config.yaml with ``config``'s top-level keys in place of its own, and without its
    comparisons where they name experiments that ``config`` lacks."""
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base.update(copy.deepcopy(config))
    named = {e for c in (base.get("comparisons") or {}).values() for e in c["experiments"]}
    if not named <= set(base["experiments"]):
        base["comparisons"] = None  # the repository's name experiments this configuration lacks
    return base


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(over_repository_config(config)))


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True,
                          text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (the 'Job stats' table)."""
    return job_stats(snakemake(workdir, "-n", *args).stdout)


def touched(workdir: Path, *targets: str) -> None:
    """The DAG of ``targets`` as if it had run, in seconds, for tests of what a configuration
    change reruns: every job recorded as run with the params and inputs it has now, every output a
    placeholder (a prepared data set a folder, being a directory() output; any other file '{}').

    `snakemake --touch` (9.x) records the metadata of jobs whose outputs are missing, and only
    updates the times of outputs that exist: so it runs once to record, and once more after the
    placeholders are made, to give them their jobs' order in time."""
    out = snakemake(workdir, "-n", *targets).stdout
    snakemake(workdir, "--touch", "--cores", "1", *targets)
    for line in re.findall(r"^\s+output: (.*)$", out, flags=re.M):
        for name in line.split(", "):
            path = workdir / name
            if name.startswith("resources/data/"):
                path.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}")
    snakemake(workdir, "--touch", "--cores", "1", *targets)


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


def run_demo(tmp_path, exp: str, target: str) -> tuple[dict, float]:
    """The repository's config reduced to ``exp``, run as the README says; (result, minutes)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["experiments"] = {exp: config["experiments"][exp]}
    config["comparisons"] = None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.time()
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", target],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / target).read_text()), (time.time() - start) / 60
