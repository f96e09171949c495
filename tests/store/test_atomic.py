"""Atomic outputs: fsync before the rename, one clear line for a full disk or a forbidden
folder (and no temporary left), stale temporaries removed, writers that survive a full disk."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.files import write_pseudo
from helpers.processes import run_python

from dmt.errors import DMTError
from dmt.store import atomic
from dmt.store.atomic import (
    check_writable,
    remove_stale_temps,
    torch_save,
    write_json,
    write_lines,
    write_text,
)


@contextlib.contextmanager
def _mounted_tmpfs(where: Path, *options: str):
    """A real small or read-only file system where this process may mount one (root)."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); the "
                    f"monkeypatched tests cover the same paths")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def _fail_writes_after(monkeypatch, limit: int, code: int = errno.ENOSPC) -> None:
    """Make every LatchedFile (HDF5 and torch writers) and text write fail like a full disk
    once ``limit`` bytes went to a file."""
    real = atomic.LatchedFile.__init__

    class Full:
        def __init__(self, raw):
            self.raw, self.written = raw, 0

        def write(self, data):
            n = len(memoryview(data).cast("B"))
            if self.written + n > limit:
                raise OSError(code, os.strerror(code))
            self.written += n
            return self.raw.write(data)

        def __getattr__(self, name):
            return getattr(self.raw, name)

    def init(self, path):
        real(self, path)
        self.raw = Full(self.raw)

    monkeypatch.setattr(atomic.LatchedFile, "__init__", init)


def test_output_is_fsynced_before_the_rename_and_its_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_text(tmp_path / "out.txt", "x")
    assert events == [("fsync", "file"), ("replace", "out.txt"), ("fsync", "dir")]


def test_a_folder_that_cannot_be_fsynced_does_not_fail_the_write(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_text(tmp_path / "out.txt", "x")
    assert (tmp_path / "out.txt").read_text() == "x"


def test_output_gets_the_umask_permissions_not_the_temp_files(tmp_path):
    write_text(tmp_path / "out.txt", "x")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~atomic._UMASK


def test_full_disk_is_one_line_naming_the_output_and_leaves_no_temp(tmp_path, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(DMTError) as e:
        write_json(tmp_path / "sub" / "m.json", {"a": 1})
    message = str(e.value)
    assert message.startswith(f"no space left on device writing {tmp_path / 'sub' / 'm.json'} (")
    assert "MB free): free space and rerun" in message and "\n" not in message
    assert list((tmp_path / "sub").iterdir()) == []


def test_torch_writer_reports_a_full_disk_not_an_internal_error(tmp_path, monkeypatch):
    _fail_writes_after(monkeypatch, 1000)
    with pytest.raises(DMTError, match=r"no space left on device writing .*m\.pt"):
        torch_save({"w": torch.zeros(10000)}, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_quota_is_named(tmp_path, monkeypatch):
    _fail_writes_after(monkeypatch, 1000, errno.EDQUOT)
    with pytest.raises(DMTError, match=r"disk quota exceeded writing .*m\.pt"):
        torch_save({"w": torch.zeros(10000)}, tmp_path / "m.pt")


def test_hdf5_writer_stops_at_the_first_failed_write(tmp_path, monkeypatch):
    """HDF5 would only report the failure when it frees its cache, then crash at close; the
    writer stops at the image whose write failed, with one line."""
    _fail_writes_after(monkeypatch, 100_000)
    with pytest.raises(DMTError, match=r"no space left on device writing .*p\.h5"):
        write_pseudo(tmp_path / "p.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_really_full_disk(tmp_path):
    """A 256 KB tmpfs: the pseudo-label writer (which segfaulted inside h5py's close) and the
    model writer (RuntimeError "unexpected pos") each end with one line, in a child process so
    that a crash would show as its exit status."""
    with _mounted_tmpfs(tmp_path / "full", "size=256k") as full:
        script = (
            "import sys, torch\n"
            "from helpers.files import write_pseudo\n"
            "from dmt.store.atomic import torch_save\n"
            "from dmt.errors import DMTError\n"
            "for write in (lambda: write_pseudo(sys.argv[1] + '/p.h5', 200),\n"
            "              lambda: torch_save({'w': torch.zeros(200000)}, sys.argv[1] + '/m.pt')):\n"
            "    try:\n"
            "        write()\n"
            "    except DMTError as e:\n"
            "        print(e)\n")
        proc = run_python(script, full)
        lines = proc.stdout.splitlines()
        assert len(lines) == 2
        assert lines[0].startswith(f"no space left on device writing {full}/p.h5 (")
        assert lines[1].startswith(f"no space left on device writing {full}/m.pt (")
        assert "Exception ignored" not in proc.stderr  # HDF5 never saw a failed write
        assert list(full.iterdir()) == []


def test_forbidden_folder_is_one_line_before_any_work(tmp_path, monkeypatch):
    target = tmp_path / "results" / "m.json"
    (tmp_path / "results").mkdir()
    real = tempfile.mkstemp

    def mkstemp(prefix="", suffix="", dir=None):
        if Path(dir) == target.parent:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(dir) / f"{prefix}x{suffix}"))
        return real(prefix=prefix, suffix=suffix, dir=dir)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    for attempt in (lambda: check_writable(target), lambda: write_json(target, {})):
        with pytest.raises(DMTError, match=f"permission denied writing {target}: make {target.parent} "
                                           f"writable"):
            attempt()


def test_read_only_file_system(tmp_path):
    with _mounted_tmpfs(tmp_path / "ro", "ro", "size=64k") as ro:  # noqa: SIM117 - `ro` names the match
        with pytest.raises(DMTError, match=f"read-only file system writing {ro}/a/b.txt: make {ro}/a "
                                           f"writable"):
            check_writable(ro / "a" / "b.txt")


def test_check_writable_creates_nothing(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "out.json", tmp_path / "out.h5")
    assert list(tmp_path.iterdir()) == []


def test_an_input_read_error_inside_the_block_is_not_called_a_write_error(tmp_path):
    with pytest.raises(PermissionError), atomic.atomic_path(tmp_path / "out.txt"):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "input.txt"))
    assert list(tmp_path.iterdir()) == []


def test_stale_temps_of_files_and_prepared_folders_are_removed(tmp_path):
    (tmp_path / ".p.h5.abc.h5.tmp").write_bytes(b"x")
    (tmp_path / ".data.xyz.tmp" / "JPEGImages").mkdir(parents=True)
    (tmp_path / ".pp.h5.abc.h5.tmp").write_bytes(b"another output's")
    write_lines(tmp_path / "p.h5", ["kept"])
    removed = remove_stale_temps(tmp_path / "p.h5") + remove_stale_temps(tmp_path / "data")
    assert sorted(p.name for p in removed) == [".data.xyz.tmp", ".p.h5.abc.h5.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pp.h5.abc.h5.tmp", "p.h5"]


def test_read_json_names_the_file_and_what_to_do(tmp_path):
    from dmt.store.atomic import read_json

    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json", "record") == {"a": 1}
    (tmp_path / "bad.json").write_text('{"a": ')
    (tmp_path / "list.json").write_text("[1]")
    for name, says in (("none.json", "does not exist"), ("bad.json", "is not readable JSON"),
                       ("list.json", "holds no JSON object")):
        with pytest.raises(DMTError) as e:
            read_json(tmp_path / name, "metrics file", "rerun evaluate")
        assert str(e.value).startswith(f"metrics file {tmp_path / name} {says}") and str(e.value).endswith(
            "; rerun evaluate")
