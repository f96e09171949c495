"""The training loop shared by baselines, DMT fine-tunings and classification re-trainings
(paper Sections 4.2 and 5.2.2).

A batch mixes ``pseudo_per_batch`` pseudo-labeled samples with ``batch_size - pseudo_per_batch``
labeled ones (7:1 in the paper); an epoch is counted on the pseudo-labeled set when there is one.
SGD with momentum and a poly schedule over the run's steps, as in the original segmentation code;
classification (Algorithm 1) adds a cosine schedule, mixup that mixes the dynamic weights along
with the images, gamma ascending along training, and an EMA of the weights that is what is saved.

Determinism and resumption: every sample's position in the run and its augmentation are a pure
function of (seed, step), independent of DataLoader workers, so a run restarted from a periodic
checkpoint replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from dmt import IGNORE_INDEX
from dmt.errors import DMTError, UnsafeFile
from dmt.models.files import save_model
from dmt.models.inference import autocast
from dmt.store.atomic import torch_save
from dmt.store.torchfile import read_torch_file
from dmt.training.losses import (
    VARIANTS,
    LossOutput,
    WeightHistogram,
    ascending_gamma,
    dynamic_loss,
    mix,
    mixup_loss,
    online_pseudo_labels,
    sample_weights,
)

log = logging.getLogger(__name__)

RUNTIME_FIELDS = {"checkpoint_every", "log_every", "num_workers"}


@dataclass
class TrainSpec:
    epochs: int
    lr: float
    batch_size: int
    seed: int
    crop_size: tuple[int, int] | None = None  # segmentation: the random crop of training
    pseudo_per_batch: int = 0
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    head_lr_mult: float = 1.0
    gamma1: float = 0.0
    gamma2: float = 0.0
    loss_variant: str = "dmt"
    scale_range: tuple[float, float] = (0.5, 1.5)
    checkpoint_every: int = 200
    log_every: int = 10
    num_workers: int = 0
    amp: bool = True
    schedule: str = "poly"  # poly | cosine
    mixup_alpha: float = 0.0  # Beta(a, a) mixup within the batch; 0 = off
    gamma_ramp: bool = False  # gamma * exp(-5 (1 - t/T)^2) instead of constant gamma
    ema_decay: float = 0.0  # > 0: keep an EMA of the weights; it is evaluated and saved
    # > 0: online self-training: the unlabeled part of each batch is labelled by the student's own
    # argmax where its max probability exceeds this, recomputed at every step
    online_threshold: float = 0.0

    def __post_init__(self):
        self.crop_size = tuple(self.crop_size) if self.crop_size is not None else None
        self.scale_range = tuple(self.scale_range)
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.loss_variant not in VARIANTS:
            raise ValueError(f"loss_variant must be one of {VARIANTS}, got {self.loss_variant!r}")
        if not 0 <= self.pseudo_per_batch < self.batch_size:
            raise ValueError(f"pseudo_per_batch {self.pseudo_per_batch} must leave at least one "
                             f"labeled sample in a batch of {self.batch_size}")
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError("epochs must be >= 1 and lr > 0")
        if self.schedule not in ("poly", "cosine"):
            raise ValueError(f"schedule must be 'poly' or 'cosine', got {self.schedule!r}")
        if self.mixup_alpha < 0 or not 0 <= self.ema_decay < 1:
            raise ValueError("mixup_alpha must be >= 0 and ema_decay in [0, 1)")
        if not 0 <= self.online_threshold < 1 or (self.online_threshold and self.mixup_alpha):
            raise ValueError("online_threshold must be in [0, 1) and cannot be combined with mixup")

    def fingerprint(self, *parts: str) -> str:
        """What the result depends on; runtime-only fields may change across a resume."""
        fields = {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
        blob = json.dumps([fields, *parts], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


class SampleStream:
    """An endless stream of (index, augmentation seed) over a data set of ``n`` samples.

    Position p lies in epoch p // n, whose order is a permutation seeded by (seed, epoch); the
    augmentation seed of position p depends only on (seed, p). Batches are consecutive slices.
    """

    def __init__(self, n: int, batch: int, seed: int):
        if n < 1:
            raise DMTError("cannot train on an empty set of images")
        self.n, self.batch, self.seed = n, batch, seed
        self._epoch, self._perm = -1, None

    def _order(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perm

    def batch_at(self, step: int) -> list[tuple[int, int]]:
        out = []
        for p in range(step * self.batch, (step + 1) * self.batch):
            index = int(self._order(p // self.n)[p % self.n])
            out.append((index, int(np.random.default_rng([self.seed, p, 7]).integers(2**62))))
        return out


class _StepSampler:
    def __init__(self, stream: SampleStream, start: int, stop: int):
        self.stream, self.start, self.stop = stream, start, stop

    def __iter__(self):
        return (self.stream.batch_at(s) for s in range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


class _Seeded(Dataset):
    """Applies the sample's own seed around its augmentation, in whatever worker it lands."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        # The CPU generator only (augmentation never draws elsewhere): torch.manual_seed also
        # queues a CUDA seeding with a captured stack trace, ~1 ms per sample on CPU machines.
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            generator.set_state(state)


