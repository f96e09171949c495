"""Prepared data folders: built beside their final place and renamed once complete, with a
marker recording the parameters they were made from."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dmt.errors import DMTError

MARKER = ".complete.json"


def existing(out_root: Path, params: dict, what: str) -> dict | None:
    """The summary of a complete folder made from ``params``; None if there is none yet."""
    marker = out_root / MARKER
    if marker.is_file():
        summary = json.loads(marker.read_text())
        if summary["params"] != params:
            raise DMTError(f"{out_root} holds {what} prepared with {summary['params']}, not {params}; "
                           f"remove it to prepare again")
        return summary
    if out_root.exists():
        raise DMTError(f"{out_root} exists but is not a complete {what} folder; remove it first")
    return None


@contextlib.contextmanager
def building(out_root: Path, subdirs: tuple[str, ...] = ("JPEGImages", "SegmentationClass",
                                                         "ImageSets/Segmentation")) -> Iterator[Path]:
    """A temporary folder next to ``out_root`` holding ``subdirs``, renamed onto it if the block
    succeeds; the block must call ``finish`` on it."""
    out_root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_root.name}.", suffix=".tmp", dir=out_root.parent))
    try:
        for sub in subdirs:
            (tmp / sub).mkdir(parents=True)
        yield tmp
        if not (tmp / MARKER).is_file():
            raise RuntimeError("prepared folder built without its marker")
        tmp.rename(out_root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def finish(tmp: Path, summary: dict) -> None:
    (tmp / MARKER).write_text(json.dumps(summary))
