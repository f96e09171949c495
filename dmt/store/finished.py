"""A finished training job's result, kept beside its outputs so that a rerun of the same job
restores it instead of training again.

Snakemake flags a job's outputs incomplete when Snakemake itself stops before the job is
recorded as done (SIGINT or SIGTERM to the Snakemake process alone, a lost submit host), even
though the job finished and its outputs were written atomically; ``--rerun-incomplete`` then
deletes them and runs the job again, from step 0 (hours per job at VOC size). After training,
``keep`` hard-links the model and its sidecar to ``model.pt.done`` / ``model.json.done`` (no
copy: the same bytes on disk) and records the job's fingerprint (spec, every input by content,
the training code) in ``model.pt.done.json``. ``restore`` links them back when the fingerprint is
the same, and their digest still checks; anything else trains as before. Delete the ``.done``
files to retrain a job from scratch with an unchanged spec.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from dmt.store.atomic import atomic_path, write_json
from dmt.store.integrity import file_digest, sidecar_path

log = logging.getLogger(__name__)


def _kept(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def record_path(out) -> Path:
    return Path(out).with_name(Path(out).name + ".done.json")


def _link(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s bytes atomically: a hard link, a copy where links fail."""
    with atomic_path(target) as tmp:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:  # a file system without hard links (some FUSE, SMB mounts)
            shutil.copy2(source, tmp)


def keep(out, fingerprint) -> None:
    """Keep the finished outputs of the training that wrote ``out`` (and its sidecar)."""
    out = Path(out)
    record_path(out).unlink(missing_ok=True)  # never a record naming files of another run
    for path in (out, sidecar_path(out)):
        _link(path, _kept(path))
    write_json(record_path(out), {"fingerprint": list(fingerprint), "digest": file_digest(out)})


def restore(out, fingerprint) -> bool:
    """Put back the kept outputs of an earlier run of this very job; False if there are none.
    ``fingerprint`` is called only where kept outputs exist (it reads every input); an input
    that cannot be read means training, which names it."""
    out = Path(out)
    record, kept = record_path(out), [_kept(out), _kept(sidecar_path(out))]
    if not record.is_file() or not all(p.is_file() for p in kept):
        return False
    try:
        saved = json.loads(record.read_text())
        current = list(fingerprint())
    except (OSError, ValueError):
        return False
    if saved.get("fingerprint") != current:
        log.info("%s belongs to another spec, input or code; training", record)
        return False
    if file_digest(kept[0]) != saved.get("digest"):
        log.warning("%s no longer matches its record; training", kept[0])
        return False
    _link(kept[1], sidecar_path(out))
    _link(kept[0], out)
    for path in (out, sidecar_path(out)):  # made now, as far as what reads it can tell
        os.utime(path)
    log.info("restored %s from the finished earlier run of this job (same spec, inputs and code); "
             "delete %s to train it again", out, kept[0])
    return True
