"""The multi-node launcher's srun line, and its refusal to nest in a job step of one task."""

from __future__ import annotations

import subprocess
from argparse import Namespace

import pytest

from dmt.training import launch


def test_the_launchers_are_the_allocations_tasks_without_the_log_option():
    argv = ["--log", "logs/x/train.log", "train", "--spec", "s.json", "--ranks", "4", "--nodes", "2"]
    command = launch.launcher_command(Namespace(nodes=2, ranks=4), argv)
    # As many tasks as launchers, laid out as the allocation is (one a node with nodes: M, tasks: M);
    # a failed launcher stops the others instead of leaving them at the rendezvous.
    assert command[:4] == ["srun", "--ntasks", "2", "--kill-on-bad-exit=1"]
    assert command[4:] == [launch.sys.executable, "-m", "dmt", "train", "--spec", "s.json", "--ranks", "4",
                           "--nodes", "2"]
    assert "--log" not in command and "logs/x/train.log" not in command


def test_a_job_step_of_one_task_fails_in_one_line_naming_the_profile_fix(monkeypatch):
    def no_srun(*args, **kwargs):
        raise AssertionError("srun started inside a step: it would wait for the step's CPUs for ever")

    monkeypatch.setattr(subprocess, "run", no_srun)
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    said = []
    code = launch._on_each_node(Namespace(nodes=2, ranks=1), ["train"], lambda m, c: said.append(m) or c)
    assert code == 1 and len(said) == 1
    assert said[0].startswith("error: --nodes 2 runs in a SLURM job step of one task (step 0)")
    assert "tasks: M, mpi: srun" in said[0]


def test_the_batch_script_starts_the_launchers(monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: started.append((command, kw["env"]))
                        or subprocess.CompletedProcess(command, 0))
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    code = launch._on_each_node(Namespace(nodes=2, ranks=1), ["train"], lambda m, c: c)
    assert code == 0 and started[0][0][0] == "srun" and started[0][1][launch.NODE_LAUNCHER] == "1"


@pytest.mark.parametrize("step, inside", [(None, False), ("0", True), ("3", True), ("batch", False),
                                          ("extern", False), ("4294967291", False), ("4294967294", False)])
def test_only_an_srun_step_counts_as_one(monkeypatch, step, inside):
    if step is None:
        monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    else:
        monkeypatch.setenv("SLURM_STEP_ID", step)
    assert launch._in_srun_step() is inside
