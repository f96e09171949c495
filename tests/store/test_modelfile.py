"""Model files load with weights_only=True; crafted, foreign and mismatched files are refused
with one line naming them, before any code in them could run or any work starts."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from helpers.models import Payload, Toy, crafted

from dmt.errors import DMTError, UnsafeFile
from dmt.models import build_model, model_meta
from dmt.models.files import load_model, save_model
from dmt.store.integrity import file_digest, sidecar_path
from dmt.store.torchfile import read_torch_file

DIGITS = {**model_meta("small_deeplab", 11, "scratch"), "dataset": "digits"}


def saved_model(path, meta=DIGITS, seed=0, **extras):
    model = build_model(meta["model"], meta["num_classes"], seed=seed)
    save_model(path, model.state_dict(), meta, **extras)
    return model


def test_round_trip_with_sidecar(tmp_path):
    path = tmp_path / "model.pt"
    model = saved_model(path, spec={"lr": 0.1, "crop_size": (32, 32)}, summary={"steps": 3})
    raw = torch.load(path, weights_only=True)  # what the file must be: tensors and plain data
    assert raw["meta"] == DIGITS and raw["spec"]["crop_size"] == (32, 32)
    side = json.loads(sidecar_path(path).read_text())
    assert side["file"] == "model.pt" and side["digest"] == file_digest(path)
    assert side["meta"] == DIGITS and side["summary"] == {"steps": 3} and side["spec"]["lr"] == 0.1
    loaded, meta = load_model(path, expect={"dataset": "digits", "num_classes": 11,
                                            "model": "small_deeplab"})
    assert meta == DIGITS
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_the_payload_is_real_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = crafted(tmp_path / "model.pt", marker)
    torch.load(path, weights_only=False)  # what the pipeline did before
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafeFile, match=rf"^{path} is refused: it holds objects other than tensors "
                                         rf"and plain data \(exec\), and loading them could "
                                         rf"run code"):
        load_model(path)
    for what in ("checkpoint", "ImageNet weights"):
        with pytest.raises(UnsafeFile):
            read_torch_file(path, what)
    assert not marker.exists()


def test_a_checkpoint_carrying_code_stops_training(tmp_path):
    from dmt.training.loop import TrainSpec, train

    marker = tmp_path / "marker"
    ckpt = crafted(tmp_path / "m.pt.ckpt", marker)
    spec = TrainSpec(epochs=1, lr=0.01, batch_size=2, crop_size=(16, 16), seed=0)
    with pytest.raises(UnsafeFile, match="m.pt.ckpt is refused"):
        train(build_model("small_deeplab", 2, 0), spec, Toy(2), tmp_path / "m.pt", checkpoint_path=ckpt)
    assert not marker.exists() and not (tmp_path / "m.pt").exists()


def test_an_unreadable_checkpoint_is_ignored(tmp_path, caplog):
    from dmt.training.loop import TrainSpec, train

    ckpt = tmp_path / "m.pt.ckpt"
    ckpt.write_text("not a checkpoint")
    spec = TrainSpec(epochs=1, lr=0.01, batch_size=2, crop_size=(16, 16), seed=0)
    summary = train(build_model("small_deeplab", 2, 0), spec, Toy(2), tmp_path / "m.pt", checkpoint_path=ckpt)
    assert summary["resumed_at"] == 0 and "ignoring unreadable checkpoint" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("model weights, honest\n"), "is not a model file: not a file written by torch.save"),
    (lambda p: torch.save([1, 2, 3], p), "is not a dmt model: it holds a list"),
    (lambda p: torch.save({"state_dict": {}}, p), r"is not a dmt model: it holds a dict with keys \['state_dict'\]"),
    (lambda p: torch.save({"model": {}, "meta": {**DIGITS, "model": "resnet9000"}}, p),
     "is a model 'resnet9000', which this dmt does not know"),
    (lambda p: torch.save({"model": {}, "meta": {**DIGITS, "num_classes": "11"}}, p), "has no valid class count"),
    (lambda p: torch.save({"model": {"x": torch.zeros(1)}, "meta": DIGITS}, p),
     r"holds weights that do not fit a small_deeplab with 11 classes: \d+ missing .*1 unexpected"),
    (lambda p: torch.save({"model": build_model("small_deeplab", 5, 0).state_dict(), "meta": DIGITS}, p),
     r"holds weights .* 0 missing .* 0 unexpected .* 8 of another shape \(e.g. \['aspp.0.weight \(5, "),
])
def test_files_that_are_not_models_of_this_package(tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(DMTError, match=f"^{path} {message}") as e:
        load_model(path)
    assert "\n" not in str(e.value)


def test_truncated_model(tmp_path):
    path = tmp_path / "model.pt"
    saved_model(path)
    data = path.read_bytes()
    sidecar_path(path).unlink()  # as if brought from elsewhere: only the zip reader can tell
    for cut in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(DMTError, match=f"{path}"):
            load_model(path)


def test_a_model_changed_since_its_job_is_refused_by_its_digest(tmp_path):
    path = tmp_path / "model.pt"
    saved_model(path)
    other = tmp_path / "other.pt"
    saved_model(other, seed=1)
    path.write_bytes(other.read_bytes())  # a valid model, but not the one its job made
    with pytest.raises(DMTError, match=f"{path} does not match the digest its job recorded in model.json"):
        load_model(path)


def test_metadata_is_checked_against_the_run(tmp_path):
    path = tmp_path / "model.pt"
    saved_model(path, meta={**model_meta("small_deeplab", 21, "scratch"), "dataset": "voc"})
    with pytest.raises(DMTError, match=rf"^{path} does not fit this run: its dataset is 'voc', the run's "
                                       rf"'digits', its num_classes is 21, the run's 11$"):
        load_model(path, expect={"dataset": "digits", "num_classes": 11})
    with pytest.raises(DMTError, match="its model is 'small_deeplab', the run's 'deeplab_v2'"):
        load_model(path, expect={"dataset": "voc", "num_classes": 21, "model": "deeplab_v2"})
    load_model(path, expect={"dataset": "voc", "num_classes": 21, "model": None})


def test_only_plain_data_is_saved(tmp_path):
    with pytest.raises(TypeError, match=r"model file.spec.lr is a float32"):
        save_model(tmp_path / "m.pt", {}, DIGITS, spec={"lr": np.float32(0.1)})
    assert list(tmp_path.iterdir()) == []


def test_pretrained_weights_are_read_safely(tmp_path):
    from dmt.models.deeplab_v2 import DeepLabV2

    marker = tmp_path / "marker"
    path = tmp_path / "resnet101.pth"
    torch.save({"conv1.weight": Payload(marker)}, path)
    with pytest.raises(UnsafeFile, match="resnet101.pth is refused"):
        DeepLabV2(21).load_imagenet_backbone(path)
    torch.save([1], path)
    with pytest.raises(DMTError, match="holds a list, not a torchvision resnet101 state dict"):
        DeepLabV2(21).load_imagenet_backbone(path)
    assert not marker.exists() and zipfile.is_zipfile(path)
