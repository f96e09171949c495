"""Pretrained weights from the user's local files, checked tensor by tensor before any is copied.

The modern protocol's models (deeplab_v3.py, smp_heads.py) read their inits here: the file is read
safely (``dmt.store.torchfile.read_torch_file``), unwrapped from the usual ``state_dict`` / ``model``
wrappers, and compared with the part of the model it initialises. A missing file, a missing tensor
or one of another shape is one DMTError naming the file and the config key that points at it
(``WEIGHT_KEYS``), before any weight is copied: a model never starts half-initialised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from dmt.errors import DMTError
from dmt.models.catalog import WEIGHT_KEYS
from dmt.store.torchfile import read_torch_file


def _where(path, kind: str) -> str:
    return f"{kind} weights {path} (config key {WEIGHT_KEYS.get(kind, 'weights')})"


def read_state(path, kind: str, expected: str) -> dict:
    """The tensors of the state dict in ``path`` (a ``state_dict`` / ``model`` wrapper is opened)."""
    path = Path(path)
    if not path.is_file():
        raise DMTError(f"{_where(path, kind)} do not exist; expected {expected}")
    state = read_torch_file(path, f"{kind} weights")
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DMTError(f"{_where(path, kind)} hold no state dict of tensors; expected {expected}")
    return state


def load_part(module: torch.nn.Module, state: dict, path, kind: str, expected: str,
              rename: Callable[[str], str | None] = lambda k: k,
              optional: Callable[[str], bool] = lambda k: False) -> int:
    """Copy ``state`` into ``module`` once every tensor ``module`` has is there with its shape.

    ``rename`` maps a file key to the module's key (None: not for this module, e.g. an ImageNet
    classifier a segmentation model has no use for); ``optional(key)`` marks module keys that may
    keep their init (a head of another class count). Returns the number of tensors loaded."""
    own = module.state_dict()
    mapped = {target: value for key, value in state.items() if (target := rename(key)) is not None}
    missing = [k for k in own if k not in mapped and not optional(k) and not k.endswith("num_batches_tracked")]
    wrong = [f"{k} {tuple(mapped[k].shape)} not {tuple(own[k].shape)}" for k in own
             if k in mapped and mapped[k].shape != own[k].shape and not optional(k)]
    unknown = [k for k in mapped if k not in own]
    if missing or wrong or unknown:
        raise DMTError(f"{_where(path, kind)} do not fit: expected {expected}; {len(missing)} tensors "
                       f"missing (e.g. {', '.join(missing[:2]) or '-'}), {len(wrong)} of another shape "
                       f"(e.g. {', '.join(wrong[:2]) or '-'}), {len(unknown)} unknown "
                       f"(e.g. {', '.join(unknown[:2]) or '-'})")
    keep = {k: v for k, v in mapped.items() if not (optional(k) and v.shape != own[k].shape)}
    module.load_state_dict(keep, strict=False)
    return len(keep)
