"""Where a run's samples come from: every sample's position and augmentation seed are a pure
function of (seed, step), independent of DataLoader workers, so a run restarted from a periodic
checkpoint replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dmt.errors import DMTError
from dmt.training.distributed import SINGLE, World


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
    """The keys of steps ``start`` to ``stop``: this rank's slice of each global batch."""

    def __init__(self, stream: SampleStream, start: int, stop: int, world: World = SINGLE):
        self.stream, self.start, self.stop, self.world = stream, start, stop, world

    def __iter__(self):
        return (self.world.shard(self.stream.batch_at(s)) for s in range(self.start, self.stop))

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


def _loader(dataset, stream: SampleStream, start: int, stop: int, num_workers: int, device,
            world: World) -> DataLoader:
    return DataLoader(_Seeded(dataset), batch_sampler=_StepSampler(stream, start, stop, world),
                      collate_fn=_collate, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=False)


def mixed_batches(labeled, pseudo, n_labeled: int, n_pseudo: int, seed: int, start: int, stop: int,
                  num_workers: int, device, world: World = SINGLE):
    """The batches of steps ``start`` to ``stop``: ``n_labeled`` labeled samples then, with a
    ``pseudo`` set, ``n_pseudo`` of its samples, on ``device``; ``is_pseudo`` marks the second
    part, whatever its samples say (online self-training: plain unlabeled images). Under several
    ranks, this rank's slice of each part of the global batch (none where its slice is empty)."""
    # Made here, not at the first batch: each DataLoader iterator draws its base seed from
    # torch's generator, and workers start prefetching at once.
    sets = [(labeled, n_labeled, seed, False)]
    if pseudo is not None:
        sets.append((pseudo, n_pseudo, seed + 1, True))
    parts = [(iter(_loader(data, SampleStream(len(data), n, part_seed), start, stop, num_workers, device,
                           world)), is_pseudo)
             for data, n, part_seed, is_pseudo in sets if world.shard(list(range(n)))]
    return _joined(parts, stop - start, device)


def _joined(parts: list, steps: int, device):
    for _ in range(steps):
        # Each part goes to the device from its own pinned batch; concatenated there.
        got = [(next(part), is_pseudo) for part, is_pseudo in parts]
        batch = {k: torch.cat([p[k].to(device, non_blocking=True) for p, _ in got])
                 for k in ("image", "target", "conf")}
        batch["is_pseudo"] = torch.cat([torch.full((len(p["target"]),), flag) for p, flag in got])
        if device.type == "cuda":
            batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        yield batch
