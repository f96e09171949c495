"""A real single-node SLURM on this machine, for tests: munged, slurmctld and slurmd started as
root in the foreground (so we hold their PIDs and stop exactly them), no cgroups, no accounting.

The executor plugin's job steps clear SLURM_* variables, so srun inside a job must find the
configuration at /etc/slurm/slurm.conf; we write it there unless another one already exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
# The path it names is where this file was: kept, so that a configuration left behind by an
# earlier run (a killed test) is still recognised as ours.
MARKER = "# written by dmt-pipeline tests/slurm_local.py"
PARTITION = "debug"


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the local SLURM test cluster needs root"
    missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun")
               if shutil.which(b) is None]
    if missing:
        return f"SLURM/munge not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)"
    if CONF.exists() and MARKER not in CONF.read_text():
        return f"{CONF} belongs to another SLURM installation; not touching it"
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        return "a slurmctld is already running on this machine"
    return None


def _config(cpus: int, memory_mb: int) -> str:
    return f"""{MARKER}
ClusterName=dmtlocal
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=5
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.procs: list[subprocess.Popen] = []
        self.wrote_conf = False

    def _start(self, name: str, *cmd: str) -> None:
        log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - the daemon's output for its lifetime
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

    def start(self, timeout: float = 60) -> None:
        CONF.parent.mkdir(parents=True, exist_ok=True)
        self.wrote_conf = not CONF.exists()
        CONF.write_text(_config(os.cpu_count() or 1, 16000))
        for d in ("/var/spool/slurmctld", "/var/spool/slurmd", "/run/munge", "/var/log/munge",
                  "/var/lib/munge"):
            Path(d).mkdir(parents=True, exist_ok=True)
        self._start("munged", "munged", "--foreground", "--force")
        time.sleep(0.5)
        self._start("slurmctld", "slurmctld", "-D", "-i")
        time.sleep(1)
        self._start("slurmd", "slurmd", "-D", "-N", "localhost")
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
            if state.returncode == 0 and state.stdout.strip().startswith("idle"):
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        self.stop()
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in self.log_dir.glob("*.log"))
        raise RuntimeError(f"local SLURM did not come up:\n{logs}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        # With a config but no controller, every SLURM client call (the executor plugin makes
        # some when Snakemake starts) waits for a timeout; leave the machine as we found it.
        if self.wrote_conf and CONF.exists():
            CONF.unlink()
