"""Model files: weights with the metadata that rebuilds them, loadable without running code.

A model file is a ``torch.save`` zip of ``{"format", "model": state dict, "meta": {...}}`` plus
plain extras (the training spec and summary). Everything in it is tensors and plain data (dict,
list, tuple, str, int, float, bool, None), so ``torch.load(weights_only=True)`` reads it; a
pickle naming anything else (a ``__reduce__`` payload that would run a command) is refused
before any of it is built. Models are shared between people and machines: this is the only way
this package reads a model, a checkpoint or pretrained weights.

Saving also writes the sidecar ``model.json`` (``dmt.store.integrity``): the model's digest, meta and
extras. Loading checks the digest when the sidecar is there (a model brought from elsewhere has
none), then the metadata against what the run expects (data set, classes, architecture), then
that the weights fit the architecture: each failure is one DMTError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dmt.errors import DMTError
from dmt.store.atomic import torch_save, write_json
from dmt.store.integrity import sidecar_fields, sidecar_path, verify
from dmt.store.torchfile import read_torch_file

FORMAT = "dmt-model/1"
_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj: Any, where: str) -> None:
    """What a model file stores beside its weights must load with weights_only=True."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
            _check_plain(value, f"{where}.{key}")
    elif isinstance(obj, list | tuple):
        for k, value in enumerate(obj):
            _check_plain(value, f"{where}[{k}]")
    elif not isinstance(obj, _PLAIN):
        raise TypeError(f"{where} is a {type(obj).__name__}; model files store only plain data")


def save_model(path, model_state: dict, meta: dict, **extras) -> None:
    """Write the model file ``path`` atomically, then its sidecar JSON (digest, meta, extras).

    ``extras`` are plain data (e.g. ``spec``, ``summary``), stored in both."""
    _check_plain({"meta": meta, **extras}, "model file")
    torch_save({"format": FORMAT, "model": model_state, "meta": meta, **extras}, path)
    write_json(sidecar_path(path), {**sidecar_fields(path), "meta": meta, **extras})


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        return f"a dict with keys {sorted(map(str, obj))[:6]}"
    return f"a {type(obj).__name__}"


def _check_meta(path: Path, meta: dict, expect: dict) -> None:
    from dmt.models import MODELS

    name, classes = meta.get("model"), meta.get("num_classes")
    if name not in MODELS:
        raise DMTError(f"{path} is a model {name!r}, which this dmt does not know "
                       f"(known: {', '.join(sorted(MODELS))})")
    if type(classes) is not int or classes < 1:
        raise DMTError(f"{path} has no valid class count in its metadata (num_classes {classes!r})")
    wrong = {k: v for k, v in expect.items() if v is not None and meta.get(k) != v}
    if wrong:
        raise DMTError(f"{path} does not fit this run: " + ", ".join(
            f"its {k} is {meta.get(k)!r}, the run's {v!r}" for k, v in wrong.items()))


def _check_weights(path: Path, model: torch.nn.Module, state: dict, meta: dict) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(getattr(state[k], 'shape', ()))} not {tuple(expected[k].shape)}"
             for k in expected if k in state
             and (not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape)]
    if missing or unexpected or wrong:
        raise DMTError(f"{path} holds weights that do not fit a {meta['model']} with "
                       f"{meta['num_classes']} classes: {len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} "
                       f"unexpected (e.g. {unexpected[:2]}), {len(wrong)} of another shape "
                       f"(e.g. {wrong[:2]})")


def load_model(path, device="cpu", expect: dict | None = None) -> tuple[torch.nn.Module, dict]:
    """The model stored in ``path`` on ``device``, and its meta.

    ``expect`` (e.g. ``{"dataset": "digits", "num_classes": 11, "model": "small_deeplab"}``) is
    checked against the meta before the model is built; None values are not checked."""
    from dmt.models import rebuild

    path = Path(path)
    if not path.is_file():
        raise DMTError(f"model file {path} does not exist")
    verify(path, required=False)
    saved = read_torch_file(path, "model file", zip_only=True)
    if not (isinstance(saved, dict) and isinstance(saved.get("model"), dict)
            and isinstance(saved.get("meta"), dict)):
        raise DMTError(f"{path} is not a dmt model: it holds {_describe(saved)}, not weights "
                       f"with their metadata")
    meta = saved["meta"]
    _check_meta(path, meta, expect or {})
    try:
        model = rebuild(meta)
    except (ValueError, TypeError) as e:
        raise DMTError(f"{path}: cannot build the model its metadata describes ({e})") from None
    _check_weights(path, model, saved["model"], meta)
    model.load_state_dict(saved["model"])
    return model.to(device), meta


def expected(dataset: str, data=None, **more) -> dict:
    """What a model given to this run must have been trained for (``dmt.models.files.load_model``);
    ``data``: the prepared data set, where its classes are (a folder data set's classes.yaml)."""
    from dmt.data.registry import dataset_info

    return {"dataset": dataset, "num_classes": dataset_info(dataset, data).num_classes, **more}
