"""Every bad input ends with one `error:` line and exit status 2, and writes nothing."""

import json

import pytest

from dmt.cli import main
from dmt.data.digits import prepare_digits


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("d") / "digits"
    prepare_digits(root, seed=0, n_train=10, n_val=5)
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


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


HYPER = {"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": [32, 32], "seed": 0}


def write_spec(path, digits, **fields):
    spec = {"kind": "train", "dataset": "digits", "data": str(digits),
            "labeled": [str(digits / "ImageSets/Segmentation/train.txt")], "hyper": HYPER,
            "init": {"model": "small_deeplab", "seed": 0, "weights": "scratch"}}
    spec.update(fields)
    path.write_text(json.dumps(spec))
    return path


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
    bad = tmp_path / "pseudo.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    train_ids = str(digits / "ImageSets/Segmentation/train.txt")
    spec = write_spec(tmp_path / "spec.json", digits, pseudo=str(bad), unlabeled=train_ids,
                      hyper={**HYPER, "pseudo_per_batch": 1})
    code, err = run(capsys, "train", "--spec", spec, "--out", tmp_path / "m.pt")
    assert code == 2 and "corrupt or truncated" in err


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
