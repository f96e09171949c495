"""The digits glyph pools (train canvases, pre-training, val) and the two pre-training sets drawn
from the pre-training pool: digits_style (segmentation, another style) and digits_glyphs
(classification, one glyph per image)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml
from helpers import REPO
from PIL import Image

from dmt.cli import main
from dmt.data.classification import ClassificationDataset, read_class_split
from dmt.data.prepare.digits import DIGITS_SOURCE_SIZE, glyph_pools, load_glyphs, prepare_digits, pretrain_pools
from dmt.data.prepare.digits_glyphs import prepare_digits_glyphs
from dmt.data.prepare.digits_style import prepare_digits_style
from dmt.data.prepared import MARKER
from dmt.data.registry import DATASETS
from dmt.data.segmentation import SegmentationDataset
from dmt.data.voc import read_split
from dmt.errors import DMTError

SHARE = 0.2


def _digest(paths) -> str:
    h = hashlib.sha256()
    for path, data in paths:
        h.update(path.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


@pytest.fixture(scope="module")
def targets():
    return load_glyphs()[1]


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
    style = prepare_digits_style(tmp_path / "style", seed=3, pretrain_share=SHARE, style_train=6, style_val=3)
    glyphs = prepare_digits_glyphs(tmp_path / "glyphs", seed=3, pretrain_share=SHARE, glyph_renderings=1,
                                   glyph_test_renderings=1)
    pretrain = {int(i) for s in (style, glyphs) for part in s["source_digits"].values() for i in part}
    assert pretrain <= set(pools["pretrain"].tolist())
    assert not pretrain & (set(used["train"]) | set(used["val"]))
    # Every pretrain glyph is rendered once: the two parts of the pool, disjoint.
    assert pretrain == set(pools["pretrain"].tolist())
    assert not set(glyphs["source_digits"]["train"]) & set(glyphs["source_digits"]["test"])


def test_digits_style_is_deterministic_readable_and_another_domain(tmp_path, targets):
    a = prepare_digits_style(tmp_path / "a", seed=1, pretrain_share=SHARE, style_train=8, style_val=4)
    b = prepare_digits_style(tmp_path / "b", seed=1, pretrain_share=SHARE, style_train=8, style_val=4)
    c = prepare_digits_style(tmp_path / "c", seed=2, pretrain_share=SHARE, style_train=8, style_val=4)
    name = "JPEGImages/digits_style_train_00003.jpg"
    assert a == b and (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert c["source_digits"] != a["source_digits"]
    parts = pretrain_pools(1, SHARE, targets, "test")
    assert set(a["source_digits"]["train"]) <= set(parts["train"])
    assert set(a["source_digits"]["val"]) <= set(parts["held_out"])
    assert a["counts"] == {"train": 8, "val": 4}
    assert set(a["class_pixel_share"]) == set(DATASETS["digits_style"].class_names)
    labels, brightness = set(), []
    for split, n in (("train", 8), ("val", 4)):
        ids = read_split(tmp_path / "a", split)
        data = SegmentationDataset(tmp_path / "a", ids, 11)
        assert len(data) == n
        for k in range(n):
            item = data[k]
            labels |= set(item["target"].unique().tolist())
            brightness.append(float(item["image"][:, item["target"] == 0].float().mean()))
    assert 0 in labels and labels <= set(range(11)) and len(labels) > 3
    # Dark backgrounds (the digits canvases' are 110 and brighter).
    assert max(brightness) < 110
    # Same parameters again: kept; other parameters: a clear error.
    assert prepare_digits_style(tmp_path / "a", seed=1, pretrain_share=SHARE, style_train=8, style_val=4) == a
    with pytest.raises(DMTError, match="prepared with"):
        prepare_digits_style(tmp_path / "a", seed=1, pretrain_share=0.3, style_train=8, style_val=4)


def test_digits_glyphs_is_deterministic_readable_and_true_to_the_source(tmp_path, targets):
    a = prepare_digits_glyphs(tmp_path / "a", seed=1, pretrain_share=SHARE, glyph_renderings=3,
                              glyph_test_renderings=2)
    b = prepare_digits_glyphs(tmp_path / "b", seed=1, pretrain_share=SHARE, glyph_renderings=3,
                              glyph_test_renderings=2)
    assert a == b and (tmp_path / "a" / "train.npz").read_bytes() == (tmp_path / "b" / "train.npz").read_bytes()
    parts = pretrain_pools(1, SHARE, targets, "test")
    assert a["source_digits"] == {"train": parts["train"].tolist(), "test": parts["held_out"].tolist()}
    assert a["counts"] == {"train": 3 * len(parts["train"]), "test": 2 * len(parts["held_out"])}
    for split, renderings, part in (("train", 3, parts["train"]), ("test", 2, parts["held_out"])):
        expected = np.bincount(targets[part], minlength=10) * renderings
        assert a["class_counts"][split] == expected.tolist() and min(expected) > 0
        ids = read_class_split(tmp_path / "a", split)
        data = ClassificationDataset(tmp_path / "a", ids)
        assert len(data) == a["counts"][split] and data.images.shape[1:] == (32, 32, 3)
        # Glyph by glyph, each rendered `renderings` times, each time differently.
        assert data.labels.tolist() == np.repeat(targets[part], renderings).tolist()
        assert not np.array_equal(data.images[0], data.images[1])
        assert int(data[0]["target"]) == targets[part[0]]
    with pytest.raises(DMTError, match="prepared with"):
        prepare_digits_glyphs(tmp_path / "a", seed=1, pretrain_share=SHARE, glyph_renderings=4)


@pytest.mark.parametrize("prepare", [prepare_digits_style, prepare_digits_glyphs])
def test_the_pre_training_sets_need_a_pretrain_share(tmp_path, prepare):
    with pytest.raises(DMTError, match=r"draws only from the pre-training glyphs.*digits.pretrain_share 0"):
        prepare(tmp_path / "x", seed=0, pretrain_share=0)
    # So few glyphs that a digit is missing: said, not a classifier that never sees a class.
    with pytest.raises(DMTError, match=r"digits.pretrain_share 0.005 leaves no digit"):
        prepare(tmp_path / "x", seed=0, pretrain_share=0.005)
    assert not list(tmp_path.iterdir())


def test_prepare_command_takes_the_digits_options(tmp_path, capsys):
    out = tmp_path / "glyphs"
    assert main(["prepare", "digits_glyphs", "--out", str(out), "--seed", "2", "--pretrain-share", "0.1",
                 "--glyph-renderings", "1", "--glyph-test-renderings", "1"]) == 0
    assert json.loads((out / MARKER).read_text())["params"] == {
        "seed": 2, "pretrain_share": 0.1, "glyph_renderings": 1, "glyph_test_renderings": 1, "size": 32}
    assert main(["prepare", "digits_style", "--out", str(tmp_path / "style")]) == 2
    assert "digits.pretrain_share 0.0: set it above 0" in capsys.readouterr().err


def test_the_schema_knows_every_data_set_and_every_digits_option():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert set(schema["$defs"]["experiment"]["properties"]["dataset"]["enum"]) == set(DATASETS)
    # The plan reads every option of a data set from the config's digits: section.
    section = schema["properties"]["digits"]
    options = {key for info in DATASETS.values() for key in info.options}
    assert options <= set(section["required"]) == set(section["properties"])
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    # the demo's pre-training pool (README: The demo's two pre-trainings): 0 would refuse its pre-trainings
    assert config["digits"]["pretrain_share"] == 0.2
