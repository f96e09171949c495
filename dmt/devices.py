"""One GPU per job on a machine with several: which visible GPU this process may use (or, for
a job on several GPUs, which ones its launcher hands its ranks: ``claim_gpus``).

Snakemake's ``--resources gpu=N`` only counts jobs; it does not say which GPU each one gets, so
with ``device: auto`` every job used to land on ``cuda:0``. Here each process takes an exclusive
``fcntl.flock`` on one lock file per GPU and keeps it open until it exits. The kernel drops a
flock when the last descriptor of it closes, so a job that dies in any way (SIGKILL included)
frees its GPU with no stale pid file to clean up. (Forked DataLoader workers share the descriptor;
they exit, and let go of it, once they see their parent gone.)

Lock files are named after the GPU's ``CUDA_VISIBLE_DEVICES`` entry when that is set (the
physical index or UUID), so runs that see different subsets of the machine's GPUs still agree
on which one is taken. They live in ``.dmt-gpu-locks/`` under the working directory (the
repository root for Snakemake's jobs), or in ``$DMT_GPU_LOCK_DIR``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from pathlib import Path

from dmt.errors import DMTError

log = logging.getLogger("dmt.devices")

LOCK_DIR_ENV = "DMT_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = ".dmt-gpu-locks"
# How often a job waiting for a GPU tries the locks again: a job runs for minutes at least, so
# a few seconds of delay cost nothing and keep the waiting processes idle.
POLL_SECONDS = 5.0

# This process's GPUs: index -> open lock file. The file objects are kept referenced so that the
# locks live exactly as long as the process; a second claim in the process returns the same GPUs.
_claimed: dict[int, object] = {}


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)


def gpu_names(count: int) -> list[str]:
    """A machine-wide name for each of the ``count`` visible GPUs, usable as a file name."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in visible.split(",")][:count] if visible else []
    if len(entries) < count:  # not set (all GPUs, in their own order) or fewer entries than GPUs
        entries = [str(i) for i in range(count)]
    return [re.sub(r"[^A-Za-z0-9._-]", "_", e) for e in entries]


def _try_lock(path: Path):
    """The open, exclusively locked file at ``path``, or None if another process holds it."""
    f = open(path, "a+")  # noqa: SIM115 - held open (and locked) for as long as the job runs
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    except OSError as e:  # e.g. Lustre mounted without flock support
        f.close()
        raise DMTError(f"cannot lock {path} to reserve a GPU ({e}); set {LOCK_DIR_ENV} to a "
                       "folder on a local disk, e.g. /tmp/dmt-gpu-locks") from e
    # The holder's pid, for the waiting message only: the lock, not the content, is the
    # reservation, so this file is rewritten in place rather than atomically replaced.
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def _holders(paths: list[Path]) -> str:
    pids = []
    for p in paths:
        try:
            pids.append(p.read_text().strip() or "?")
        except OSError:
            pids.append("?")
    return ", ".join(f"{p.stem}: pid {pid}" for p, pid in zip(paths, pids, strict=False))


def claim_gpu(count: int) -> int:
    """Index of a visible GPU that no other dmt process holds, reserved until this process exits.

    With all ``count`` GPUs taken, waits for one to be freed (logged once): sharing a GPU would
    make memory use depend on what else runs. An explicit ``--device cuda:N`` skips this.
    """
    return claim_gpus(count, 1)[0]


def _lock_all(paths: list[Path], n: int) -> dict[int, object] | None:
    """``n`` of ``paths`` locked (index -> file), or None with none held: a job never sits on
    some GPUs while it waits for the rest (two such jobs would wait for each other)."""
    got = {}
    for index, path in enumerate(paths):
        f = _try_lock(path)
        if f is not None:
            got[index] = f
            if len(got) == n:
                return got
    for f in got.values():
        f.close()  # closing drops the flock
    return None


def claim_gpus(count: int, n: int) -> list[int]:
    """Indices of ``n`` of the ``count`` visible GPUs that no other dmt process holds, reserved
    together until this process exits; waits until ``n`` are free at once."""
    global _claimed
    if _claimed:
        return sorted(_claimed)[:n]
    folder = lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DMTError(f"cannot create the GPU lock folder {folder} ({e}); set {LOCK_DIR_ENV}") from e
    paths = [folder / f"gpu-{name}.lock" for name in gpu_names(count)]
    waiting = False
    while True:
        got = _lock_all(paths, n)
        if got is not None:
            _claimed = got
            log.info("using GPU(s) %s (%s held until this job exits)",
                     ", ".join(f"cuda:{i}" for i in sorted(got)), ", ".join(str(paths[i]) for i in sorted(got)))
            return sorted(got)
        if not waiting:
            if n == 1:
                log.info("all %d GPUs are taken by other dmt jobs (%s); waiting for one to be freed",
                         count, _holders(paths))
            else:
                log.info("fewer than %d of the %d GPUs are free of other dmt jobs (%s); waiting for %d "
                         "at once", n, count, _holders(paths), n)
            waiting = True
        time.sleep(POLL_SECONDS)
