"""The training loop shared by baselines, DMT fine-tunings and classification re-trainings
(paper Sections 4.2 and 5.2.2).

A batch mixes ``pseudo_per_batch`` pseudo-labeled samples with ``batch_size - pseudo_per_batch``
labeled ones (7:1 in the paper); an epoch is counted on the pseudo-labeled set when there is one.
SGD with momentum and a poly schedule over the run's steps, as in the original segmentation code;
classification (Algorithm 1) adds a cosine schedule, mixup that mixes the dynamic weights along
with the images, gamma ascending along training, and an EMA of the weights that is what is saved.

The parts live beside this module: the spec (``spec``), the batches (``batches``: determinism and
resumption), what a step computes (``steps``), the schedules (``schedules``), the optimizer
(``optim``), and the EMA, histogram, TensorBoard (``hooks``) and checkpoint (``checkpoint``)
hooks.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, replace

import torch
from tqdm import tqdm

from dmt.errors import DMTError
from dmt.models.files import save_model
from dmt.training.batches import SampleStream, _collate, mixed_batches
from dmt.training.checkpoint import CheckpointHook
from dmt.training.distributed import SINGLE, World, all_sum, check_batch, data_parallel, global_loss
from dmt.training.hooks import (
    EMAHook,
    Run,
    TensorBoardHook,
    WeightHistogramHook,
    ema_with_warmup,
)
from dmt.training.optim import make_optimizer, make_scaler, optimize, set_lr
from dmt.training.schedules import SCHEDULES, cosine_lr, gammas, poly_lr
from dmt.training.spec import RUNTIME_FIELDS, TrainSpec
from dmt.training.steps import STEPS, StepContext, choose_step

# The names other modules, benchmarks and tests import from here.
__all__ = ["RUNTIME_FIELDS", "SampleStream", "TrainSpec", "_collate", "cosine_lr", "ema_with_warmup",
           "poly_lr", "train"]

log = logging.getLogger(__name__)


def _batch_sizes(spec: TrainSpec, labeled, pseudo) -> tuple[int, int, int]:
    """(labeled per batch, pseudo per batch, steps per epoch)."""
    n_pseudo = spec.pseudo_per_batch if pseudo is not None else 0
    if pseudo is not None and n_pseudo == 0:
        raise ValueError("a pseudo-labeled set was given but pseudo_per_batch is 0")
    n_labeled = spec.batch_size - n_pseudo
    # Epoch length is counted on the pseudo-labeled loader when there is one (the original).
    epoch_base = len(pseudo) if pseudo is not None else len(labeled)
    return n_labeled, n_pseudo, max(1, math.ceil(epoch_base / (n_pseudo or n_labeled)))


def _setup(model, spec: TrainSpec, steps_per_epoch: int, with_pseudo: bool, checkpoint: CheckpointHook,
           tb_dir, device, world: World, per_rank_bn: bool) -> Run:
    """The run, its hooks (in the order they are called) and its state restored from a checkpoint.
    Under several ranks the steps call the model through DDP (``run.trainee``)."""
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    run = Run(model, spec, make_optimizer(model, spec), make_scaler(spec, device),
              spec.epochs * steps_per_epoch, steps_per_epoch)
    if spec.ema_decay:
        run.hooks.append(EMAHook(run, spec.ema_decay))
    if with_pseudo:
        run.hooks.append(WeightHistogramHook(device, world))
    checkpoint.resume(run)
    if tb_dir is not None and world.main:
        run.hooks.append(TensorBoardHook(tb_dir, run.start))
    run.hooks.append(checkpoint)  # last: a checkpoint holds what the other hooks did at its step
    run.trainee = data_parallel(run.model, world, device, per_rank_bn)
    return run


class _Meter:
    """Means of the training scalars over a logging interval. The sums stay on the device:
    reading them syncs host and GPU, done once per interval."""

    def __init__(self, world: World):
        self.sums, self.n, self.world = None, 0, world

    def add(self, out) -> None:
        stats = torch.stack([out.loss.detach().float(), out.mean_weight.float(), out.disagreement.float()])
        self.sums = stats if self.sums is None else self.sums + stats
        self.n += 1

    def read(self, done: int, lr: float, checkpoint: CheckpointHook) -> list[float]:
        if self.world.size > 1:  # each rank's loss is its share times the rank count: the mean
            self.sums = all_sum(self.sums, self.world) / self.world.size
        means, n = (self.sums / self.n).tolist(), self.n
        self.sums, self.n = None, 0
        if not math.isfinite(means[0]):
            # Checked before any checkpoint is written, so the last one holds finite weights.
            raise DMTError(f"loss became {means[0]} between steps {done - n} and {done} "
                           f"(lr {lr:.3g}); last good checkpoint: {checkpoint.last_good()}")
        return means


def _scalars(means: list[float], lr: float, gamma: tuple[float, float], spec: TrainSpec,
             with_pseudo: bool) -> dict:
    loss, weight, disagree = means
    scalars = {"loss": loss, "lr": lr}
    if spec.gamma_ramp:
        scalars["gamma1"] = gamma[0]
    if with_pseudo:
        scalars["mean_dynamic_weight"] = weight
        scalars["disagreement_rate"] = disagree
    return scalars


def _end_epoch(run: Run, done: int, out, on_epoch_end) -> None:
    epoch, scalars = done // run.steps_per_epoch, {}
    if on_epoch_end is not None:
        scalars = on_epoch_end(epoch, run.eval_model) or {}
        run.model.train()
        run.history.append({"epoch": epoch, "step": done, **scalars})
    for hook in run.hooks:
        hook.after_epoch(run, done, out, scalars)
    if on_epoch_end is not None:
        log.info("epoch %d/%d: %s", epoch, run.spec.epochs, scalars)


def train(model: torch.nn.Module, spec: TrainSpec, labeled, out_path, *, pseudo=None,
          checkpoint_path=None, fingerprint_parts: tuple[str, ...] = (), device=None,
          tb_dir=None, on_epoch_end=None, meta: dict | None = None, world: World = SINGLE,
          per_rank_bn: bool = False) -> dict:
    """Train ``model`` in place and save it to ``out_path`` (atomically); return a summary.

    ``labeled`` and ``pseudo`` are data sets of augmented samples (dicts with image, target,
    conf, is_pseudo). ``checkpoint_path`` enables periodic checkpoints and resumption; a
    checkpoint made under another spec or other inputs (``fingerprint_parts``) is ignored.
    ``on_epoch_end(epoch, model) -> dict`` may return scalars (e.g. val mIoU) of ``model`` (the
    EMA when there is one) to log. ``meta`` (model name, classes, ...) is stored with the weights
    so that later stages can rebuild the model (``dmt.models.files``), with the spec and the summary
    that ``out_path``'s sidecar JSON also holds.

    ``world``: this process's rank among those of one job (``dmt.training.distributed``); each
    takes its slice of every global batch and rank 0 alone writes files. ``per_rank_bn``: each
    rank's BatchNorm normalises by its own slice (not the one-process result).
    """
    device = device or torch.device("cpu")
    with_pseudo = pseudo is not None
    n_labeled, n_pseudo, steps_per_epoch = _batch_sizes(spec, labeled, pseudo)
    check_batch(world, spec.batch_size, bool(spec.mixup_alpha))
    checkpoint = CheckpointHook(checkpoint_path, spec.fingerprint(*fingerprint_parts), world)
    run = _setup(model, spec, steps_per_epoch, with_pseudo, checkpoint, tb_dir, device, world, per_rank_bn)
    batches = mixed_batches(labeled, pseudo, n_labeled, n_pseudo, spec.seed, run.start, run.total,
                            spec.num_workers, device, world)
    step_fn, schedule = STEPS[choose_step(spec, with_pseudo)], SCHEDULES[spec.schedule]

    run.model.train()
    meter, t0 = _Meter(world), time.time()
    bar = tqdm(range(run.start, run.total), desc="train", unit="step", initial=run.start, total=run.total,
               mininterval=5, disable=not world.main)
    for step in bar:
        lr, gamma = schedule(spec, step, run.total), gammas(spec, step, run.total)
        set_lr(run.optimizer, lr)
        out = step_fn(run.trainee, next(batches), StepContext(spec, step, gamma, device))
        if world.size > 1:
            out = replace(out, loss=global_loss(out.loss, out.valid_elements, world))
        optimize(run.optimizer, run.scaler, out.loss)
        for hook in run.hooks:
            hook.after_step(run, out)
        meter.add(out)
        done = step + 1
        epoch_end = done % steps_per_epoch == 0
        if done % spec.log_every == 0 or done == run.total or checkpoint.due(run, done) or epoch_end:
            scalars = _scalars(meter.read(done, lr, checkpoint), lr, gamma, spec, with_pseudo)
            for hook in run.hooks:
                hook.after_log(run, done, scalars)
            bar.set_postfix(loss=f"{scalars['loss']:.4f}")
        if epoch_end:
            _end_epoch(run, done, out, on_epoch_end)
        for hook in run.hooks:
            hook.end_of_step(run, done)

    summary = {"steps": run.total, "steps_per_epoch": steps_per_epoch, "labeled_per_batch": n_labeled,
               "pseudo_per_batch": n_pseudo, "seconds": time.time() - t0, "resumed_at": run.start,
               "history": run.history}
    if world.size > 1:
        summary["ranks"] = world.size
    for hook in run.hooks:  # the histogram's summary is what the report's histograms show
        hook.before_save(run, summary)
    if world.main:
        save_model(out_path, run.eval_model.state_dict(), meta or {}, spec=asdict(spec), summary=summary)
    for hook in run.hooks:
        hook.after_save(run)
    return summary
