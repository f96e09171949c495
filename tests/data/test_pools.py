"""The digits glyph pools: train canvases, pre-training, val."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import yaml
from helpers import REPO
from PIL import Image

from dmt.data.prepare.digits import DIGITS_SOURCE_SIZE, glyph_pools, prepare_digits
from dmt.data.prepared import MARKER
from dmt.data.registry import DATASETS
from dmt.errors import DMTError

SHARE = 0.2


def _digest(paths) -> str:
    h = hashlib.sha256()
    for path, data in paths:
        h.update(path.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


@pytest.mark.parametrize("seed", [0, 3])
def test_the_three_pools_are_disjoint_and_cover_every_glyph(seed):
    pools = glyph_pools(seed, SHARE)
    assert set(pools) == {"train", "pretrain", "val"}
    assert sum(len(p) for p in pools.values()) == DIGITS_SOURCE_SIZE
    assert set().union(*map(set, pools.values())) == set(range(DIGITS_SOURCE_SIZE))
    assert all((np.diff(p) > 0).all() and p.dtype.kind == "i" for p in pools.values())  # sorted, distinct
    assert [len(pools[k]) for k in ("train", "pretrain", "val")] == [898, 359, 540]
    # Carved out of the train pool: val is the same with or without pre-training glyphs.
    before = glyph_pools(seed, 0)
    assert len(before["pretrain"]) == 0 and (before["val"] == pools["val"]).all()
    assert set(before["train"]) == set(pools["train"]) | set(pools["pretrain"])
    assert glyph_pools(seed + 1, SHARE)["pretrain"].tolist() != pools["pretrain"].tolist()


@pytest.mark.parametrize("share", [-0.1, 0.7, 0.9])
def test_a_pretrain_share_out_of_range_is_refused(share):
    with pytest.raises(DMTError, match=r"digits.pretrain_share must be at least 0 and below 0.7"):
        glyph_pools(0, share)


def test_pretrain_share_0_writes_the_digits_of_before_byte_for_byte(tmp_path):
    # Digests of the folder that prepare_digits wrote before the pre-training pool existed
    # (commit 66c03f6, seed 0, 20 train and 10 val canvases): the completion marker (which every
    # digest downstream of `prepare` reads), the masks' pixels, and every file's bytes. The JPEG
    # bytes depend on Pillow's encoder too: after an upgrade of Pillow only the last may change.
    root = tmp_path / "digits"
    summary = prepare_digits(root, seed=0, n_train=20, n_val=10, pretrain_share=0)
    assert "pretrain_share" not in summary["params"]
    assert hashlib.sha256((root / MARKER).read_bytes()).hexdigest() == (
        "14ea4c710b4aa8f8d433f34d19a36d58e9c5380ff906d125990550774fa1fafd")
    masks = sorted((root / "SegmentationClass").glob("*.png"))
    assert _digest((f.name, np.asarray(Image.open(f)).tobytes()) for f in masks) == (
        "6f9b3737efdf60e6f55a5c0783dabf36852c9b7cee0fbf85249a839afd5547ff")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER)
    assert _digest((str(f.relative_to(root)), f.read_bytes()) for f in files) == (
        "f95151fae5ecd7f15f84773f1c516958181283427ca7f508decada284bb3202f")


def test_no_pretrain_glyph_is_on_a_digits_canvas(tmp_path):
    pools = glyph_pools(3, SHARE)
    digits = prepare_digits(tmp_path / "digits", seed=3, n_train=30, n_val=10, pretrain_share=SHARE)
    assert digits["params"]["pretrain_share"] == SHARE
    used = digits["source_digits"]
    assert set(used["train"]) <= set(pools["train"]) and set(used["val"]) <= set(pools["val"])


def test_the_schema_knows_every_data_set_and_every_digits_option():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert set(schema["$defs"]["experiment"]["properties"]["dataset"]["enum"]) == set(DATASETS)
    # The plan reads every option of a data set from the config's digits: section.
    section = schema["properties"]["digits"]
    options = {key for info in DATASETS.values() for key in info.options}
    assert options <= set(section["required"]) == set(section["properties"])
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config["digits"]["pretrain_share"] == 0  # the demo is switched on after measuring it
