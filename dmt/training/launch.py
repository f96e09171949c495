"""``python -m dmt train --ranks N [--nodes M]``: one training job on N processes per node,
started by torchrun (``torch.distributed.run``) from this process, which stays for the job's
lifetime: it holds the job's GPUs (``dmt.devices``) and turns a failed rank into one line.

One node: ``--standalone`` rendezvous. Several nodes (inside a SLURM allocation of M tasks, one a
node): this command starts itself as the allocation's M tasks (``srun --ntasks M``, laid out as
the allocation is), each its node's launcher, and those meet at the allocation's first node (c10d
rendezvous on ``$SLURM_JOB_NODELIST``'s first host, id ``$SLURM_JOB_ID``). An allocation of M
tasks on fewer nodes (the one-node test cluster) puts several launchers on a node; they meet the
same way. The rule's command is the same in every case.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dmt.errors import DMTError

log = logging.getLogger("dmt")

RDZV_PORT = 29400
NODE_LAUNCHER = "DMT_NODE_LAUNCHER"  # set in the launchers srun starts, one a node


def _strip(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without the options ``names`` and their value (the ranks do not launch again,
    and write to the launcher's log, not a truncated copy of it)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in names:
            skip = True
        elif not any(item.startswith(n + "=") for n in names):
            out.append(item)
    return out


def _rendezvous(nodes: int) -> list[str]:
    if nodes == 1:
        return ["--standalone", "--nnodes", "1"]
    try:
        job, nodelist = os.environ["SLURM_JOB_ID"], os.environ["SLURM_JOB_NODELIST"]
    except KeyError as e:
        raise DMTError(f"--nodes {nodes} runs inside a SLURM allocation of as many tasks (srun --ntasks {nodes}); "
                       f"{e.args[0]} is not set") from e
    head = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    return ["--nnodes", str(nodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{head}:{RDZV_PORT}",
            "--rdzv-id", job]


def _claim_gpus(args) -> None:
    """Every rank of this node gets a GPU no other dmt job holds: claimed here, all at once, and
    handed to the ranks as their CUDA_VISIBLE_DEVICES (rank r takes cuda:r)."""
    import torch

    if args.device not in ("auto", "cuda") or not torch.cuda.is_available():
        return
    from dmt.devices import claim_gpus, gpu_names

    count = torch.cuda.device_count()
    if count < args.ranks:
        raise DMTError(f"--ranks {args.ranks} needs {args.ranks} GPUs; {count} visible here "
                       "(resources.train.gpu asks SLURM for them)")
    names = gpu_names(count)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(names[i] for i in claim_gpus(count, args.ranks))


def _failure_line(error, world: int, errors: Path) -> str:
    rank, failure = error.get_first_failure()
    said = errors / f"rank{rank}"
    if said.exists():
        return f"{said.read_text().strip()} (rank {rank} of {world})"
    how = f"killed by {failure.signal_name()}" if failure.exitcode < 0 else f"exit status {failure.exitcode}"
    return (f"error: rank {rank} of {world} stopped ({how}) and the others with it; rerun the job: it "
            "resumes from its last checkpoint")


PROFILE_FIX = ("give baseline, finetune, oracle (and pretrain) the plugin's task resources in the profile's "
               "set-resources: nodes: M, tasks: M, mpi: srun (README: One training on several GPUs or nodes)")


def launcher_command(args, argv: list[str]) -> list[str]:
    """srun starting this very command as the allocation's ``args.nodes`` tasks, each a launcher.
    ``--kill-on-bad-exit``: a launcher that fails stops the others, which would otherwise wait
    at the rendezvous or in a collective until torch's timeout (30 minutes)."""
    return ["srun", "--ntasks", str(args.nodes), "--kill-on-bad-exit=1", sys.executable, "-m", "dmt",
            *_strip(argv, ("--log",))]


def _in_srun_step() -> bool:
    """Whether this process is a task of an srun job step: SLURM_STEP_ID a step number, not the
    batch script's or extern step's (named, or their ids at the top of the 32-bit range)."""
    step = os.environ.get("SLURM_STEP_ID")
    return step is not None and step.isdigit() and int(step) < 0xFFFFFFF0


def _on_each_node(args, argv: list[str], fail) -> int:
    """This very command once on each node of the allocation (srun), each its node's launcher;
    their output goes where this process's goes (the job's log)."""
    if _in_srun_step():
        # The executor plugin wraps a job without `mpi` in `srun -n1`; a second srun inside that
        # step would wait for CPUs the step holds, for ever.
        return fail(f"error: --nodes {args.nodes} runs in a SLURM job step of one task (step "
                    f"{os.environ['SLURM_STEP_ID']}), so it cannot start its launchers: {PROFILE_FIX}", 1)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        done = subprocess.run(launcher_command(args, argv), env={**os.environ, NODE_LAUNCHER: "1"}, check=False)
    except FileNotFoundError:
        return fail(f"error: --nodes {args.nodes} starts one launcher a node with srun, which is not "
                    "installed here: run it inside a SLURM allocation", 1)
    if done.returncode:
        return fail(f"error: the training on {args.nodes} nodes failed (srun exit status "
                    f"{done.returncode}); each launcher's lines are above in this log (an allocation of fewer "
                    f"than {args.nodes} tasks: {PROFILE_FIX}); rerun the job: it resumes from its last "
                    "checkpoint", 1)
    return 0


def _which_launcher() -> str:
    """Which of the srun tasks this launcher is, for the log ('' on one node)."""
    if not os.environ.get(NODE_LAUNCHER):
        return ""
    import socket

    return (f": launcher {os.environ.get('SLURM_PROCID', '?')} of {os.environ.get('SLURM_NTASKS', '?')} "
            f"on {socket.gethostname()}")


def launch(args, argv: list[str], fail) -> int:
    """Run the job ``argv`` (this command's own) on ``args.ranks`` processes of each of
    ``args.nodes`` nodes; 0, or ``fail``'s one line and status 1."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    world = args.ranks * args.nodes
    if args.nodes > 1 and not os.environ.get(NODE_LAUNCHER):
        return _on_each_node(args, argv, fail)
    _claim_gpus(args)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="dmt-ranks-") as errors:
        os.environ["DMT_RANK_ERRORS"] = errors
        torchrun = get_args_parser().parse_args([
            *_rendezvous(args.nodes), "--nproc-per-node", str(args.ranks), "--max-restarts", "0",
            "--monitor-interval", "1", "-m", "dmt", *_strip(argv, ("--log",))])
        log.info("training on %d ranks (%d per node, %d nodes)%s", world, args.ranks, args.nodes, _which_launcher())
        try:
            run(torchrun)
        except ChildFailedError as e:
            return fail(_failure_line(e, world, Path(errors)), 1)
    sys.stdout.flush()
    return 0
