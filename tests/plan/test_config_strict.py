"""The configuration is read strictly and every configuration or planning error is one line,
before any job (issue #19): duplicate keys, alias bombs, schema errors, runtime knobs on the
command line, unknown models and devices, targets of no run, broken data folders."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from helpers.files import make_mini_folder
from helpers.workflow import TINY, snakemake, write_config

from dmt.configuration import MAX_EXPANDED_NODES, ConfigError, load_yaml, validate

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def one_error_line(proc) -> str:
    """The run failed with exactly one `error:` line and no traceback or Snakemake frames."""
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert not any(w in proc.stderr for w in ("Traceback", "File \"", "Exception", "Wildcards:")), proc.stderr[-3000:]
    return errors[0]


def bomb(levels: int = 9, width: int = 9) -> str:
    text = "a0: &a0 [" + ", ".join(['"lol"'] * width) + "]\n"
    for k in range(1, levels):
        text += f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * width) + "]\n"
    return text


# -- the YAML reader
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dmt:\n  gamma1: 3\n  lr: 0.1\n  gamma1: 0.5\n")
    with pytest.raises(ConfigError, match=r"key 'gamma1' is given twice in one mapping \(lines 2 and 4\)"):
        load_yaml(path)


def test_merges_and_plain_aliases_stay_allowed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3}\nlist: &l [1, 2]\nagain: *l\n")
    assert load_yaml(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "list": [1, 2], "again": [1, 2]}
    # The repository's own configuration uses anchors and merges, and expands far below the bound.
    assert load_yaml(REPO / "config" / "config.yaml")["experiments"]["digits_1_20_seed1"]["dataset"] == "digits"


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(bomb())
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"more than {MAX_EXPANDED_NODES:,}"):
        load_yaml(path)
    assert time.perf_counter() - start < 1


def test_a_schema_error_is_one_short_line_naming_the_key():
    config = json.loads(json.dumps(yaml.safe_load((REPO / "config" / "config.yaml").read_text())))  # unshared
    config["experiments"]["digits_1_20"]["dmt"]["gamma1"] = -1
    with pytest.raises(ConfigError) as e:
        validate(config, SCHEMA)
    assert str(e.value) == "config: experiments.digits_1_20.dmt.gamma1 = -1 is not valid; expected a number >= 0"
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["defaults"]["device"] = "gpu"
    with pytest.raises(ConfigError, match="defaults.device = 'gpu' is not valid; expected where jobs run: auto, cpu"):
        validate(config, SCHEMA)


def test_the_model_list_of_the_schema_is_the_registry():
    from dmt.models import MODELS

    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["$defs"]["experiment"]["properties"]["model"]["enum"]) == set(MODELS)


# -- through Snakemake
def test_duplicate_keys_in_the_config_file_stop_the_workflow(tmp_path):
    write_config(tmp_path, TINY)
    path = tmp_path / "config" / "config.yaml"
    path.write_text(path.read_text() + "digits:\n  seed: 1\n  n_train: 60\n  n_val: 20\n")
    line = one_error_line(snakemake(tmp_path, "-n", check=False))
    assert "key 'digits' is given twice" in line and "config.yaml" in line


def test_an_alias_bomb_under_an_unknown_key_fails_in_seconds(tmp_path):
    write_config(tmp_path, TINY)
    path = tmp_path / "config" / "config.yaml"
    path.write_text(path.read_text() + "bomb:\n" + "".join(f"  {line}\n" for line in bomb().splitlines()))
    start = time.perf_counter()
    line = one_error_line(snakemake(tmp_path, "-n", check=False))
    assert "aliases" in line and time.perf_counter() - start < 60


def test_runtime_knobs_work_on_the_command_line(tmp_path):
    write_config(tmp_path, TINY)
    out = snakemake(tmp_path, "-n", "-p", "--cores", "2", "results/tiny/iter0/A/model.pt", "--config",
                    "device=cpu", "threads=2").stdout
    assert "--device cpu --threads 2" in out
    line = one_error_line(snakemake(tmp_path, "-n", "--config", "device=gpu", check=False))
    assert "device" in line and "auto, cpu, cuda, cuda:N or mps" in line
    line = one_error_line(snakemake(tmp_path, "-n", "--config", "gamma1=3", check=False))
    assert "unknown key 'gamma1' at (top level)" in line


@pytest.mark.parametrize("key, value, message", [
    ("model", "resnet9000", "experiments.tiny.model = 'resnet9000' is not valid; expected one of small_deeplab"),
    ("weights", ["imagenet:/no/such/weights.pth", "scratch"], "/no/such/weights.pth is not a file"),
])
def test_values_the_plan_can_check_fail_before_any_job(tmp_path, key, value, message):
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"][key] = value
    if key == "weights":
        config["experiments"]["tiny"]["model"] = "deeplab_v2"
    write_config(tmp_path, config)
    line = one_error_line(snakemake(tmp_path, "--cores", "1", "results/tiny/final_miou.json", check=False))
    assert message in line
    assert not (tmp_path / "resources").exists()


@pytest.mark.parametrize("target, message", [
    ("results/nosuch/final_miou.json", "no run 'nosuch' in this configuration; runs: tiny"),
    ("results/tiny/nosuch/final_miou.json", "experiment tiny has no run 'tiny/nosuch'"),
    ("results/tiny/iter7/A/model.pt", "is not part of run tiny"),
    ("results/tiny/iter3/pseudo_A.h5", "is not part of run tiny"),
])
def test_a_target_of_no_run_is_one_line(tmp_path, target, message):
    write_config(tmp_path, TINY)
    assert message in one_error_line(snakemake(tmp_path, "-n", target, check=False))


def _folder_config(root: Path) -> dict:
    return {"folder_root": str(root), "experiments": {"mine": {
        "dataset": "folder", "labeled": "all", "valtiny": 1, "crop_size": [32, 32],
        "baseline": {"oracle_epochs": 1, "lr": 0.01, "batch_size": 2},
        "dmt": {"alphas": [1.0], "epochs": 1, "batch_size": 4, "pseudo_per_batch": 2}}}}


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "unlabeled/images/gone.png").symlink_to(root / "nowhere.png"), "gone.png"),
    (lambda root: (root / "unlabeled/images/Thumbs.db").write_bytes(b"x"), "Thumbs.db"),
    (lambda root: (root / "unlabeled/images/photo.webp").write_bytes(b"x"), "photo.webp"),
])
def test_a_broken_data_folder_is_one_line_while_planning(tmp_path, damage, message):
    root = make_mini_folder(tmp_path / "mine")
    damage(root)
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, _folder_config(root))
    assert message in one_error_line(snakemake(work, "-n", check=False))


def test_a_failed_re_prepare_loses_nothing_and_restoring_the_folder_replans_nothing(tmp_path):
    root = make_mini_folder(tmp_path / "mine")
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, _folder_config(root))
    snakemake(work, "--cores", "1", "resources/splits/mine/labeled.txt")
    prepared = sorted((work / "resources" / "data").glob("folder-*"))
    assert len(prepared) == 1 and (prepared[0] / ".complete.json").is_file()
    # A zero-byte image added: its preparation fails with one line naming it.
    bad = root / "unlabeled" / "images" / "empty.png"
    bad.write_bytes(b"")
    proc = snakemake(work, "--cores", "1", "resources/splits/mine/labeled.txt", check=False)
    assert proc.returncode != 0 and "empty.png" in proc.stderr
    assert (prepared[0] / ".complete.json").is_file()  # what the split was made from is still there
    bad.unlink()
    out = snakemake(work, "-n", "resources/splits/mine/labeled.txt").stdout
    assert "Nothing to be done" in out
