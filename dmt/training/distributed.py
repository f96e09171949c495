"""One training job on several processes (``torchrun``: GPUs, nodes, or gloo ranks on a CPU),
exact to the one-process run by construction:

* every rank draws the same global batch from ``SampleStream`` and keeps its slice
  (``shard``), so each sample's position and augmentation seed are those of one process;
* the loss keeps its whole-batch denominator (``global_loss``), scaled so that DDP's gradient
  average is the one-process gradient;
* BatchNorm takes its statistics over the whole batch (``sync_batchnorm``);
* counts (the dynamic-weight histogram, valtiny's confusion matrix) are summed over ranks.

A one-process run (no ``WORLD_SIZE`` above 1 in the environment) goes through none of this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from dmt.errors import DMTError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 alone writes: checkpoints, the model, its sidecar, TensorBoard."""
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's slice of a global batch (strided: every rank gets a near-equal share)."""
        return items[self.rank::self.size]


SINGLE = World()


def world_from_env() -> World:
    """The world ``torchrun`` describes in the environment; one process without it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join(world: World, device: torch.device) -> None:
    """The process group of ``world``: NCCL between GPUs, gloo on the CPU."""
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def leave(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """``tensor`` summed over ranks (in place); itself in a one-process run."""
    if world.size > 1:
        dist.all_reduce(tensor)
    return tensor


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def check_batch(world: World, batch_size: int, mixup: bool) -> None:
    if world.size > 1 and batch_size < world.size:
        raise DMTError(f"batch_size {batch_size} is smaller than the {world.size} ranks: every rank "
                       "needs at least one sample of the global batch; use fewer ranks")
    if world.size > 1 and mixup:
        raise DMTError("mixup mixes images across the whole batch, which no rank holds; train "
                       "classification with mixup on one process (resources.train.ranks / gpu: 1)")


def global_loss(loss: torch.Tensor, local_elements: torch.Tensor, world: World) -> torch.Tensor:
    """The rank's share of the whole-batch loss ``sum(w * CE) / (non-ignored elements of the
    global batch)``, times the rank count: DDP averages gradients over ranks, so their mean is
    then the one-process gradient. ``loss`` is the rank's ``sum / max(local_elements, 1)``."""
    if world.size == 1:
        return loss
    local = local_elements.detach().clamp_min(1).to(torch.float64)
    total = all_sum(local_elements.detach().to(torch.float64).clone(), world).clamp_min(1)
    return loss * (local * world.size / total).to(loss.dtype)


class _GlobalBatchNorm:
    """Mixed into a model's BatchNorm classes (``sync_batchnorm``): in training mode with several
    ranks, mean and variance over the global batch, two differentiable all-reduces (the second
    of centred squares: no cancellation), running statistics updated as BatchNorm does. Its
    state (keys, buffers) is BatchNorm's: checkpoints and model files are unchanged. torch's
    SyncBatchNorm refuses CPU tensors; this one runs on gloo too."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device)
        dist.all_reduce(count)
        n = float(count.item())
        mean = all_reduce(x.float().sum(dims)) / n
        centred = x.float() - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims)) / n
        if self.track_running_stats:
            self._track(mean.detach(), var.detach() * n / max(n - 1, 1))
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
        self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype), alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased_var.to(self.running_var.dtype), alpha=momentum)


_SYNCED: dict[type, type] = {}


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm of ``model`` takes whole-batch statistics under several ranks (in place:
    each module's class becomes a subclass of its own, so parameters, buffers and state-dict
    keys stay what they were)."""
    for module in model.modules():
        cls = type(module)
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not issubclass(cls, _GlobalBatchNorm):
            if cls not in _SYNCED:
                _SYNCED[cls] = type(f"Global{cls.__name__}", (_GlobalBatchNorm, cls), {})
            module.__class__ = _SYNCED[cls]
    return model


def data_parallel(model: nn.Module, world: World, device: torch.device, per_rank_bn: bool) -> nn.Module:
    """What the steps call: ``model`` itself on one process, else wrapped in DDP (gradients
    averaged over ranks), its BatchNorms global unless ``per_rank_bn`` (each rank normalises by
    its own slice, as the authors' Accelerate runs did: results then depend on the rank count)."""
    if world.size == 1:
        return model
    if not per_rank_bn:
        sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def rank_device(name: str, world: World) -> str:
    """The ``--device`` of one rank: under several ranks on CUDA, the launcher has claimed this
    node's GPUs and made them the visible ones (``dmt.training.launch``): rank r takes cuda:r."""
    if world.size > 1 and name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{world.local_rank}"
    return name
