"""A finished training's outputs are kept (hard links) and restored by a rerun of the very same
job: Snakemake's --rerun-incomplete after a SIGINT to Snakemake alone deletes outputs that the
job had completed (issue #19)."""

from __future__ import annotations

import os

from dmt.store import finished
from dmt.store.integrity import sidecar_path


def _write_outputs(out, content=b"weights"):
    out.write_bytes(content)
    sidecar_path(out).write_text('{"digest": "x"}')


def test_a_deleted_finished_output_is_restored_only_for_the_same_fingerprint(tmp_path):
    out = tmp_path / "model.pt"
    _write_outputs(out)
    finished.keep(out, ("code", "spec", "data"))
    assert os.stat(out).st_ino == os.stat(tmp_path / "model.pt.done").st_ino  # a link, not a copy
    out.unlink()
    sidecar_path(out).unlink()
    assert not finished.restore(out, lambda: ("code", "spec", "other data"))
    assert not out.exists()
    assert finished.restore(out, lambda: ("code", "spec", "data"))
    assert out.read_bytes() == b"weights" and sidecar_path(out).read_text() == '{"digest": "x"}'


def test_nothing_is_restored_from_a_damaged_copy_or_without_a_record(tmp_path):
    out = tmp_path / "model.pt"
    assert not finished.restore(out, lambda: ())
    _write_outputs(out)
    finished.keep(out, ("f",))
    out.unlink()
    (tmp_path / "model.pt.done").write_bytes(b"changed")  # breaks the link: another file now
    assert not finished.restore(out, lambda: ("f",)) and not out.exists()


def test_an_unreadable_input_means_training_not_restoring(tmp_path):
    out = tmp_path / "model.pt"
    _write_outputs(out)
    finished.keep(out, ("f",))

    def missing():
        raise FileNotFoundError(2, "No such file or directory", "labeled.txt")

    assert not finished.restore(out, missing)
