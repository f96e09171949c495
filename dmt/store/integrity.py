"""File digests, and the sidecar JSON that records an output's digest for its consumers.

An output ``X.ext`` made by a job comes with ``X.json`` (``pseudo_B.h5`` -> ``pseudo_B.json``,
``model.pt`` -> ``model.json``) holding at least ``file`` and ``digest``. A consumer checks the
file against that digest before it opens it: a file changed, damaged or swapped after its job
ended is refused with one line saying which job to rerun, instead of being parsed (a damaged
HDF5 file can hang its reader) or silently used. The check reads the file once, in chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dmt.errors import DMTError

# (device, inode, size, mtime) -> digest: a job verifies a file and then records its digest
# (fingerprints, teacher_digest) without reading it twice.
_DIGESTS: dict[tuple[int, int, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of the file's bytes, read in chunks (bounded memory)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with open(path, "rb") as f:
            _DIGESTS[key] = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    return _DIGESTS[key]


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def rerun_hint(path: str | os.PathLike) -> str:
    return f"rerun the job that makes it: snakemake --forcerun {path}"


def sidecar_fields(path: str | os.PathLike) -> dict:
    """What a sidecar records about the file as it is now: to merge into the sidecar JSON."""
    return {"file": Path(path).name, "digest": file_digest(path)}


def verify(path: str | os.PathLike, *, required: bool) -> str:
    """Check ``path`` against the digest in its sidecar JSON before anything opens it and return
    its digest; without a sidecar (a file brought from elsewhere) that is an error if
    ``required``, else the digest is only computed. Raises one DMTError naming the file and the
    job to rerun."""
    path = Path(path)
    side = sidecar_path(path)
    if not path.is_file():
        raise DMTError(f"{path} does not exist")
    if not side.is_file():
        if required:
            raise DMTError(f"{path} has no {side.name} beside it recording its digest, so it cannot "
                           f"be checked; {rerun_hint(path)}")
        return file_digest(path)
    try:
        recorded = json.loads(side.read_text())
        expected = recorded["digest"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise DMTError(f"{side} (the digest of {path.name}) is unreadable ({type(e).__name__}: {e}); "
                       f"{rerun_hint(path)}") from None
    if recorded.get("file", path.name) != path.name:
        raise DMTError(f"{side} describes {recorded['file']}, not {path.name}; {rerun_hint(path)}")
    actual = file_digest(path)
    if actual != expected:
        raise DMTError(f"{path} does not match the digest its job recorded in {side.name} (damaged "
                       f"or replaced since); {rerun_hint(path)}")
    return actual
