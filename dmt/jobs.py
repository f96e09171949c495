"""Job specs: the complete description of one training or pseudo-labelling job.

The workflow writes each job's spec to a file (``results/{run}/iter{i}/{m}/spec.json``,
``results/{run}/iter{i}/pseudo_{t}.spec.json``) from ``dmt.plan``; the CLI reads it back
(``python -m dmt train --spec FILE``). A spec names every input file the job reads and every value
its result depends on, so its digest together with the digests of those files identifies the
result: a checkpoint made under anything else is never resumed. Runtime knobs (threads, device,
DataLoader workers, checkpoint interval, logging cadence) are command-line flags, not spec fields.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from dmt.errors import DMTError


def _weights_file(weights: str) -> list[str]:
    """The local file a ``KIND:/path`` init reads ('scratch' reads none)."""
    kind, _, path = weights.partition(":")
    return [path] if path else []


@dataclass(frozen=True)
class TrainJob:
    """A baseline, a DMT fine-tune / re-training, or the oracle.

    ``init`` is ``{"from": model file}`` to continue from a trained model, or
    ``{"model": name, "seed": int, "weights": "scratch" | "KIND:/path"}`` for a fresh one.
    ``hyper`` holds ``dmt.training.loop.TrainSpec``'s result-relevant fields. Unlabeled images take part
    as offline pseudo labels (``pseudo``, whose ids must equal ``unlabeled``) or, with
    ``hyper["online_threshold"]``, labelled by the student itself at every step (``unlabeled``).
    """

    dataset: str
    data: str
    labeled: list[str]
    hyper: dict
    init: dict
    valtiny: str | None = None
    pseudo: str | None = None
    unlabeled: str | None = None
    kind: str = field(default="train", init=False)

    def __post_init__(self):
        if not self.labeled:
            raise DMTError("a training spec needs at least one labeled id list")
        if ("from" in self.init) == ("model" in self.init):
            raise DMTError(f"a training spec's init is either {{'from': model file}} or "
                           f"{{'model': name, 'seed': ..., 'weights': ...}}, not {self.init}")
        if (self.pseudo or self.hyper.get("online_threshold")) and not self.unlabeled:
            raise DMTError("a training spec with pseudo labels needs the unlabeled id list")

    def inputs(self) -> list[str]:
        """Every file the job reads (its rule's inputs, and what its checkpoint fingerprints)."""
        files = [self.data, *self.labeled]
        files += [f for f in (self.valtiny, self.pseudo, self.unlabeled, self.init.get("from")) if f]
        return files + _weights_file(self.init.get("weights", "scratch"))


@dataclass(frozen=True)
class PseudoJob:
    """Teacher ``teacher`` labels the ``unlabeled`` images at ratio ``alpha``.

    Segmentation keeps the class-wise top-alpha pixels; classification the top-alpha images, of
    all (``classwise`` false, Algorithm 1) or of each predicted class. ``pad_to``: inputs are
    zero-padded to at least the training crop (segmentation). ``with_truth`` reads the unlabeled
    set's ground truth, where it has any, for the precision of the kept labels (never for training).
    ``window`` / ``stride``: sliding-window inference ([h, w] each; segmentation), None: the whole
    image; left out of the spec file when None, so the specs of whole-image runs stay as they were.
    """

    dataset: str
    data: str
    teacher: str
    unlabeled: str
    alpha: float
    batch_size: int
    pad_to: list[int] = field(default_factory=lambda: [0, 0])
    classwise: bool = False
    amp: bool = True
    with_truth: bool = True
    window: list[int] | None = None
    stride: list[int] | None = None
    kind: str = field(default="pseudo", init=False)

    def inputs(self) -> list[str]:
        return [self.data, self.teacher, self.unlabeled]


KINDS = {"train": TrainJob, "pseudo": PseudoJob}
# Fields written only where set: a spec file is an input of its job, so a new field must not
# change the specs (and rerun the jobs) of runs that do not use it.
OMIT_IF_NONE = {"window", "stride"}


def to_json(job) -> str:
    data = {k: v for k, v in asdict(job).items() if not (k in OMIT_IF_NONE and v is None)}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_job(path, kind: str):
    """The spec in ``path``, checked to be a ``kind`` spec with exactly its fields."""
    cls = KINDS[kind]
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DMTError(f"spec file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DMTError(f"spec file {path} is not readable JSON ({e})") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        found = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise DMTError(f"{path} is not a {kind} spec (kind: {found!r})")
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known - {"kind"})
    missing = sorted(f.name for f in fields(cls) if f.init and f.name not in data
                     and f.default is MISSING and f.default_factory is MISSING)
    if unknown or missing:
        raise DMTError(f"spec {path}: " + "; ".join(
            part for part in (f"unknown keys {unknown}" if unknown else "",
                              f"missing keys {missing}" if missing else "") if part))
    data.pop("kind")
    return cls(**data)
