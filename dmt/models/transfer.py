"""Inits from a model file this pipeline trained (the pretrain stage): ``model:FILE`` takes all of
a model of the same architecture and classes, ``backbone:FILE`` its backbone only. The source is
read as every model file is (digest checked against its sidecar, safe unpickling), and the
student records the source's digest in its meta, so what it started from is known exactly."""

from __future__ import annotations

import torch

from dmt.errors import DMTError


def source_meta(path: str) -> dict:
    """The source's meta and digest as the student records them: ``init`` is the source's input
    convention (the student takes its normalisation and layout), ``transfer`` says what was taken."""
    import json

    from dmt.store.integrity import sidecar_path, verify

    try:
        digest = verify(path, required=True)
        meta = json.loads(sidecar_path(path).read_text())["meta"]
    except (DMTError, OSError, ValueError, KeyError) as e:
        raise ValueError(f"pre-trained model {path}: {e}") from None
    return {"init": meta.get("init", "scratch"), "source_model": meta["model"], "digest": digest}


def load_source(path: str) -> tuple[torch.nn.Module, dict]:
    from dmt.models.files import load_model

    try:
        return load_model(path, "cpu")
    except DMTError as e:
        raise ValueError(f"pre-trained model: {e}") from None


def transfer_weights(student: torch.nn.Module, source: torch.nn.Module, kind: str, path: str) -> None:
    """``source``'s weights into ``student``: all of them (``model``) or its backbone's."""
    from dmt.models.normalization import input_normalization

    if input_normalization(student) != input_normalization(source):
        raise ValueError(f"pre-trained model {path} normalises its input otherwise than the model it "
                         f"would initialise ({input_normalization(source)} vs {input_normalization(student)})")
    if kind == "model":
        target, weights, what = student, source.state_dict(), "model"
    else:
        if not (hasattr(student, "backbone") and hasattr(source, "backbone")):
            raise ValueError(f"backbone:{path}: the pre-trained model or the one it would initialise "
                             f"has no backbone")
        target, weights, what = student.backbone, source.backbone.state_dict(), "backbone"
    expected = target.state_dict()
    if weights.keys() != expected.keys() or any(weights[k].shape != expected[k].shape for k in expected):
        hint = " (a model of other classes or architecture: take its backbone: backbone:FILE)" \
            if kind == "model" else ""
        raise ValueError(f"the {what} in {path} does not fit the model it would initialise{hint}")
    target.load_state_dict(weights)
