"""One GPU per job: pick_device's assignment on a faked multi-GPU machine (no GPU needed).

torch.cuda.is_available / device_count / set_device are replaced, so that what is tested is the
assignment and its locks, in this process and in real concurrent processes.
"""

import fcntl
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import dmt
from dmt import devices
from dmt.errors import DMTError
from dmt.models.inference import pick_device


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    """Pretend ``n`` GPUs are visible; returns (set n, the lock folder, the set_device calls)."""
    calls = []
    count = {"n": 2}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count["n"] > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count["n"])
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setattr(devices, "_claimed", {})

    def set_count(n):
        count["n"] = n

    yield set_count, tmp_path / "locks", calls
    for f in devices._claimed.values():  # release this test's GPUs: the next test starts afresh
        f.close()


def hold(path: Path):
    """Lock ``path`` as another job would (flock conflicts between open files, even in-process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held (locked) by the caller
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return f


def test_auto_takes_a_gpu_no_other_job_holds_and_keeps_it(fake_gpus):
    _, locks, calls = fake_gpus
    other = hold(locks / "gpu-0.lock")
    try:
        assert pick_device("auto") == torch.device("cuda", 1)
        assert calls == [torch.device("cuda", 1)] and torch.backends.cudnn.benchmark
        # Asked again in the same job: the same GPU, not a second one.
        assert pick_device("cuda") == torch.device("cuda", 1)
        assert (locks / "gpu-1.lock").read_text().strip() == str(os.getpid())
    finally:
        other.close()


def test_a_multi_gpu_job_gets_gpus_no_other_job_holds_all_at_once(fake_gpus, monkeypatch):
    set_count, locks, _ = fake_gpus
    set_count(3)
    other = hold(locks / "gpu-1.lock")
    try:
        assert devices.claim_gpus(3, 2) == [0, 2]
        assert devices.claim_gpus(3, 2) == [0, 2]  # asked again: the same ones
        # All or nothing: with only one free, none is held while the job waits.
        monkeypatch.setattr(devices, "_claimed", {})
        assert devices._lock_all([locks / "gpu-0.lock", locks / "gpu-1.lock", locks / "gpu-2.lock"], 2) is None
    finally:
        other.close()


def test_plain_cuda_is_assigned_like_auto(fake_gpus):
    assert pick_device("cuda") == torch.device("cuda", 0)


def test_explicit_index_is_used_as_is_even_when_held(fake_gpus):
    _, locks, calls = fake_gpus
    other = hold(locks / "gpu-0.lock")
    try:
        assert pick_device("cuda:0") == torch.device("cuda", 0)
        assert calls == [torch.device("cuda", 0)] and devices._claimed == {}
    finally:
        other.close()
    with pytest.raises(DMTError, match="only 2 CUDA device"):
        pick_device("cuda:2")


def test_one_visible_gpu_or_none_takes_no_lock(fake_gpus):
    set_count, locks, calls = fake_gpus
    set_count(1)  # e.g. SLURM's CUDA_VISIBLE_DEVICES with the job's one GPU
    assert pick_device("auto") == torch.device("cuda")
    set_count(0)
    assert pick_device("auto") == torch.device("cpu")
    assert not locks.exists() and calls == []


def test_locks_are_named_after_cuda_visible_devices(fake_gpus, monkeypatch):
    _, locks, _ = fake_gpus
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,GPU-1a/2b")
    assert devices.gpu_names(2) == ["3", "GPU-1a_2b"]
    other = hold(locks / "gpu-3.lock")  # physical GPU 3, taken by a run that sees other GPUs
    try:
        assert pick_device("auto") == torch.device("cuda", 1)
        assert (locks / "gpu-GPU-1a_2b.lock").exists()
    finally:
        other.close()


def test_unlockable_folder_is_one_clear_error(fake_gpus, monkeypatch):
    def no_flock(f, op):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(devices.fcntl, "flock", no_flock)
    with pytest.raises(DMTError, match=f"cannot lock .*gpu-0.lock.*{devices.LOCK_DIR_ENV}"):
        pick_device("auto")


def test_bad_device_name_is_one_clear_error():
    with pytest.raises(DMTError, match="bad --device 'gpu'"):
        pick_device("gpu")


# ----------------------------------------------------------------------------- real processes

# A job on a faked 2-GPU machine: picks a device, prints it, holds it until stdin closes.
JOB = """
import logging, sys, torch
torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: 2
torch.cuda.set_device = lambda device: None
import dmt.devices
dmt.devices.POLL_SECONDS = 0.05
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from dmt.models.inference import pick_device
print("device", pick_device("auto"), flush=True)
sys.stdin.read()
"""


class Job:
    def __init__(self, lock_dir):
        env = {**os.environ, devices.LOCK_DIR_ENV: str(lock_dir), "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": str(Path(dmt.__file__).parents[1])}
        env.pop("CUDA_VISIBLE_DEVICES", None)
        self.proc = subprocess.Popen([sys.executable, "-c", JOB], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, prefix: str) -> str:
        """The first line starting with ``prefix`` (a generous limit only guards against a hang)."""
        while True:
            line = self.lines.get(timeout=120)
            assert line is not None, f"job exited (status {self.proc.wait()}) before {prefix!r}"
            if line.startswith(prefix):
                return line

    def device(self) -> str:
        return self.wait_for("device ").split()[1]


def test_concurrent_jobs_get_different_gpus_and_a_killed_job_frees_its_own(tmp_path):
    jobs = []
    try:
        jobs = [Job(tmp_path), Job(tmp_path)]  # started together: they race for the locks
        first, second = (job.device() for job in jobs)
        assert {first, second} == {"cuda:0", "cuda:1"}

        third = Job(tmp_path)
        jobs.append(third)
        assert "all 2 GPUs are taken by other dmt jobs" in third.wait_for("all 2 GPUs")
        jobs[0].proc.kill()  # SIGKILL: no cleanup code runs, the kernel drops the flock
        jobs[0].proc.wait()
        assert third.device() == first
        assert third.proc.poll() is None and jobs[1].proc.poll() is None  # still holding theirs
    finally:
        for job in jobs:
            job.proc.kill()
            job.proc.wait()
