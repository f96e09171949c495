"""What a run does beside its steps, as hooks the loop calls at fixed points: the EMA of the
weights, the dynamic-weight histogram, TensorBoard. A hook with a ``key`` keeps its ``state``
in the checkpoint under that key (``dmt.training.checkpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.optim.swa_utils import AveragedModel

from dmt.training.distributed import SINGLE, World
from dmt.training.losses import LossOutput, WeightHistogram


@dataclass
class Run:
    """What the loop and its hooks share."""

    model: torch.nn.Module
    spec: object  # TrainSpec
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    total: int  # steps of the whole run
    steps_per_epoch: int
    start: int = 0  # the step it (re)starts at
    history: list = field(default_factory=list)
    eval_model: torch.nn.Module | None = None  # evaluated, saved and labelling next: the EMA if any
    hooks: list = field(default_factory=list)
    trainee: torch.nn.Module | None = None  # what the steps call: the model, or DDP around it

    def __post_init__(self):
        if self.eval_model is None:
            self.eval_model = self.model
        if self.trainee is None:
            self.trainee = self.model


class Hook:
    key: str | None = None

    def state(self):
        return None

    def load(self, state) -> None:
        pass

    def after_step(self, run: Run, out: LossOutput) -> None:
        """After the optimizer step."""

    def after_log(self, run: Run, done: int, scalars: dict) -> None:
        """At a logging interval, with the interval's mean training scalars."""

    def after_epoch(self, run: Run, done: int, out: LossOutput, scalars: dict) -> None:
        """At an epoch's end, with the scalars ``on_epoch_end`` returned (or none)."""

    def end_of_step(self, run: Run, done: int) -> None:
        """The last thing of a step."""

    def before_save(self, run: Run, summary: dict) -> None:
        """Before the trained model is saved with ``summary``."""

    def after_save(self, run: Run) -> None:
        pass


def ema_with_warmup(decay: float):
    """EMA update ``d * avg + (1 - d) * new`` with ``d = min(decay, (1 + n) / (10 + n))`` after n
    updates (TensorFlow's ExponentialMovingAverage with num_updates): early on the average follows
    the model instead of carrying its random init for ~1 / (1 - decay) steps. Runs of thousands of
    steps (CIFAR-10) see the plain ``decay`` almost throughout."""
    def update(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        d = torch.clamp((1 + num_averaged) / (10 + num_averaged), max=decay).to(averaged.device)
        return d * averaged + (1 - d) * current
    return update


class EMAHook(Hook):
    """An EMA of the weights (buffers included), which becomes the run's ``eval_model``."""

    key = "ema"

    def __init__(self, run: Run, decay: float):
        self.ema = AveragedModel(run.model, avg_fn=ema_with_warmup(decay), use_buffers=True)
        run.eval_model = self.ema.module

    def state(self):
        return self.ema.state_dict()

    def load(self, state) -> None:
        self.ema.load_state_dict(state)

    def after_step(self, run: Run, out: LossOutput) -> None:
        self.ema.update_parameters(run.model)


class WeightHistogramHook(Hook):
    """Counts the dynamic weights of the pseudo-labeled elements: the report's histograms. Under
    several ranks each counts its slice; the state (checkpoints, the summary) is their sum, which
    rank 0 alone takes back on a resume, so the sum stays right on any rank count."""

    key = "weight_hist"

    def __init__(self, device, world: World = SINGLE):
        self.hist, self.world = WeightHistogram(device, world), world

    def state(self):
        return self.hist.state()

    def load(self, state) -> None:
        if self.world.main:
            self.hist.load(state)

    def after_step(self, run: Run, out: LossOutput) -> None:
        if out.weight_map is not None:
            self.hist.add(out.weight_map, out.pseudo_mask)

    def before_save(self, run: Run, summary: dict) -> None:
        summary["dynamic_weights"] = self.hist.summary()


class TensorBoardHook(Hook):
    def __init__(self, tb_dir, start: int):
        # Imported here: only runs that log pay for it.
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(tb_dir), purge_step=start)

    def after_log(self, run: Run, done: int, scalars: dict) -> None:
        for k, v in scalars.items():
            self.writer.add_scalar(f"train/{k}", v, done)

    def after_epoch(self, run: Run, done: int, out: LossOutput, scalars: dict) -> None:
        weights = out.pseudo_weights
        if weights is not None:  # once per epoch: a device-to-host copy
            self.writer.add_histogram("train/dynamic_weights", weights.float().cpu(), done)
        for k, v in scalars.items():
            self.writer.add_scalar(f"val/{k}", v, done)

    def before_save(self, run: Run, summary: dict) -> None:
        self.writer.close()
