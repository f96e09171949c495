"""Periodic checkpoints and resumption. A checkpoint holds the model, optimizer, scaler, step,
history and each keyed hook's state, with the fingerprint of what the run depends on: one made
under another spec or other inputs is not resumed."""

from __future__ import annotations

import logging
from pathlib import Path

from dmt.errors import DMTError, UnsafeFile
from dmt.store.atomic import torch_save
from dmt.store.torchfile import read_torch_file
from dmt.training.distributed import SINGLE, World
from dmt.training.hooks import Hook, Run

log = logging.getLogger(__name__)

def _read(path: Path) -> dict | None:
    try:
        ckpt = read_torch_file(path, "checkpoint")
    except UnsafeFile:
        raise  # never executed, never silently skipped: someone put it there
    except DMTError as e:  # a torn file from a kill is impossible (atomic), but be safe
        log.warning("ignoring unreadable checkpoint (%s)", e)
        return None
    return ckpt if isinstance(ckpt, dict) else None


class CheckpointHook(Hook):
    """Saves every ``spec.checkpoint_every`` steps (not at the last: the model file follows) and
    removes the checkpoint once the trained model is saved. Under several ranks every rank
    resumes from the same file and rank 0 alone writes it: it holds the global batch's state, so
    a run resumes on any rank count (the fingerprint holds no rank count)."""

    def __init__(self, path, fingerprint: str, world: World = SINGLE):
        self.path = Path(path) if path else None
        self.fingerprint = fingerprint
        self.world = world

    def due(self, run: Run, done: int) -> bool:
        return done % run.spec.checkpoint_every == 0 and done < run.total

    def resume(self, run: Run) -> None:
        """Restores ``run`` (and its hooks) from the checkpoint where there is a matching one."""
        ckpt = _read(self.path) if self.path and self.path.exists() else None
        if ckpt and ckpt.get("fingerprint") == self.fingerprint:
            run.model.load_state_dict(ckpt["model"])
            run.optimizer.load_state_dict(ckpt["optimizer"])
            run.scaler.load_state_dict(ckpt["scaler"])
            run.start, run.history = ckpt["step"], ckpt["history"]
            for hook in run.hooks:
                if hook.key:
                    hook.load(ckpt[hook.key])
            log.info("resuming from %s at step %d of %d", self.path, run.start, run.total)
        elif ckpt:
            log.warning("checkpoint %s belongs to another configuration; starting over", self.path)

    def last_good(self) -> str:
        return str(self.path) if self.path and self.path.exists() else "none"

    def end_of_step(self, run: Run, done: int) -> None:
        if self.path and self.due(run, done):
            states = {hook.key: hook.state() for hook in run.hooks if hook.key}  # on every rank
            if not self.world.main:
                return
            # The keys, their order included, are the checkpoint format: kept as they were.
            torch_save({"fingerprint": self.fingerprint, "model": run.model.state_dict(),
                        "optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict(),
                        "ema": states.get("ema"), "step": done, "history": run.history,
                        "weight_hist": states.get("weight_hist")}, self.path)

    def after_save(self, run: Run) -> None:
        if self.world.main and self.path and self.path.exists():
            self.path.unlink()
