"""Atomic file outputs: a killed job must never leave a half-written file that looks complete.

Everything is written to a temporary sibling (same directory, hence same filesystem), flushed to
disk (fsync) and renamed into place only once complete; os.replace is atomic on POSIX, and the
directory is fsynced after it so that a power loss cannot undo the rename either.

A write that fails for a reason the user can fix (disk full, quota, permission, read-only file
system) ends as one DMTError naming the output and what to do, and leaves no temporary behind.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dmt.errors import DMTError

log = logging.getLogger("dmt")

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(path: Path, e: OSError) -> DMTError | None:
    """The one-line error for a failed write of ``path``; None if ``e`` is not the user's to fix."""
    folder = path.parent
    if e.errno in _NO_SPACE:
        try:
            free = f"{shutil.disk_usage(_existing(folder)).free / 2**20:.0f} MB free"
        except OSError:
            free = "free space unknown"
        what = "disk quota exceeded" if e.errno == errno.EDQUOT else "no space left on device"
        return DMTError(f"{what} writing {path} ({free}): free space and rerun")
    if e.errno in _NOT_ALLOWED:
        what = "read-only file system" if e.errno == errno.EROFS else "permission denied"
        return DMTError(f"{what} writing {path}: make {folder} writable (or write the results "
                        f"elsewhere) and rerun")
    return None


def _existing(folder: Path) -> Path:
    """The nearest existing folder at or above ``folder`` (where free space can be measured)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _ours(e: OSError, path: Path) -> bool:
    """Whether ``e`` is about writing ``path``: no file name (a failed write() call), the file,
    a temporary of it or a folder above it; a PermissionError reading some input is not ours."""
    if e.filename is None:
        return True
    failed = Path(os.fsdecode(e.filename))
    return failed in (path, *path.parents) or (failed.parent in path.parents
                                              and failed.name.startswith(f".{path.name}."))


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        error = write_error(path, e) if _ours(e, path) else None
        if error is None:
            raise
        raise error from e


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Where a folder cannot be opened or fsynced (some network and FUSE file systems): the file itself
# is synced already, only the rename's durability is left to the file system.
_DIR_SYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM}


def _tempfile(path: Path, suffix: str, folder: Path | None = None) -> Path:
    if folder is None:
        folder = path.parent
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; fsync it and rename it onto ``path`` if the block
    succeeds. OSErrors of writing it become one DMTError (see ``write_error``)."""
    path = Path(path)
    tmp = None
    try:
        with _write_errors(path):
            tmp = _tempfile(path, suffix)
            yield tmp
            # mkstemp makes 0600 files; an output gets the permissions any new file would get
            # (where the file system has permissions at all).
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o666 & ~_UMASK)
            _fsync(tmp)
            os.replace(tmp, path)
            try:
                _fsync(path.parent)
            except OSError as e:
                if e.errno not in _DIR_SYNC_UNSUPPORTED:
                    raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def check_writable(*paths: str | os.PathLike) -> None:
    """Fail now, before any work, where an output could not be written later (permission,
    read-only file system): a probe file is made and removed in the output's folder, or in the
    nearest existing folder above it (which will have to hold the new ones); nothing is left."""
    for path in map(Path, paths):
        with _write_errors(path):
            _tempfile(path, "", folder=_existing(path.parent)).unlink()


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries (files, or folders of ``dmt.data.prepared``) that an atomic write of
    ``path`` left behind when its process was killed (SIGKILL skips every cleanup); call only
    from the one job that owns ``path``."""
    path = Path(path)
    stale = list(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return stale


class LatchedFile(io.RawIOBase):
    """A writable file whose first write error is kept in ``error`` instead of being raised;
    later writes are dropped (the position still advances, as the writer expects).

    For writers that cannot take an OSError: HDF5 reports a failed write of its cache only when it
    frees the object, then crashes at close (h5py 3.16 / HDF5 2.0 segfault on a full disk), and
    torch's zip writer turns it into "enforce fail at inline_container.cc: unexpected pos". The
    output is discarded anyway; the caller raises ``error`` (see ``raise_error``) once the writer
    is done with the file, or earlier between its writes.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.raw = open(path, "r+b", buffering=0)  # noqa: SIM115 - this object owns and closes it
        self.error: OSError | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.raw.readinto(buffer)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):  # unbuffered writes may be partial
                    done += self.raw.write(view[done:])
                return len(view)
            except OSError as e:
                self.error = e
                self.raw.seek(self.raw.tell() - done + len(view))
                return len(view)
        self.raw.seek(len(view), os.SEEK_CUR)
        return len(view)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self.raw.truncate(size)
            except OSError as e:
                self.error = e
        return self.raw.tell() if size is None else size

    def flush(self) -> None:
        pass  # unbuffered

    def close(self) -> None:
        self.raw.close()
        super().close()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | os.PathLike, what: str, hint: str = "rerun the job that makes it") -> dict:
    """The JSON object in ``path`` (a results file, a summary, a record), or one DMTError that
    names it as ``what`` and says what to do (``hint``)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DMTError(f"{what} {path} does not exist; {hint}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DMTError(f"{what} {path} is not readable JSON ({e}); {hint}") from None
    if not isinstance(data, dict):
        raise DMTError(f"{what} {path} holds no JSON object; {hint}")
    return data


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_lines(path: str | os.PathLike, lines: list[str]) -> None:
    write_text(path, "".join(f"{line}\n" for line in lines))


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp, LatchedFile(tmp) as f:
        torch.save(obj, f)
        f.raise_error()


def prepare_outputs(*paths) -> None:
    """Before any work: remove what atomic writes of these outputs left when a run of this job
    was killed, and fail now where one could not be written (permission, read-only)."""
    from dmt.store.atomic import check_writable, remove_stale_temps

    for path in filter(None, paths):
        for stale in remove_stale_temps(path):
            log.info("removed %s, left by a killed run", stale)
        check_writable(path)
