"""Every bad input ends with one `error:` line and exit status 2, and writes nothing."""

import pytest

from dmt.atomic import write_json
from dmt.cli import main
from dmt.data.digits import prepare_digits
from dmt.integrity import sidecar_fields


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
    for command in ("prepare", "split", "dms", "train", "pseudo", "evaluate", "final"):
        assert command in out


def test_missing_data_folder(capsys, tmp_path):
    code, err = run(capsys, "split", "--data", tmp_path / "nope", "--labeled", "1/2", "--valtiny", "1",
                    "--seed", "0", "--out-dir", tmp_path / "out")
    assert code == 2 and err.startswith("error: data folder") and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_split_id_not_in_the_data_set(capsys, tmp_path, digits):
    ids = tmp_path / "ids.txt"
    ids.write_text("digits_train_00000\nnot_an_id\n")
    spec = ('{"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": [32, 32], "seed": 0, '
            '"model": {"name": "small_deeplab", "seed": 0}}')
    code, err = run(capsys, "train", "--dataset", "digits", "--data", digits, "--spec", spec,
                    "--labeled", ids, "--out", tmp_path / "m.pt")
    assert code == 2 and "1 split ids are not in the data set" in err and "not_an_id" in err
    assert not (tmp_path / "m.pt").exists()


def test_bad_spec_names_the_problem(capsys, tmp_path, digits):
    code, err = run(capsys, "train", "--dataset", "digits", "--data", digits, "--spec",
                    '{"epochs": 1, "model": {"name": "small_deeplab", "seed": 0}}',
                    "--labeled", digits / "ImageSets/Segmentation/train.txt", "--out", tmp_path / "m.pt")
    assert code == 2 and err.startswith("error: bad --spec") and "lr" in err


def test_corrupt_pseudo_label_file(capsys, tmp_path, digits):
    """A broken HDF5 file whose sidecar matches it (so that the digest check passes) is refused
    by the file's own seal, before HDF5 parses it."""
    bad = tmp_path / "pseudo.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    write_json(tmp_path / "pseudo.json", sidecar_fields(bad))
    spec = ('{"epochs": 1, "lr": 0.01, "batch_size": 2, "crop_size": [32, 32], "seed": 0, '
            '"pseudo_per_batch": 1, "model": {"name": "small_deeplab", "seed": 0}}')
    train_ids = digits / "ImageSets/Segmentation/train.txt"
    code, err = run(capsys, "train", "--dataset", "digits", "--data", digits, "--spec", spec,
                    "--labeled", train_ids, "--pseudo", bad, "--unlabeled", train_ids,
                    "--out", tmp_path / "m.pt")
    assert code == 2 and "pseudo.h5 is not a sealed dmt HDF5 file" in err


def test_missing_teacher(capsys, tmp_path, digits):
    code, err = run(capsys, "pseudo", "--dataset", "digits", "--data", digits, "--teacher",
                    tmp_path / "none.pt", "--unlabeled", digits / "ImageSets/Segmentation/train.txt",
                    "--alpha", "0.2", "--out", tmp_path / "p.h5")
    assert code == 2 and "model file" in err and not (tmp_path / "p.h5").exists()