def _collate(samples: list[dict]) -> dict:
    plain = lambda t: t.as_subclass(torch.Tensor)  # noqa: E731 - drop tv_tensor wrappers
    return {
        "image": torch.stack([plain(s["image"]) for s in samples]),
        "target": torch.stack([plain(s["target"]).long() for s in samples]),
        "conf": torch.stack([plain(s["conf"]).float() for s in samples]),
        "is_pseudo": torch.tensor([bool(s["is_pseudo"]) for s in samples]),
    }


def _loader(dataset, stream: SampleStream, start: int, stop: int, spec: TrainSpec, device) -> DataLoader:
    return DataLoader(_Seeded(dataset), batch_sampler=_StepSampler(stream, start, stop),
                      collate_fn=_collate, num_workers=spec.num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=False)


def _param_groups(model: torch.nn.Module, spec: TrainSpec) -> list[dict]:
    """Backbone and head as two groups; the original gives both the same lr (head_lr_mult 1)."""
    head = list(model.head_parameters()) if hasattr(model, "head_parameters") else []
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    groups = [{"params": backbone, "lr_mult": 1.0}]
    if head:
        groups.append({"params": head, "lr_mult": spec.head_lr_mult})
    return groups


def _optimizer(model, spec: TrainSpec) -> torch.optim.Optimizer:
    groups = _param_groups(model, spec)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    return torch.optim.Adam(groups, lr=spec.lr, weight_decay=spec.weight_decay)


def poly_lr(base_lr: float, step: int, total: int, power: float) -> float:
    return base_lr * (1 - step / total) ** power


