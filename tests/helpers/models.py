"""What the model, model-file and training tests share: a toy segmentation set for the training
loop, and a model file that runs code when unpickled."""

import torch
from torchvision import tv_tensors

from dmt.models import build_model


class Toy(torch.utils.data.Dataset):
    """16x16 images whose left half is class 1; augmentation noise drawn from torch's RNG, so a
    resumed run only matches if every sample gets the same random numbers as before."""

    def __init__(self, n, pseudo=False, fail_at=None):
        self.n, self.pseudo, self.fail_at, self.calls = n, pseudo, fail_at, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt("killed")
        image = torch.full((3, 16, 16), 40.0 * (i % 5))
        image[:, :, :8] += 100
        image += torch.rand(3, 16, 16) * 30
        target = torch.zeros(16, 16, dtype=torch.int64)
        target[:, :8] = 1
        return {"image": tv_tensors.Image(image.to(torch.uint8)), "target": tv_tensors.Mask(target),
                "conf": tv_tensors.Mask(torch.full((16, 16), 0.9)), "is_pseudo": self.pseudo}


class Payload:
    """What a hostile model file carries: unpickling it calls exec, which writes a marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def crafted(path, marker):
    """A model file shaped like ours whose meta runs code when unpickled."""
    model = build_model("small_deeplab", 11, seed=0)
    torch.save({"model": model.state_dict(), "meta": Payload(marker)}, path)
    return path


# What a training on 2 ranks may differ from one process by, after the tiny run's few hundred SGD
# steps in float32 (tests/workflow/test_ranks.py, test_slurm.py).
WEIGHT_ATOL = 1e-4


def max_weight_diff(a, b) -> float:
    """The largest absolute difference between two model files' weights."""
    wa, wb = (torch.load(p, weights_only=True)["model"] for p in (a, b))
    return max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)
