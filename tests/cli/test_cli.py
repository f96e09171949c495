"""Every bad input ends with one `error:` line and exit status 2, and writes nothing."""

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.models import crafted
from helpers.processes import run_python

from dmt.cli import main
from dmt.data.prepare.digits import prepare_digits
from dmt.models import build_model, model_meta
from dmt.models.files import save_model
from dmt.store.atomic import write_json
from dmt.store.integrity import file_digest, sidecar_fields

HYPER = {"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": [32, 32], "seed": 0}
# Spec files of the commands below live apart from the outputs the tests look at.
SPECS = Path(tempfile.mkdtemp(prefix="dmt-test-specs-"))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("d") / "digits"
    prepare_digits(root, seed=0, n_train=10, n_val=5)
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def fails(capsys, *argv) -> str:
    """The one error line of a command that must fail as the user's error: exit 2, no traceback."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    return last


def model_file(path, dataset="digits", classes=11, nan=False, name="small_deeplab"):
    model = build_model(name, classes, seed=0)
    if nan:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
    save_model(path, model.state_dict(), {**model_meta(name, classes, "scratch"), "dataset": dataset})
    return path


def ids(digits, split="train"):
    return digits / "ImageSets/Segmentation" / f"{split}.txt"


def evaluate(digits, model, out, dataset="digits"):
    return ("evaluate", "--dataset", dataset, "--data", digits, "--model", model,
            "--valtiny", ids(digits, "val"), "--out", out)


def write_spec(path, digits, **fields):
    spec = {"kind": "train", "dataset": "digits", "data": str(digits), "labeled": [str(ids(digits))],
            "hyper": HYPER, "init": {"model": "small_deeplab", "seed": 0, "weights": "scratch"}}
    spec.update(fields)
    Path(path).write_text(json.dumps(spec))
    return path


def pseudo(digits, teacher, out):
    spec = Path(tempfile.mkstemp(suffix=".json", dir=SPECS)[1])
    spec.write_text(json.dumps({"kind": "pseudo", "dataset": "digits", "data": str(digits),
                                "teacher": str(teacher), "unlabeled": str(ids(digits)), "alpha": 0.5,
                                "batch_size": 8}))
    return ("pseudo", "--spec", spec, "--out", out)


def finetune(digits, out, pseudo_file=None, init=None, labeled=None):
    fields = {"hyper": {**HYPER, "pseudo_per_batch": 1}}
    if pseudo_file:
        fields.update(pseudo=str(pseudo_file), unlabeled=str(ids(digits)))
    if init:
        fields["init"] = {"from": str(init)}
    if labeled:
        fields["labeled"] = [str(labeled)]
    spec = write_spec(tempfile.mkstemp(suffix=".json", dir=SPECS)[1], digits, **fields)
    return ("train", "--spec", spec, "--out", out)


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in ("prepare", "split", "dms", "train", "pseudo", "evaluate", "final", "export", "predict"):
        assert command in out


def test_missing_data_folder(capsys, tmp_path):
    code, err = run(capsys, "split", "--data", tmp_path / "nope", "--labeled", "1/2", "--valtiny", "1",
                    "--seed", "0", "--out-dir", tmp_path / "out")
    assert code == 2 and err.startswith("error: data folder") and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_split_id_not_in_the_data_set(capsys, tmp_path, digits):
    ids = tmp_path / "ids.txt"
    ids.write_text("digits_train_00000\nnot_an_id\n")
    spec = write_spec(tmp_path / "spec.json", digits, labeled=[str(ids)])
    code, err = run(capsys, "train", "--spec", spec, "--out", tmp_path / "m.pt")
    assert code == 2 and "1 split ids are not in the data set" in err and "not_an_id" in err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("fields, message", [
    ({"hyper": {"epochs": 1}}, "bad hyper-parameters"),
    ({"learning_rate": 1}, "unknown keys ['learning_rate']"),
    ({"init": {"model": "small_deeplab"}, "kind": "pseudo"}, "is not a train spec"),
    ({"init": {}}, "either {'from': model file}"),
])
def test_bad_spec_names_the_problem(capsys, tmp_path, digits, fields, message):
    spec = write_spec(tmp_path / "spec.json", digits, **fields)
    code, err = run(capsys, "train", "--spec", spec, "--out", tmp_path / "m.pt")
    assert code == 2 and err.startswith("error:") and message in err


def test_spec_that_is_not_json(capsys, tmp_path):
    (tmp_path / "spec.json").write_text("epochs: 1\n")
    code, err = run(capsys, "train", "--spec", tmp_path / "spec.json", "--out", tmp_path / "m.pt")
    assert code == 2 and "is not readable JSON" in err


def test_corrupt_pseudo_label_file(capsys, tmp_path, digits):
    """A broken HDF5 file whose sidecar matches it (so that the digest check passes) is refused
    by the file's own seal, before HDF5 parses it."""
    bad = tmp_path / "pseudo.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    write_json(tmp_path / "pseudo.json", sidecar_fields(bad))
    err = fails(capsys, *finetune(digits, tmp_path / "m.pt", pseudo_file=bad))
    assert "pseudo.h5 is not a sealed dmt HDF5 file" in err