def ema_with_warmup(decay: float):
    """EMA update ``d * avg + (1 - d) * new`` with ``d = min(decay, (1 + n) / (10 + n))`` after n
    updates (TensorFlow's ExponentialMovingAverage with num_updates): early on the average follows
    the model instead of carrying its random init for ~1 / (1 - decay) steps. Runs of thousands of
    steps (CIFAR-10) see the plain ``decay`` almost throughout."""
    def update(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        d = torch.clamp((1 + num_averaged) / (10 + num_averaged), max=decay).to(averaged.device)
        return d * averaged + (1 - d) * current
    return update


def cosine_lr(base_lr: float, step: int, total: int) -> float:
    """Cosine annealing to 0 over the run (torch's CosineAnnealingLR, eta_min 0)."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total))


def _mixed_step(model, images, batch, spec: TrainSpec, step: int, gammas, device) -> LossOutput:
    """One mixup step: dynamic weights from a no-grad pass of the student on the un-mixed images
    (as the original), then images and weights mixed with one permutation of the batch."""
    targets, conf, is_pseudo = batch["target"], batch["conf"], batch["is_pseudo"]
    with torch.no_grad(), autocast(device, spec.amp):
        probs = model(images).float().softmax(dim=1)
    weights = sample_weights(probs, targets, conf, is_pseudo, *gammas, spec.loss_variant)
    rng = np.random.default_rng([spec.seed, step, 11])
    lam = float(rng.beta(spec.mixup_alpha, spec.mixup_alpha))
    lam = max(lam, 1 - lam)  # the un-permuted sample dominates: its weight is the one that matters
    perm = torch.from_numpy(rng.permutation(len(targets))).to(device)
    mixed, mixed_weights = mix(images, weights, lam, perm)
    with autocast(device, spec.amp):
        logits = model(mixed)
    loss = mixup_loss(logits, targets, mixed_weights, lam, perm)
    # Per element (image or pixel) of the pseudo-labeled samples, as dynamic_loss reports them.
    pseudo = is_pseudo.to(device).view(-1, *([1] * (targets.dim() - 1))) & (targets != IGNORE_INDEX)
    n_pseudo = pseudo.sum().clamp_min(1)
    mean_weight = torch.where(pseudo, weights, torch.zeros_like(weights)).sum() / n_pseudo
    disagreement = ((probs.argmax(1) != targets) & pseudo).sum() / n_pseudo
    return LossOutput(loss, mean_weight, disagreement, (targets != IGNORE_INDEX).sum(), weights, pseudo)


def train(model: torch.nn.Module, spec: TrainSpec, labeled, out_path, *, pseudo=None,
          checkpoint_path=None, fingerprint_parts: tuple[str, ...] = (), device=None,
          tb_dir=None, on_epoch_end=None, meta: dict | None = None) -> dict:
    """Train ``model`` in place and save it to ``out_path`` (atomically); return a summary.

    ``labeled`` and ``pseudo`` are data sets of augmented samples (dicts with image, target,
    conf, is_pseudo). ``checkpoint_path`` enables periodic checkpoints and resumption; a
    checkpoint made under another spec or other inputs (``fingerprint_parts``) is ignored.
    ``on_epoch_end(epoch, model) -> dict`` may return scalars (e.g. val mIoU) of ``model`` (the
    EMA when there is one) to log. ``meta`` (model name, classes, ...) is stored with the weights
    so that later stages can rebuild the model (``dmt.models.files``), with the spec and the summary
    that ``out_path``'s sidecar JSON also holds.
    """
    device = device or torch.device("cpu")
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    n_pseudo = spec.pseudo_per_batch if pseudo is not None else 0
    n_labeled = spec.batch_size - n_pseudo
    if pseudo is not None and n_pseudo == 0:
        raise ValueError("a pseudo-labeled set was given but pseudo_per_batch is 0")
    # Epoch length is counted on the pseudo-labeled loader when there is one (the original).
    epoch_base = len(pseudo) if pseudo is not None else len(labeled)
    steps_per_epoch = max(1, math.ceil(epoch_base / (n_pseudo or n_labeled)))
    total = spec.epochs * steps_per_epoch

    optimizer = _optimizer(model, spec)
    ema = None
    if spec.ema_decay:
        ema = AveragedModel(model, avg_fn=ema_with_warmup(spec.ema_decay), use_buffers=True)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and spec.amp
                                  and not torch.cuda.is_bf16_supported())
    fingerprint = spec.fingerprint(*fingerprint_parts)
    start, history = 0, []
    weight_hist = WeightHistogram(device) if pseudo is not None else None
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
    if checkpoint_path and checkpoint_path.exists():
        try:
            ckpt = read_torch_file(checkpoint_path, "checkpoint")
        except UnsafeFile:
            raise  # never executed, never silently skipped: someone put it there
        except DMTError as e:  # a torn file from a kill is impossible (atomic), but be safe
            log.warning("ignoring unreadable checkpoint (%s)", e)
            ckpt = None
        if not isinstance(ckpt, dict):
            ckpt = None
        if ckpt and ckpt.get("fingerprint") == fingerprint:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
            start, history = ckpt["step"], ckpt["history"]
            if weight_hist is not None:
                weight_hist.load(ckpt["weight_hist"])
            log.info("resuming from %s at step %d of %d", checkpoint_path, start, total)
        elif ckpt:
            log.warning("checkpoint %s belongs to another configuration; starting over", checkpoint_path)

    tb = None
    if tb_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(tb_dir), purge_step=start)

    lab_stream = SampleStream(len(labeled), n_labeled, spec.seed)
    lab_iter = iter(_loader(labeled, lab_stream, start, total, spec, device))
    pse_iter = None
    if pseudo is not None:
        pse_stream = SampleStream(len(pseudo), n_pseudo, spec.seed + 1)
        pse_iter = iter(_loader(pseudo, pse_stream, start, total, spec, device))

    def save_checkpoint(step: int) -> None:
        if checkpoint_path:
            torch_save({"fingerprint": fingerprint, "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                        "ema": ema.state_dict() if ema is not None else None,
                        "step": step, "history": history,
                        "weight_hist": weight_hist.state() if weight_hist is not None else None},
                       checkpoint_path)

    model.train()
    # Running sums stay on the device: reading them syncs host and GPU, done once per interval.
    running, n_running = None, 0
    t0 = time.time()
    bar = tqdm(range(start, total), desc="train", unit="step", initial=start, total=total, mininterval=5)
    for step in bar:
        lr = cosine_lr(spec.lr, step, total) if spec.schedule == "cosine" else \
            poly_lr(spec.lr, step, total, spec.poly_power)
        ramp = ascending_gamma(1.0, step, total) if spec.gamma_ramp else 1.0
        gammas = (spec.gamma1 * ramp, spec.gamma2 * ramp)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
        # Each part goes to the device from its own pinned batch; concatenated there.
        parts = [next(lab_iter)] + ([next(pse_iter)] if pse_iter is not None else [])
        batch = {k: torch.cat([p[k].to(device, non_blocking=True) for p in parts])
                 for k in ("image", "target", "conf")}
        # The second part is the unlabeled one, whatever its samples say (online: plain images).
        batch["is_pseudo"] = torch.cat([torch.full((len(p["target"]),), k == 1) for k, p in enumerate(parts)])
        images = batch["image"]
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        if spec.mixup_alpha:
            out = _mixed_step(model, images, batch, spec, step, gammas, device)
        else:
            with autocast(device, spec.amp):
                logits = model(images)
            targets = batch["target"]
            if spec.online_threshold:
                targets = online_pseudo_labels(logits, targets, batch["is_pseudo"], spec.online_threshold)
            out = dynamic_loss(logits, targets, batch["conf"], batch["is_pseudo"], *gammas,
                               spec.loss_variant)
        if weight_hist is not None and out.weight_map is not None:
            weight_hist.add(out.weight_map, out.pseudo_mask)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if ema is not None:
            ema.update_parameters(model)

        stats = torch.stack([out.loss.detach().float(), out.mean_weight.float(), out.disagreement.float()])
        running = stats if running is None else running + stats
        n_running += 1
        done = step + 1
        epoch_end = done % steps_per_epoch == 0
        checkpoint_due = done % spec.checkpoint_every == 0 and done < total
        if done % spec.log_every == 0 or done == total or checkpoint_due or epoch_end:
            loss, weight, disagree = (running / n_running).tolist()
            if not math.isfinite(loss):
                # Checked before any checkpoint is written, so the last one holds finite weights.
                raise DMTError(f"loss became {loss} between steps {done - n_running} and {done} "
                               f"(lr {lr:.3g}); last good checkpoint: "
                               f"{checkpoint_path if checkpoint_path and checkpoint_path.exists() else 'none'}")
            scalars = {"loss": loss, "lr": lr}
            if spec.gamma_ramp:
                scalars["gamma1"] = gammas[0]
            if pse_iter is not None:
                scalars["mean_dynamic_weight"] = weight
                scalars["disagreement_rate"] = disagree
            if tb:
                for k, v in scalars.items():
                    tb.add_scalar(f"train/{k}", v, done)
            bar.set_postfix(loss=f"{loss:.4f}")
            running, n_running = None, 0
        if epoch_end:
            epoch = done // steps_per_epoch
            if tb and out.pseudo_weights is not None:  # once per epoch: a device-to-host copy
                tb.add_histogram("train/dynamic_weights", out.pseudo_weights.float().cpu(), done)
            if on_epoch_end is not None:
                scalars = on_epoch_end(epoch, ema.module if ema is not None else model) or {}
                model.train()
                history.append({"epoch": epoch, "step": done, **scalars})
                if tb:
                    for k, v in scalars.items():
                        tb.add_scalar(f"val/{k}", v, done)
                log.info("epoch %d/%d: %s", epoch, spec.epochs, scalars)
        if checkpoint_due:
            save_checkpoint(done)
    if tb:
        tb.close()

    summary = {"steps": total, "steps_per_epoch": steps_per_epoch, "labeled_per_batch": n_labeled,
               "pseudo_per_batch": n_pseudo, "seconds": time.time() - t0, "resumed_at": start,
               "history": history}
    if weight_hist is not None:  # what the report's dynamic-weight histograms show
        summary["dynamic_weights"] = weight_hist.summary()
    final = ema.module if ema is not None else model  # the EMA is what is tested and labels next
    save_model(out_path, final.state_dict(), meta or {}, spec=asdict(spec), summary=summary)
    if checkpoint_path and checkpoint_path.exists():
        checkpoint_path.unlink()
    return summary
