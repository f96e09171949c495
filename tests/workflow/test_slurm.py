"""The tiny DAG through `--profile profiles/slurm` on a real single-node SLURM started here."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time

import pytest
from helpers.models import WEIGHT_ATOL, max_weight_diff
from helpers.slurm_local import PARTITION, LocalSlurm, unavailable_reason
from helpers.workflow import REPO, SNAKEMAKE, TINY, wait_for_checkpoint, write_config

REASON = unavailable_reason()
# slow: a cluster started on this machine runs the tiny DAG through sbatch (~5 min)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

GPU_RULES = ("baseline", "finetune", "oracle", "pseudo_label", "evaluate")
# The test cluster has no GPU, no accounting and one partition: override what the profile asks.
SLURM = [
    "--profile", str(REPO / "profiles" / "slurm"),
    "--set-resources", *[f"{rule}:gpu=0" for rule in GPU_RULES],
    "--default-resources", f"slurm_partition={PARTITION}",
    "--slurm-no-account",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "2",
    "--latency-wait", "5",
    "--jobs", "2",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm-daemons"))
    slurm.start()
    yield slurm
    slurm.stop()


def run(workdir, *args, timeout=900):
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def test_tiny_dag_through_slurm_and_scancel_resume(cluster, tmp_path, capsys):
    write_config(tmp_path, TINY)
    start = time.time()
    out = run(tmp_path, *SLURM, "results/tiny/final_miou.json")
    slurm_seconds = time.time() - start
    submitted = set(re.findall(r"SLURM jobid (\d+)", out))
    assert len(submitted) >= 15  # 2 baselines, 4 pseudo, 4 fine-tunes, 6 evaluations
    final = json.loads((tmp_path / "results" / "tiny" / "final_miou.json").read_text())
    assert final["selected"] in ("A2", "B2")
    for i in range(3):
        for m in "AB":
            assert (tmp_path / "results" / "tiny" / f"iter{i}" / m / "metrics.json").is_file()
    with capsys.disabled():
        print(f"\n[slurm] tiny DAG through SLURM: {slurm_seconds:.0f} s wall, {len(submitted)} SLURM "
              f"jobs, status from squeue (no sacct)")

    # A long fine-tune, cancelled by SLURM after its first checkpoint: Snakemake retries it
    # (profile: retries) and the retry resumes from the checkpoint instead of starting over.
    slow = copy.deepcopy(TINY)
    slow["experiments"]["tiny"]["dmt"]["epochs"] = 40
    write_config(tmp_path, slow)
    model = tmp_path / "results" / "tiny" / "iter1" / "B" / "model.pt"
    ckpt = model.with_name("model.pt.ckpt")
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(tmp_path), *SLURM,
                             "results/tiny/iter1/B/model.pt"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_for_checkpoint(ckpt, proc, 300)
    time.sleep(1)
    jobs = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True).stdout
    job_ids = [line.split()[0] for line in jobs.splitlines() if line.strip()]
    assert job_ids, "no job in squeue while training"
    subprocess.run(["scancel", *job_ids], check=True)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-5000:]
    assert model.is_file() and not ckpt.exists()
    log = (tmp_path / "logs" / "tiny" / "iter1" / "B" / "train.log").read_text()
    assert "resuming from" in log, out[-3000:]


def test_a_training_on_two_ranks_through_slurm(cluster, tmp_path):
    """resources.train.ranks: 2 through the SLURM profile: one SLURM job whose command starts
    torchrun's 2 gloo ranks (the CPUs the job asks for cover both)."""
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"]["resources"] = {"train": {"ranks": 2}}
    write_config(tmp_path, config)
    # One --set-resources list (a second one would replace the first's gpu=0), and the target
    # first: the list takes every word after it.
    args = list(SLURM)
    args.insert(args.index("--set-resources") + 1, "baseline:cpus_per_task=2")
    run(tmp_path, "results/tiny/iter0/A/model.pt", *args)
    sidecar = json.loads((tmp_path / "results" / "tiny" / "iter0" / "A" / "model.json").read_text())
    assert sidecar["summary"]["ranks"] == 2
    assert "training on 2 ranks" in (tmp_path / "logs" / "tiny" / "iter0" / "A" / "train.log").read_text()


def test_a_training_of_two_slurm_tasks_meets_at_one_rendezvous(cluster, tmp_path):
    """The multi-node form on the one-node cluster: resources.train.nodes: 2 with the profile's task
    resources (tasks: 2, mpi: srun) is one SLURM job of 2 tasks, each a launcher of one gloo rank;
    they meet at the c10d rendezvous on the allocation's first host and train what one process
    trains (up to float summation order, as tests/workflow/test_ranks.py pins)."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write_config(one, TINY)
    run(one, "--cores", "2", "results/tiny/iter0/A/model.pt")
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"]["resources"] = {"train": {"nodes": 2}}
    write_config(two, config)
    args = list(SLURM)
    args[args.index("--set-resources") + 1:args.index("--set-resources") + 1] = [
        "baseline:tasks=2", "baseline:mpi=srun", "baseline:cpus_per_task=1"]
    run(two, "results/tiny/iter0/A/model.pt", *args)
    job = "results/tiny/iter0/A"
    log = (two / "logs" / "tiny" / "iter0" / "A" / "train.log").read_text()
    for task in (0, 1):
        assert f"training on 2 ranks (1 per node, 2 nodes): launcher {task} of 2" in log, log[-3000:]
    sidecar = json.loads((two / job / "model.json").read_text())
    assert sidecar["summary"]["ranks"] == 2
    diff = max_weight_diff(one / job / "model.pt", two / job / "model.pt")
    print(f"\n[slurm] tiny baseline A as one SLURM job of 2 tasks (1 gloo rank each) vs 1 process: "
          f"max abs weight difference {diff:.3g}")
    assert diff < WEIGHT_ATOL


def test_several_launchers_without_the_task_resources_fail_in_one_line(cluster, tmp_path):
    """nodes: 2 but the profile left as it is (no mpi: srun): the plugin runs the command inside an
    `srun -n1` step, where starting the launchers would wait for ever; it stops with the fix."""
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"]["resources"] = {"train": {"nodes": 2}}
    write_config(tmp_path, config)
    # --retries 0: the profile's two retries would fail alike.
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "results/tiny/iter0/A/model.pt", *SLURM,
                           "--retries", "0"], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "tiny" / "iter0" / "A" / "train.log").read_text()
    lines = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "runs in a SLURM job step of one task" in lines[0], log[-3000:]
    assert "tasks: M, mpi: srun" in lines[0]
    assert not (tmp_path / "results" / "tiny" / "iter0" / "A" / "model.pt").exists()