def test_missing_teacher(capsys, tmp_path, digits):
    spec = tmp_path / "pseudo.spec.json"
    spec.write_text(json.dumps({"kind": "pseudo", "dataset": "digits", "data": str(digits),
                                "teacher": str(tmp_path / "none.pt"), "alpha": 0.2, "batch_size": 4,
                                "unlabeled": str(digits / "ImageSets/Segmentation/train.txt")}))
    code, err = run(capsys, "pseudo", "--spec", spec, "--out", tmp_path / "p.h5")
    assert code == 2 and "model file" in err and not (tmp_path / "p.h5").exists()


def test_log_option_sends_everything_to_the_log_and_the_error_to_the_console(tmp_path, digits):
    import subprocess
    import sys

    spec = write_spec(tmp_path / "spec.json", digits, labeled=[str(tmp_path / "missing.txt")])
    log = tmp_path / "logs" / "train.log"
    proc = subprocess.run([sys.executable, "-m", "dmt", "--log", str(log), "train", "--spec", str(spec),
                           "--out", str(tmp_path / "m.pt")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"error: id list {tmp_path / 'missing.txt'} does not exist"]
    assert proc.stderr.strip() in log.read_text()


def test_a_model_file_carrying_code_is_refused_by_every_command(capsys, tmp_path, digits):
    marker = tmp_path / "marker"
    evil = crafted(tmp_path / "model.pt", marker)
    for argv in (evaluate(digits, evil, tmp_path / "m.json"), pseudo(digits, evil, tmp_path / "p.h5"),
                 finetune(digits, tmp_path / "f.pt", init=evil)):
        err = fails(capsys, *argv)
        assert err.startswith(f"error: {evil} is refused: it holds objects other than tensors")
    crafted(tmp_path / "f.pt.ckpt", marker)  # a planted training checkpoint
    assert fails(capsys, *finetune(digits, tmp_path / "f.pt")).startswith(f"error: {tmp_path / 'f.pt.ckpt'} is refused")
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pt.ckpt", "model.pt"]


def test_files_that_are_not_models_are_one_line(capsys, tmp_path, digits):
    text, listed, unknown = tmp_path / "text.pt", tmp_path / "list.pt", tmp_path / "unknown.pt"
    text.write_text("these are not weights\n")
    torch.save([1, 2], listed)
    torch.save({"model": {}, "meta": {"model": "unet", "num_classes": 11, "dataset": "digits"}}, unknown)
    assert "not a file written by torch.save" in fails(capsys, *evaluate(digits, text, tmp_path / "m.json"))
    assert "is not a dmt model: it holds a list" in fails(capsys, *evaluate(digits, listed, tmp_path / "m.json"))
    unknown_model = fails(capsys, *pseudo(digits, unknown, tmp_path / "p.h5"))
    assert "is a model 'unet', which this dmt does not know" in unknown_model
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "p.h5").exists()


def test_a_model_of_another_data_set_is_refused_before_any_work(capsys, tmp_path, digits):
    voc = model_file(tmp_path / "voc.pt", dataset="voc", classes=21)
    for argv in (pseudo(digits, voc, tmp_path / "p.h5"), finetune(digits, tmp_path / "f.pt", init=voc),
                 evaluate(digits, voc, tmp_path / "m.json")):
        err = fails(capsys, *argv)
        assert err == (f"error: {voc} does not fit this run: its dataset is 'voc', the run's 'digits', "
                       f"its num_classes is 21, the run's 11")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voc.json", "voc.pt"]


def test_nan_model_is_an_error_not_a_score(capsys, tmp_path, digits):
    nan = model_file(tmp_path / "nan.pt", nan=True)
    for argv in (evaluate(digits, nan, tmp_path / "m.json"), pseudo(digits, nan, tmp_path / "p.h5")):
        err = fails(capsys, *argv)
        assert err.startswith(f"error: {nan}: the model produced NaN or infinite logits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.json", "nan.pt"]


def test_nan_classifier_is_an_error_not_an_accuracy(capsys, tmp_path):
    from dmt.data.prepare.digits_cls import prepare_digits_cls

    data = prepare_digits_cls(tmp_path / "digits_cls") and tmp_path / "digits_cls"
    nan = model_file(tmp_path / "nan.pt", dataset="digits_cls", classes=10, nan=True, name="wrn_10_2")
    (tmp_path / "valtiny.txt").write_text((data / "lists" / "train.txt").read_text().split("\n", 1)[0] + "\n")
    err = fails(capsys, "evaluate", "--dataset", "digits_cls", "--data", data, "--model", nan,
                "--valtiny", tmp_path / "valtiny.txt", "--out", tmp_path / "m.json")
    assert err.startswith(f"error: {nan}: the model produced NaN or infinite logits")
    assert not (tmp_path / "m.json").exists()


