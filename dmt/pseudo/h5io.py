"""HDF5 outputs that can wreck neither their writer nor their reader.

Writing goes through a ``LatchedFile`` into an atomic temporary: a full disk ends as one error
instead of an HDF5 crash at close. Once HDF5 has closed the file, the sha256 of everything after
its 512-byte userblock (space HDF5 reserves for its user and never reads) is written into that
userblock: the file is sealed.

Reading checks the seal first, reading the file once in chunks, and only then hands the file to
HDF5, whose parser can loop forever on damaged metadata (a copy of a pseudo-label file with 2 KB
zeroed near its attributes hangs in reading them) or return damaged data without a word.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from dmt.errors import DMTError
from dmt.store.atomic import LatchedFile, atomic_path
from dmt.store.integrity import rerun_hint

USERBLOCK = 512
MAGIC = b"dmt-sealed-hdf5/1 sha256:"


class SealedOutput:
    """The HDF5 file being written (``file``); ``check()`` raises a failed write right away."""

    def __init__(self, file, latched: LatchedFile):
        self.file, self._latched = file, latched

    def check(self) -> None:
        self._latched.raise_error()


def _content_digest(f) -> str:
    f.seek(USERBLOCK)
    return hashlib.file_digest(f, "sha256").hexdigest()


@contextlib.contextmanager
def write_sealed(path: str | os.PathLike, **file_kw) -> Iterator[SealedOutput]:
    """A new HDF5 file at ``path``, appearing (sealed) only if the block succeeds."""
    import h5py

    with atomic_path(path, suffix=".h5") as tmp, LatchedFile(tmp) as latched:
        out = SealedOutput(h5py.File(latched, "w", userblock_size=USERBLOCK, **file_kw), latched)
        try:
            yield out
        finally:
            try:
                out.file.close()
            except Exception:
                latched.raise_error()  # the cause, where a write failed before
                raise
        latched.raise_error()
        digest = _content_digest(latched.raw)
        latched.seek(0)
        latched.write(MAGIC + digest.encode() + b"\n")
        latched.raise_error()


def check_seal(path: str | os.PathLike) -> None:
    """Raise one DMTError unless ``path`` holds exactly the bytes its writer sealed."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(USERBLOCK)
        if not head.startswith(MAGIC):
            raise DMTError(f"{path} is not a sealed dmt HDF5 file (damaged, truncated, or not written "
                           f"by this version of dmt); {rerun_hint(path)}")
        sealed = head[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace")
        if _content_digest(f) != sealed:
            raise DMTError(f"{path} is damaged or truncated: its content does not match the digest "
                           f"its writer sealed into it; {rerun_hint(path)}")


def open_sealed(path: str | os.PathLike, *, checked: bool = False):
    """The HDF5 file at ``path`` for reading, its seal checked first unless ``checked`` (by this
    process already: DataLoader workers reopen a file their parent checked)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DMTError(f"{path} does not exist")
    if not checked:
        check_seal(path)
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DMTError(f"{path} is not a readable HDF5 file ({e}); {rerun_hint(path)}") from e


def string_dtype():
    """The HDF5 type of the id lists: variable-length UTF-8."""
    import h5py

    return h5py.string_dtype("utf-8")
