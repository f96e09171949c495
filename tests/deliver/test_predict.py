"""The exported final model (dmt/deliver/export.py) and `python -m dmt predict` (dmt/deliver/predict.py)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import REPO
from helpers.files import make_mini_folder
from PIL import Image

from dmt.cli import main
from dmt.data.voc import VOC_PALETTE, read_image
from dmt.deliver.export import FORMAT
from dmt.models import build_model, model_meta
from dmt.models.files import save_model

CROP = (16, 16)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, (err[-1] if err else "")


def save_trained(path, name, num_classes, dataset, seed=0, **extra):
    """A model file as `python -m dmt train` writes it (weights, meta, spec, summary)."""
    model = build_model(name, num_classes, seed=seed)
    meta = {**model_meta(name, num_classes, "scratch"), "dataset": dataset, "dmt_version": "0.1.0"}
    save_model(path, model.state_dict(), meta, spec={"seed": seed}, summary={"steps": 1}, **extra)
    return model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A prepared folder data set (3 classes, 'cat' coloured 200,100,0)."""
    tmp = tmp_path_factory.mktemp("data")
    out = tmp / "prepared"
    assert main(["prepare", "folder", "--folder-root", str(make_mini_folder(tmp / "mine")), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory):
    """A run's files as the workflow leaves them, exported: (final_model.pt, the selected model)."""
    tmp = tmp_path_factory.mktemp("run")
    save_trained(tmp / "A1.pt", "small_deeplab", 3, "folder", seed=1)
    selected = save_trained(tmp / "B1.pt", "small_deeplab", 3, "folder", seed=2)
    (tmp / "final_miou.json").write_text(json.dumps({"selected": "B1", "miou": 0.5, "baseline_miou": 0.25}))
    out = tmp / "final_model.pt"
    assert main(["export", "--final", str(tmp / "final_miou.json"), "--candidate", f"A1={tmp / 'A1.pt'}",
                 f"B1={tmp / 'B1.pt'}", "--dataset", "folder", "--data", str(data), "--experiment", "mine",
                 "--run", "mine", "--method", "dmt", "--pad-to", *map(str, CROP), "--out", str(out)]) == 0
    return out, selected.eval()


def test_the_exported_model_loads_without_code_and_describes_itself(exported, tmp_path):
    path, selected = exported
    saved = torch.load(path, map_location="cpu", weights_only=True)
    meta = saved["meta"]
    assert meta["format"] == FORMAT and meta["task"] == "segmentation"
    assert (meta["model"], meta["num_classes"], meta["init"]) == ("small_deeplab", 3, "scratch")
    assert meta["class_names"] == ["background", "cat", "dog"]
    assert meta["palette"] == [VOC_PALETTE[0:3], [200, 100, 0], VOC_PALETTE[6:9]]
    assert meta["pad_to"] == list(CROP) and meta["ignore_index"] == 255
    assert meta["normalization"] == {"channels": "rgb", "mean": [123.675, 116.28, 103.53],
                                     "std": [58.395, 57.12, 57.375]}
    origin = meta["origin"]
    assert (origin["experiment"], origin["selected"], origin["iteration"], origin["model"]) == ("mine", "B1", 1, "B")
    assert origin["source"].endswith("B1.pt") and origin["source_digest"].startswith("sha256:")
    assert (origin["score"], origin["baseline_score"]) == (0.5, 0.25)
    # The selected model's weights, not the other candidate's.
    for key, value in selected.state_dict().items():
        assert torch.equal(saved["model"][key], value)


def test_export_refuses_a_selection_it_was_not_given(capsys, data, tmp_path):
    save_trained(tmp_path / "A1.pt", "small_deeplab", 3, "folder")
    (tmp_path / "final.json").write_text(json.dumps({"selected": "B1"}))
    code, err = run(capsys, "export", "--final", tmp_path / "final.json", "--candidate", f"A1={tmp_path / 'A1.pt'}",
                    "--dataset", "folder", "--data", data, "--experiment", "e", "--run", "e", "--method", "dmt",
                    "--out", tmp_path / "m.pt")
    assert code == 2 and "selected 'B1', which is not among the candidates A1" in err
    save_trained(tmp_path / "B1.pt", "small_deeplab", 5, "folder")
    code, err = run(capsys, "export", "--final", tmp_path / "final.json", "--candidate", f"B1={tmp_path / 'B1.pt'}",
                    "--dataset", "folder", "--data", data, "--experiment", "e", "--run", "e", "--method", "dmt",
                    "--out", tmp_path / "m.pt")
    assert code == 2 and "does not fit this run: its num_classes is 5, the run's 3" in err
    assert not (tmp_path / "m.pt").exists()


@pytest.fixture
def images(tmp_path):
    """New images of several sizes and modes (a JPEG, a grey PNG, an RGBA PNG, two alike)."""
    folder = tmp_path / "new"
    folder.mkdir()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(folder / "photo.jpg")
    Image.fromarray(rng.integers(0, 256, (9, 13), dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (21, 17, 4), dtype=np.uint8)).save(folder / "rgba.png")
    for name in ("same_a", "same_b"):
        Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    (folder / "README.txt").write_text("skipped: not an image")
    return folder


def direct(model, path, pad_to=CROP):
    """The model on one image alone, zero-padded to at least ``pad_to``, cropped back."""
    image = torch.from_numpy(read_image(path)).permute(2, 0, 1)[None]
    h, w = image.shape[-2:]
    padded = F.pad(image, (0, max(w, pad_to[1]) - w, 0, max(h, pad_to[0]) - h))
    with torch.inference_mode():
        probs = model(padded).float().softmax(1)[0, :, :h, :w]
    return probs.argmax(0).numpy(), probs.max(0).values.numpy()


@pytest.mark.parametrize("batch_size", [1, 4])
def test_predict_writes_a_palette_mask_per_image_at_its_own_size(capsys, exported, images, tmp_path, batch_size):
    model_file, model = exported
    out = tmp_path / "pred"
    code, _ = run(capsys, "predict", "--model", model_file, "--images", images, "--out", out,
                  "--batch-size", batch_size, "--confidence", "--overlay", "--device", "cpu")
    assert code == 0
    stems = ["grey", "photo", "rgba", "same_a", "same_b"]
    assert sorted(p.stem for p in out.glob("*.png")) == stems
    for stem in stems:
        source = next(images.glob(f"{stem}.*"))
        with Image.open(source) as original, Image.open(out / f"{stem}.png") as mask:
            assert mask.mode == "P" and mask.size == original.size
            assert mask.getpalette()[:9] == VOC_PALETTE[0:3] + [200, 100, 0] + VOC_PALETTE[6:9]
            label = np.asarray(mask)
        conf = np.load(out / "confidence" / f"{stem}.npy")
        assert conf.dtype == np.float16 and conf.shape == label.shape
        with Image.open(out / "overlay" / f"{stem}.jpg") as overlay:
            assert overlay.size == original.size and overlay.mode == "RGB"
        if batch_size == 1 or stem.startswith("same"):  # alone, or batched with its own size only
            expected, expected_conf = direct(model, source)
            assert np.array_equal(label, expected)
            np.testing.assert_allclose(conf, expected_conf, atol=1e-3)
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["images"] == 5 and summary["pad_to"] == list(CROP) and summary["origin"]["selected"] == "B1"
    assert sum(summary["class_pixel_share"].values()) == pytest.approx(1, abs=1e-5)


def test_predict_takes_a_list_of_images(capsys, exported, images, tmp_path):
    listing = images / "list.txt"
    listing.write_text("# two of them\nphoto.jpg\n\n" + str(images / "grey.png") + "\n")
    code, _ = run(capsys, "predict", "--model", exported[0], "--images", listing, "--out", tmp_path / "p")
    assert code == 0 and sorted(p.name for p in (tmp_path / "p").glob("*.png")) == ["grey.png", "photo.png"]
    assert not (tmp_path / "p" / "confidence").exists() and not (tmp_path / "p" / "overlay").exists()


def _training_model(tmp_path):
    save_trained(tmp_path / "model.pt", "small_deeplab", 3, "folder")
    return tmp_path / "model.pt"


@pytest.mark.parametrize("case, message", [
    ("empty folder", "no images (.jpg, .jpeg, .png) in"),
    ("same name twice", "would both be written as photo"),
    ("list names a missing file", "lists"),
    ("truncated image", "is corrupt or truncated"),
    ("missing folder", "does not exist"),
    ("a training model", "is a model from training, not an exported final model"),
])
def test_predict_stops_with_one_line(capsys, exported, tmp_path, case, message):
    folder = tmp_path / "in"
    folder.mkdir()
    model = exported[0]
    Image.new("RGB", (8, 8)).save(folder / "photo.jpg")
    if case == "empty folder":
        (folder / "photo.jpg").unlink()
    elif case == "same name twice":
        Image.new("RGB", (8, 8)).save(folder / "photo.png")
    elif case == "list names a missing file":
        (folder / "list.txt").write_text("photo.jpg\ngone.png\n")
        folder = folder / "list.txt"
        message = f"lists {tmp_path / 'in' / 'gone.png'}, which does not exist"
    elif case == "truncated image":
        data = (folder / "photo.jpg").read_bytes()
        (folder / "photo.jpg").write_bytes(data[:20])
        message = f"image {folder / 'photo.jpg'} is corrupt or truncated"
    elif case == "missing folder":
        folder = tmp_path / "nowhere"
    elif case == "a training model":
        model = _training_model(tmp_path)
    code, err = run(capsys, "predict", "--model", model, "--images", folder, "--out", tmp_path / "out")
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))


