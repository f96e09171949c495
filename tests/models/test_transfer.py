"""Inits from a model file this pipeline trained (dmt.models.transfer): ``model:FILE`` takes every
weight, ``backbone:FILE`` the backbone only; the student names its source by digest."""

import pytest
import torch

from dmt.models import build_model, model_meta
from dmt.models.files import load_model, save_model
from dmt.store.integrity import file_digest


def _saved(path, name, classes, seed):
    model = build_model(name, classes, seed=seed)
    with torch.no_grad():  # weights no seed would draw: a copy is told from a re-draw
        for p in model.parameters():
            p.add_(0.5)
    save_model(path, model.state_dict(), model_meta(name, classes, "scratch") | {"dataset": "x"})
    return model


def _same(a: dict, b: dict, prefix: str = "") -> bool:
    keys = [k for k in a if k.startswith(prefix)]
    return bool(keys) and all(torch.equal(a[k], b[k]) for k in keys)


def test_model_init_takes_every_weight_and_names_its_source_by_digest(tmp_path):
    source = _saved(tmp_path / "seg.pt", "small_deeplab", 11, seed=3)
    weights = f"model:{tmp_path / 'seg.pt'}"
    student = build_model("small_deeplab", 11, seed=7, weights=weights)
    assert _same(student.state_dict(), source.state_dict())
    meta = model_meta("small_deeplab", 11, weights)
    assert meta["transfer"] == {"kind": "model", "model": "small_deeplab",
                                "digest": file_digest(tmp_path / "seg.pt")}
    assert meta["init"] == "scratch"  # the source's convention: the student rebuilds like it
    save_model(tmp_path / "student.pt", student.state_dict(), {**meta, "dataset": "x"})
    assert _same(load_model(tmp_path / "student.pt")[0].state_dict(), source.state_dict())


def test_backbone_init_takes_the_backbone_and_draws_the_head_from_the_seed(tmp_path):
    source = _saved(tmp_path / "glyphs.pt", "small_classifier", 10, seed=3)
    student = build_model("small_deeplab", 11, seed=7, weights=f"backbone:{tmp_path / 'glyphs.pt'}")
    scratch = build_model("small_deeplab", 11, seed=7)
    got = student.state_dict()
    assert _same(got, {f"backbone.{k}": v for k, v in source.backbone.state_dict().items()}, "backbone.")
    assert not _same(got, scratch.state_dict(), "backbone.")
    assert _same(got, scratch.state_dict(), "aspp.")  # the head as the seed draws it
    assert model_meta("small_deeplab", 11, f"backbone:{tmp_path / 'glyphs.pt'}")["transfer"]["model"] == \
        "small_classifier"


def test_a_source_that_does_not_fit_is_one_clear_error(tmp_path):
    _saved(tmp_path / "cls.pt", "small_classifier", 10, seed=3)
    with pytest.raises(ValueError, match=r"does not fit .* take its backbone: backbone:FILE"):
        build_model("small_deeplab", 11, seed=7, weights=f"model:{tmp_path / 'cls.pt'}")
    _saved(tmp_path / "seg.pt", "small_deeplab", 5, seed=3)
    with pytest.raises(ValueError, match="does not fit"):
        build_model("small_deeplab", 11, seed=7, weights=f"model:{tmp_path / 'seg.pt'}")
    with pytest.raises(ValueError, match="does not exist"):
        build_model("small_deeplab", 11, seed=7, weights=f"model:{tmp_path / 'nothing.pt'}")


def test_a_changed_source_is_refused(tmp_path):
    _saved(tmp_path / "seg.pt", "small_deeplab", 11, seed=3)
    data = bytearray((tmp_path / "seg.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "seg.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="pre-trained model"):
        model_meta("small_deeplab", 11, f"model:{tmp_path / 'seg.pt'}")


def test_the_classifier_shares_the_segmentation_backbone():
    cls, seg = build_model("small_classifier", 10, seed=1), build_model("small_deeplab", 11, seed=1)
    assert cls.backbone.state_dict().keys() == seg.backbone.state_dict().keys()
    assert cls(torch.zeros(2, 3, 8, 8, dtype=torch.uint8)).shape == (2, 10)