def test_a_small_models_evaluation_and_labelling_import_no_torchvision(tmp_path, digits):
    # torchvision (which imports torch._dynamo) adds about 2 s to a job, more than the demo's
    # evaluations take; only training's augmentation and the torchvision-backed models need it.
    model = model_file(tmp_path / "model.pt")
    argvs = [[str(a) for a in evaluate(digits, model, tmp_path / "metrics.json")],
             [str(a) for a in pseudo(digits, model, tmp_path / "pseudo_A.h5")]]
    script = ("import sys\nfrom dmt.cli import main\n"
              f"for argv in {argvs!r}:\n    assert main(argv) == 0, argv\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))")
    assert run_python(script).stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "pseudo_A.h5").is_file()


def test_outputs_record_digests_that_consumers_check(capsys, tmp_path, digits):
    """train writes model.json, pseudo writes the h5's digest in its sibling JSON and removes
    what a killed run of it left; train --pseudo checks the digest before opening the file."""
    teacher = tmp_path / "A" / "model.pt"
    assert main([str(a) for a in finetune(digits, teacher)]) == 0
    side = json.loads((tmp_path / "A" / "model.json").read_text())
    assert side["file"] == "model.pt" and side["digest"] == file_digest(teacher)
    assert side["meta"]["dataset"] == "digits" and side["summary"]["steps"] == 5 and side["spec"]["lr"] == 0.01

    out = tmp_path / "pseudo_A.h5"
    stale = [tmp_path / ".pseudo_A.h5.k1ll3d.h5.tmp", tmp_path / ".pseudo_A.json.k1ll3d.tmp"]
    for path in stale:
        path.write_bytes(b"left by a killed run")
    assert main([str(a) for a in pseudo(digits, teacher, out)]) == 0
    summary = json.loads((tmp_path / "pseudo_A.json").read_text())
    assert summary["file"] == "pseudo_A.h5" and summary["digest"] == file_digest(out)
    assert summary["teacher_digest"] == side["digest"] and not any(p.exists() for p in stale)
    capsys.readouterr()

    data = bytearray(out.read_bytes())
    data[len(data) // 2: len(data) // 2 + 2048] = bytes(2048)
    out.write_bytes(bytes(data))
    err = fails(capsys, *finetune(digits, tmp_path / "B" / "model.pt", pseudo_file=out, init=teacher))
    assert err == (f"error: {out} does not match the digest its job recorded in pseudo_A.json (damaged or "
                   f"replaced since); rerun the job that makes it: snakemake --forcerun {out}")
    (tmp_path / "pseudo_A.json").unlink()
    err = fails(capsys, *finetune(digits, tmp_path / "B" / "model.pt", pseudo_file=out, init=teacher))
    assert err.startswith(f"error: {out} has no pseudo_A.json beside it recording its digest")
    assert not (tmp_path / "B").exists()


def test_a_folder_that_cannot_be_written_fails_before_the_work(capsys, tmp_path, digits, monkeypatch):
    import dmt.models.files

    results = tmp_path / "results"
    results.mkdir()
    real = tempfile.mkstemp

    def mkstemp(prefix="", suffix="", dir=None):  # root ignores permissions: stand in for EACCES
        if os.fspath(dir) == os.fspath(results):
            raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "x" + suffix))
        return real(prefix=prefix, suffix=suffix, dir=dir)

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was found unwritable")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(dmt.models.files, "load_model", never)
    err = fails(capsys, *evaluate(digits, tmp_path / "model.pt", results / "metrics.json"))
    assert err == (f"error: permission denied writing {results / 'metrics.json'}: make {results} writable "
                   f"(or write the results elsewhere) and rerun")


def test_os_errors_on_user_paths_are_one_line(capsys, tmp_path, digits):
    err = fails(capsys, *evaluate(digits, tmp_path / "model.pt", "/dev/null/metrics.json"))
    assert err.startswith("error: Not a directory: /dev/null")
    binary = tmp_path / "ids.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "is not a text file of ids" in fails(capsys, *finetune(digits, tmp_path / "m.pt", labeled=binary))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_one_line(capsys, tmp_path, digits):
    err = fails(capsys, *evaluate(digits, model_file(tmp_path / "m.pt"), tmp_path / "m.json"), "--device", "cuda")
    assert err == "error: --device cuda: no CUDA device is visible here; use --device cpu or auto"