def test_classification_models_write_a_csv(capsys, tmp_path):
    from dmt.data.prepare.digits_cls import prepare_digits_cls

    data = tmp_path / "digits_cls"
    prepare_digits_cls(data, seed=0)
    save_trained(tmp_path / "iter2.pt", "wrn_10_2", 10, "digits_cls", seed=3)
    (tmp_path / "final_acc.json").write_text(json.dumps({"selected": "iter2", "accuracy": 0.9,
                                                         "baseline_accuracy": 0.8}))
    model = tmp_path / "final_model.pt"
    assert run(capsys, "export", "--final", tmp_path / "final_acc.json", "--candidate",
               f"iter1={tmp_path / 'x.pt'}", f"iter2={tmp_path / 'iter2.pt'}", "--dataset", "digits_cls",
               "--data", data, "--experiment", "c", "--run", "c", "--method", "dmt", "--out", model)[0] == 0
    meta = torch.load(model, weights_only=True)["meta"]
    assert meta["image_size"] == [8, 8] and meta["origin"]["iteration"] == 2 and "palette" not in meta
    images = tmp_path / "images"
    images.mkdir()
    for k, size in enumerate([(8, 8), (40, 30), (5, 9)]):
        Image.new("L" if k else "RGB", size, color=40 * k).save(images / f"im{k}.png")
    code, _ = run(capsys, "predict", "--model", model, "--images", images, "--out", tmp_path / "out")
    assert code == 0
    with open(tmp_path / "out" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["im0", "im1", "im2"]
    for r in rows:
        assert r["class"] == meta["class_names"][int(r["class_index"])] and 0 < float(r["probability"]) <= 1
    code, err = run(capsys, "predict", "--model", model, "--images", images, "--out", tmp_path / "o2", "--overlay")
    assert code == 2 and "for segmentation models" in err


class Payload:
    """Pickled as a call of exec: loading the file with weights_only=False writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


def test_predict_refuses_a_model_file_carrying_code(capsys, exported, images, tmp_path):
    saved = torch.load(exported[0], weights_only=True)
    marker = tmp_path / "ran"
    torch.save({**saved, "note": Payload(marker)}, tmp_path / "crafted.pt")
    code, err = run(capsys, "predict", "--model", tmp_path / "crafted.pt", "--images", images,
                    "--out", tmp_path / "out")
    assert not marker.exists(), "loading the model ran the code it carries"
    assert code == 2 and str(tmp_path / "crafted.pt") in err
    assert not (tmp_path / "out").exists()


def test_training_refuses_to_start_from_a_model_file_carrying_code(capsys, data, tmp_path):
    saved = torch.load(_training_model(tmp_path), weights_only=True)
    marker = tmp_path / "ran"
    torch.save({**saved, "note": Payload(marker)}, tmp_path / "crafted.pt")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "kind": "train", "dataset": "folder", "data": str(data),
        "labeled": [str(Path(data) / "ImageSets/Segmentation/labeled.txt")],
        "hyper": {"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": list(CROP), "seed": 0},
        "init": {"from": str(tmp_path / "crafted.pt")}}))
    code, err = run(capsys, "train", "--spec", spec, "--out", tmp_path / "out.pt")
    assert not marker.exists(), "loading the init model ran the code it carries"
    assert code == 2 and str(tmp_path / "crafted.pt") in err
    assert not (tmp_path / "out.pt").exists()


def test_the_plan_exports_what_final_can_select():

    import yaml

    from dmt.cli import build_parser
    from dmt.plan import Plan, PlanError, flags

    plan = Plan(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    seg = plan.run("digits_1_20")
    assert seg.final_candidates() == {"A5": "results/digits_1_20/iter5/A/model.pt",
                                      "B5": "results/digits_1_20/iter5/B/model.pt"}
    assert "--pad-to 64 64" in " ".join(flags(seg.export_options()))
    assert "--candidate A5=results/digits_1_20/iter5/A/model.pt" in " ".join(flags(seg.export_options()))
    cls = plan.run("digits_cls_100")
    assert list(cls.final_candidates()) == [f"iter{i}" for i in range(1, 6)]
    assert cls.final_candidates()["iter3"] == "results/digits_cls_100/iter3/A/model.pt"
    assert "--pad-to" not in " ".join(flags(cls.export_options()))
    assert seg.deliverables() == ["results/digits_1_20/final_miou.json", "results/digits_1_20/final_model.pt"]
    # The rule's flags reach the command whole: every candidate, not the last one.
    args = build_parser().parse_args(["export", *flags(cls.export_options()), "--final", "f", "--data", "d",
                                      "--out", "o"])
    assert args.candidate == [f"iter{i}=results/digits_cls_100/iter{i}/A/model.pt" for i in range(1, 6)]
    with pytest.raises(PlanError, match="has no predict_images"):
        plan.experiment("digits_1_20").predict_images()


# ----------------------------------------------------------------------------- safety (issue 19)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.fixture
def pngs(tmp_path):
    """Three PNG images (the form a mask takes: written over, an image is lost) and one JPEG."""
    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / "d.jpg")
    return folder


@pytest.mark.parametrize("case", ["same folder", "same folder, another spelling", "relative and absolute",
                                  "a link to the images", "a folder above the images",
                                  "a list naming images in out", "an output subfolder linked to the images"])
def test_predict_refuses_an_output_that_would_replace_an_input(capsys, exported, pngs, tmp_path,
                                                               monkeypatch, case):
    images, out, flags = pngs, pngs, []
    named = pngs / "a.png"
    if case == "same folder, another spelling":
        out = pngs / ".." / "pngs" / "."
    elif case == "relative and absolute":
        monkeypatch.chdir(pngs)
        out = Path(".")
    elif case == "a link to the images":
        out = tmp_path / "link"
        out.symlink_to(pngs, target_is_directory=True)
    elif case == "a folder above the images":
        out = tmp_path
    elif case == "a list naming images in out":
        out = tmp_path / "out"
        out.mkdir()
        (pngs / "a.png").rename(out / "a.png")
        named = out / "a.png"
        images = tmp_path / "list.txt"
        images.write_text(f"{named}\npngs/b.png\n")
    elif case == "an output subfolder linked to the images":
        out = tmp_path / "out"
        out.mkdir()
        (out / "overlay").symlink_to(pngs, target_is_directory=True)
        named, flags = pngs / "d.jpg", ["--overlay"]
    before = _files(tmp_path)
    code, err = run(capsys, "predict", "--model", exported[0], "--images", images, "--out", out, *flags)
    assert code == 2 and err.startswith("error: ") and named.name in err and "--out" in err, err
    assert _files(tmp_path) == before, "an input was replaced"


def test_predict_refuses_a_folder_holding_files_it_did_not_write(capsys, exported, pngs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"the user's own b.png")  # where predict would write b's mask
    before = _files(out)
    code, err = run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", out)
    assert code == 2 and f"holds {out / 'b.png'}, which predict did not write" in err, err
    assert "there is no predictions.json" in err and _files(out) == before
    # A record that does not list a file does not make it predict's.
    assert run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", tmp_path / "p")[0] == 0
    (tmp_path / "p" / "notes.txt").write_text("mine")
    before = _files(tmp_path / "p")
    code, err = run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", tmp_path / "p")
    assert code == 2 and f"holds {tmp_path / 'p' / 'notes.txt'}" in err and "not among the files" in err, err
    assert _files(tmp_path / "p") == before


def test_a_rerun_replaces_its_own_files_and_removes_those_it_no_longer_writes(capsys, exported, pngs, tmp_path):
    out = tmp_path / "out"
    assert run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", out, "--overlay")[0] == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["complete"] is True and set(record["files"]) == set(_files(out)) - {"predictions.json"}
    assert "overlay/d.jpg" in record["files"]
    # A hand-edited record naming files outside the shapes predict writes: none is removed.
    victim = tmp_path / "keep.png"
    victim.write_bytes(b"keep")
    record["files"] += ["../keep.png", str(victim)]
    (out / "predictions.json").write_text(json.dumps(record))
    (pngs / "c.png").unlink()
    assert run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", out)[0] == 0
    assert sorted(_files(out)) == ["a.png", "b.png", "d.png", "predictions.json"]
    assert not (out / "overlay").exists()
    assert json.loads((out / "predictions.json").read_text())["files"] == ["a.png", "b.png", "d.png"]
    assert victim.read_bytes() == b"keep"


def test_a_rerun_after_a_failed_run_is_not_refused(capsys, exported, pngs, tmp_path):
    """A run that fails half-way has recorded its files before writing any (complete: false):
    the rerun may replace them; what a killed write left (a temporary) is removed."""
    out = tmp_path / "out"
    good = (pngs / "c.png").read_bytes()
    (pngs / "c.png").write_bytes(good[: len(good) // 2])  # its header reads, its pixels do not
    code, err = run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", out,
                    "--batch-size", "1")
    assert code == 2 and f"image {pngs / 'c.png'} is corrupt or truncated" in err, err
    record = json.loads((out / "predictions.json").read_text())
    assert record == {"complete": False, "files": ["a.png", "b.png", "c.png", "d.png"]}
    assert (out / "a.png").exists()  # batch 1, c is read after a, b and d (same sizes: by id)
    (out / ".a.png.k3j9x0ab.tmp").write_bytes(b"half")
    (pngs / "c.png").write_bytes(good)
    assert run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", out)[0] == 0
    assert sorted(_files(out)) == ["a.png", "b.png", "c.png", "d.png", "predictions.json"]


def _worker_lines(proc) -> list[str]:
    lines = proc.stderr.splitlines()
    first = next((k for k, line in enumerate(lines) if line.startswith("error: ")), len(lines))
    return lines[first:]


def test_an_error_in_a_dataloader_worker_is_its_one_line(exported, pngs, tmp_path):
    import subprocess
    import sys

    data = (pngs / "c.png").read_bytes()
    (pngs / "c.png").write_bytes(data[: len(data) // 2])
    proc = subprocess.run([sys.executable, "-m", "dmt", "predict", "--model", str(exported[0]), "--images",
                           str(pngs), "--out", str(tmp_path / "out"), "--num-workers", "2", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert _worker_lines(proc) == [f"error: image {pngs / 'c.png'} is corrupt or truncated (image file is "
                                   f"truncated)"], proc.stderr


def test_a_training_loader_worker_error_is_its_one_line(data, tmp_path):
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    image_id = (copy / "ImageSets/Segmentation/labeled.txt").read_text().split()[0]
    image = next((copy / "JPEGImages").glob(f"{image_id}.*"))
    image.write_bytes(image.read_bytes()[:200])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "kind": "train", "dataset": "folder", "data": str(copy),
        "labeled": [str(copy / "ImageSets/Segmentation/labeled.txt")],
        "hyper": {"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": list(CROP), "seed": 0},
        "init": {"model": "small_deeplab", "seed": 0, "weights": "scratch"}}))
    proc = subprocess.run([sys.executable, "-m", "dmt", "train", "--spec", str(spec), "--out",
                           str(tmp_path / "out.pt"), "--num-workers", "2", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = _worker_lines(proc)
    assert len(lines) == 1 and str(image) in lines[0] and "corrupt or truncated" in lines[0], proc.stderr


class _Raising(torch.utils.data.Dataset):
    def __init__(self, error):
        self.error = error

    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise self.error


@pytest.mark.parametrize("kind", ["DMTError", "UnsafeFile", "NonFiniteOutput"])
def test_every_dmt_error_keeps_its_message_across_a_worker(kind):
    """torch rebuilds a worker's exception from its traceback's text: the type keeps its own message."""
    import dmt.errors

    error = getattr(dmt.errors, kind)
    # One worker: torch's shutdown after a worker's error waits 5 s for each worker (measured), and
    # one shows the rebuilding as well as two.
    loader = torch.utils.data.DataLoader(_Raising(error(f"file x.png: what to do ({kind})")), num_workers=1)
    with pytest.raises(error) as caught:
        next(iter(loader))
    assert str(caught.value) == f"file x.png: what to do ({kind})"


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (as a forged or huge one does)."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side", [30000, 10000])  # over Pillow's bomb error; over the pixel budget only
def test_an_oversized_image_is_one_line_before_any_work(capsys, exported, pngs, tmp_path, side):
    big = _png_claiming(pngs / "big.png", side, side)
    code, err = run(capsys, "predict", "--model", exported[0], "--images", pngs, "--out", tmp_path / "out")
    assert code == 2 and err.startswith(f"error: image {big} has ") and "pixels" in err, err
    assert not (tmp_path / "out").exists()


def test_planning_reads_no_torch():
    """The workflow's predict rule fingerprints its images while planning: dmt.deliver.predict is cheap."""
    import subprocess
    import sys

    code = "import sys, dmt.deliver.predict; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_the_fingerprint_follows_names_and_contents(pngs, tmp_path):
    from dmt.deliver.predict import images_fingerprint

    first = images_fingerprint(pngs)
    assert images_fingerprint(pngs) == first
    with Image.open(pngs / "b.png") as other:
        other.save(pngs / "a.png")  # in place: same name
    changed = images_fingerprint(pngs)
    assert changed != first
    (pngs / "a.png").rename(pngs / "e.png")
    assert images_fingerprint(pngs) not in (first, changed)
    listing = tmp_path / "list.txt"
    listing.write_text("pngs/b.png\n")
    assert images_fingerprint(listing) != images_fingerprint(pngs)


@pytest.mark.slow  # the predict rule run three times through Snakemake (~11 s)
def test_the_rule_predicts_again_when_an_image_changes_in_place(capsys, exported, tmp_path):
    """Snakemake on a folder configuration whose final model is given: the predict rule alone."""
    import shutil

    from helpers.files import make_mini_folder
    from helpers.workflow import planned, snakemake, write_config

    new = tmp_path / "new"
    new.mkdir()
    rng = np.random.default_rng(3)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(new / f"n{k}.png")
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, {"folder_root": str(make_mini_folder(tmp_path / "mine")), "experiments": {"mine": {
        "dataset": "folder", "labeled": "all", "crop_size": list(CROP), "predict_images": str(new)}}})
    (work / "results/mine").mkdir(parents=True)
    shutil.copy(exported[0], work / "results/mine/final_model.pt")
    target = ["results/mine/predictions", "--allowed-rules", "predict"]
    snakemake(work, "--cores", "1", *target)
    predictions = work / "results/mine/predictions"
    assert json.loads((predictions / "predictions.json").read_text())["images"] == 2
    assert planned(work, *target) == {}
    folder_time = new.stat().st_mtime_ns
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(new / "n0.png")  # in place
    assert new.stat().st_mtime_ns == folder_time
    assert planned(work, *target) == {"predict": 1}
    Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(new / "n2.png")
    assert planned(work, *target) == {"predict": 1}
    # The command into the rule's folder (Snakemake's mark in it is not the user's file).
    code, _ = run(capsys, "predict", "--model", exported[0], "--images", new, "--out", predictions)
    assert code == 0 and sorted(p.name for p in predictions.glob("*.png")) == ["n0.png", "n1.png", "n2.png"]
