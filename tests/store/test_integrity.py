"""Digests in sidecar JSONs, and sealed HDF5 files that a damaged copy cannot hang."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers.processes import run_python

from dmt.data.prepare.digits import prepare_digits
from dmt.data.segmentation import SegmentationDataset
from dmt.data.voc import read_split
from dmt.errors import DMTError
from dmt.models import build_model
from dmt.pseudo.h5io import USERBLOCK, check_seal
from dmt.pseudo.segmentation import PseudoLabelStore, generate
from dmt.store.atomic import write_json
from dmt.store.integrity import file_digest, sidecar_fields, sidecar_path, verify


@pytest.fixture(scope="module")
def pseudo_file(tmp_path_factory) -> Path:
    """A real pseudo-label file of an untrained model on tiny digits, as the pipeline makes it."""
    root = tmp_path_factory.mktemp("digits") / "digits"
    prepare_digits(root, seed=0, n_train=60, n_val=10)
    data = SegmentationDataset(root, read_split(root, "train"), 11, with_masks=True)
    path = root.parent / "pseudo_B.h5"
    generate(build_model("small_deeplab", 11, seed=0), data, path, 11, 0.5, "sha256:t",
             torch.device("cpu"), batch_size=16)
    return path


def test_sidecar_path_is_the_sibling_json():
    assert sidecar_path("r/iter1/pseudo_B.h5") == Path("r/iter1/pseudo_B.json")
    assert sidecar_path("r/iter0/A/model.pt") == Path("r/iter0/A/model.json")


def test_verify_returns_the_digest_of_a_file_that_matches(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"abc")
    write_json(sidecar_path(path), {**sidecar_fields(path), "other": 1})
    assert verify(path, required=True) == file_digest(path)
    assert file_digest(path) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_changed_file_names_itself_and_the_job_to_rerun(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"abc")
    write_json(sidecar_path(path), sidecar_fields(path))
    path.write_bytes(b"abd")
    with pytest.raises(DMTError, match=rf"{path} does not match the digest its job recorded in x.json "
                                       rf".*snakemake --forcerun {path}$"):
        verify(path, required=False)


def test_missing_or_broken_sidecar(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"abc")
    with pytest.raises(DMTError, match="has no x.json beside it"):
        verify(path, required=True)
    assert verify(path, required=False) == file_digest(path)  # a file brought from elsewhere
    sidecar_path(path).write_text("{not json")
    with pytest.raises(DMTError, match="x.json .* is unreadable"):
        verify(path, required=False)
    sidecar_path(path).write_text(json.dumps({"file": "y.h5", "digest": file_digest(path)}))
    with pytest.raises(DMTError, match="describes y.h5, not x.h5"):
        verify(path, required=False)


def test_pseudo_label_files_are_sealed(pseudo_file):
    check_seal(pseudo_file)
    assert pseudo_file.read_bytes().startswith(b"dmt-sealed-hdf5/1 sha256:")
    assert len(PseudoLabelStore(pseudo_file)) == 60


def test_every_copy_with_2kb_zeroed_fails_fast_and_clearly(pseudo_file, tmp_path):
    """The issue's hang: a same-size copy with 2 KB zeroed made reading the attributes spin
    forever. Every 2 KB block of a real file is zeroed in turn (the userblock, superblock,
    attributes, ids and image chunks); each copy must be refused with one line, and all of them
    in well under the timeout of the child process that runs them (a hang fails the test)."""
    script = (
        "import shutil, sys\n"
        "from pathlib import Path\n"
        "from dmt.errors import DMTError\n"
        "from dmt.pseudo.segmentation import PseudoLabelStore\n"
        "src, copy = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "size = src.stat().st_size\n"
        "for offset in range(0, size, 2048):\n"
        "    shutil.copy(src, copy)\n"
        "    with open(copy, 'r+b') as f:\n"
        "        f.seek(offset)\n"
        "        f.write(bytes(min(2048, size - offset)))\n"
        "    try:\n"
        "        PseudoLabelStore(copy)\n"
        "        print(offset, 'opened')\n"
        "    except DMTError as e:\n"
        "        print(offset, str(e).replace(str(copy), 'FILE'))\n")
    proc = run_python(script, pseudo_file, tmp_path / "copy.h5")
    results = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert len(results) == -(-pseudo_file.stat().st_size // 2048)
    userblock = {str(o) for o in range(0, USERBLOCK, 2048)}
    for offset, message in results.items():
        expected = "is not a sealed dmt HDF5 file" if offset in userblock else "is damaged or truncated"
        assert message.startswith(f"FILE {expected}") and "snakemake --forcerun FILE" in message, (offset, message)


def test_a_file_cut_short_or_grown_is_refused(pseudo_file, tmp_path):
    copy = tmp_path / "p.h5"
    data = pseudo_file.read_bytes()
    for damaged in (data[:-1], data + b"\0"):
        copy.write_bytes(damaged)
        with pytest.raises(DMTError, match="damaged or truncated"):
            PseudoLabelStore(copy)
    shutil.copy(pseudo_file, copy)
    assert PseudoLabelStore(copy).ids == PseudoLabelStore(pseudo_file).ids
