"""No configuration value ever runs as a shell command (issue #19).

Every placeholder of every rule's shell line is quoted (``{x:q}``: Snakemake quotes each item of
a list), the plan renders flags as argv lists, and free-form strings that name a choice are
validated by the schema. The end-to-end check gives every path-valued key of the schema a file
or folder whose name is a shell payload, prints every planned job's command (a dry run), and runs
each command with ``python`` replaced by a stub that records its argv: no payload may run, and
each path must reach the command as one whole argument.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from helpers.files import make_mini_folder
from helpers.workflow import TINY, snakemake, write_config

# $(...), backticks, both quotes and ; — each would create a PWNED_* file in the job's folder.
PAYLOAD = "p$(touch PWNED_dollar)`touch PWNED_tick`'q\"d;touch PWNED_semi;x"
STUB = """#!/bin/sh
# records the argv of `python ...` as one JSON line
exec "{python}" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "{log}"
"""


def shell_lines(smk: str) -> list[str]:
    """The string literals of every ``shell:`` directive of a rule file."""
    out, in_shell = [], False
    for line in smk.splitlines():
        if re.match(r"^\s+shell:\s*$", line):
            in_shell = True
        elif in_shell and re.match(r'^\s+"', line):
            out.append(line.strip())
        else:
            in_shell = False
    return out


def test_every_placeholder_of_every_shell_line_is_quoted():
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    lines = [line for path in rules for line in shell_lines(path.read_text())]
    assert len(lines) > 20  # the parser found the rules' commands
    unquoted = [(line, p) for line in lines for p in re.findall(r"\{[^{}]*\}", line) if not p.endswith(":q}")]
    assert not unquoted, f"placeholders without :q: {unquoted}"


def _payload_config(tmp: Path) -> tuple[dict, dict[str, Path]]:
    """A configuration in which every path-valued key names a file or folder called PAYLOAD."""
    paths = {}

    def place(key: str, kind: str) -> Path:
        path = tmp / key / PAYLOAD
        path.parent.mkdir(parents=True)
        if kind == "dir":
            path.mkdir()
        else:
            path.write_text("labeled_0\nlabeled_1\n" if kind == "list" else "weights")
        paths[key] = path
        return path

    for key in ("voc_root", "sbd_root", "cityscapes_root", "cifar10_root"):
        place(key, "dir")
    for key in ("coco_checkpoint", "imagenet_checkpoint", "weights_file"):
        place(key, "file")
    for key in ("labeled_list", "valtiny_list"):
        place(key, "list")
    paths["folder_root"] = make_mini_folder(tmp / "folder_root" / PAYLOAD)
    images = place("predict_images", "dir")
    (images / "one.png").write_bytes((paths["folder_root"] / "unlabeled/images/unlabeled_1.png").read_bytes())
    small = {"valtiny": 2, "crop_size": [32, 32], "dmt": {"alphas": [0.5]}}
    config = {**{k: str(paths[k]) for k in ("voc_root", "sbd_root", "cityscapes_root", "cifar10_root",
                                              "coco_checkpoint", "imagenet_checkpoint", "folder_root")},
              "digits": {**TINY["digits"]}, "pretrainings": TINY["pretrainings"],
              "experiments": {
                  "mine": {**small, "dataset": "folder", "labeled": "all", "predict_images": str(images),
                           "weights": ["scratch", f"imagenet:{paths['weights_file']}"], "model": "deeplab_v2"},
                  "lists": {**small, "dataset": "digits", "labeled": "all", "labeled_list": str(paths["labeled_list"]),
                            "valtiny_list": str(paths["valtiny_list"])},
                  "voc": {**small, "dataset": "voc", "model": "deeplab_v2", "weights": ["coco", "imagenet"]},
                  "city": {**small, "dataset": "cityscapes", "model": "deeplab_v2",
                           "weights": [f"coco:{paths['weights_file']}", "scratch"]},
                  "cifar": {"dataset": "cifar10", "model": "wrn_10_2", "labeled": 100, "valtiny": 2,
                            "dmt": {"alphas": [0.5]}},
              },
              "comparisons": {"cmp": {"experiments": ["lists"], "methods": ["baseline", "dst", "dmt"]}}}
    return config, paths


def _commands(dry_run: str) -> list[str]:
    return re.findall(r"Shell command: (.*?)(?=\n\n|\nJob stats:|\Z)", dry_run, flags=re.S)


def test_no_config_value_reaches_a_shell_unquoted(tmp_path):
    config, paths = _payload_config(tmp_path / "inputs")
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, config)
    out = snakemake(work, "-n", "-p", "--cores", "1", "all", "results/tables/cmp.csv").stdout
    commands = _commands(out)
    rules = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert {"prepare", "convert_coco", "split", "baseline", "pseudo_label", "finetune", "evaluate", "final",
            "final_model", "predict", "compare", "train_spec", "pseudo_spec"} <= rules
    assert len(commands) == len(re.findall(r"^rule \w+:", out, flags=re.M))
    commands = [c for c in commands if c != "None"]  # rules without a command (all)
    # Run each command as Snakemake would (bash, in the working directory), `python` a stub.
    stub_dir, argv_log = tmp_path / "stub", tmp_path / "argv.jsonl"
    stub_dir.mkdir()
    (stub_dir / "python").write_text(STUB.format(python=sys.executable, log=argv_log))
    (stub_dir / "python").chmod(0o755)
    for line in re.findall(r"^\s+output: (.*)$", out, flags=re.M):
        for path in line.split(", "):
            (work / path).parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{stub_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{command}\n{proc.stderr}"
    ran = [p for p in tmp_path.rglob("PWNED_*")] + list(Path.cwd().glob("PWNED_*"))
    assert not ran, f"a payload ran: {ran}"
    argvs = [json.loads(line) for line in argv_log.read_text().splitlines()]
    items = {item for argv in argvs for item in argv}
    for key in ("voc_root", "sbd_root", "cityscapes_root", "cifar10_root", "folder_root", "coco_checkpoint",
                "labeled_list", "valtiny_list", "predict_images"):
        assert str(paths[key]) in items, f"{key} did not reach its command as one argument"
    # Paths inside a spec reach it as JSON, whole (printf of a quoted string).
    specs = [json.loads(p.read_text()) for p in (work / "results").rglob("spec.json")]
    weights = {w for s in specs for w in [s["init"].get("weights")] if w}
    assert f"imagenet:{paths['weights_file']}" in weights and f"imagenet:{paths['imagenet_checkpoint']}" in weights


@pytest.mark.parametrize("key, value", [
    (("defaults", "device"), "$(touch PWNED_device)cpu"),
    (("defaults", "device"), "cpu; touch PWNED_device"),
    (("defaults", "model"), "small_deeplab`touch PWNED_model`"),
    (("defaults", "labeled"), "1/20;touch PWNED_labeled"),
    (("defaults", "weights"), ["scratch;touch PWNED_w", "scratch"]),
    (("experiments",), {"tiny$(touch PWNED_name)": {}}),
    (("comparisons",), {"c'x;touch PWNED_c": {"experiments": ["digits_1_20"], "methods": ["dmt"]}}),
    (("comparisons",), {"c": {"experiments": ["digits_1_20"], "methods": ["dmt;touch PWNED_m"]}}),
])
def test_strings_that_name_a_choice_are_refused_by_the_schema(key, value):
    from dmt.configuration import ConfigError, validate

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    where = config
    for part in key[:-1]:
        where = where[part]
    where[key[-1]] = value if not isinstance(value, dict) else {**(where.get(key[-1]) or {}), **value}
    with pytest.raises(ConfigError) as e:
        validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert len(str(e.value).splitlines()) == 1 and len(str(e.value)) < 400


def test_the_reported_device_payload_runs_nothing(tmp_path):
    from helpers.workflow import TINY

    config = json.loads(json.dumps(TINY))
    config["experiments"]["tiny"]["device"] = "$(touch PWNED_device)cpu"
    write_config(tmp_path, config)
    proc = snakemake(tmp_path, "--cores", "1", "results/tiny/iter0/A/model.pt", check=False)
    assert proc.returncode != 0 and not list(tmp_path.rglob("PWNED_*"))
    assert "experiments.tiny.device" in proc.stderr and "auto, cpu, cuda, cuda:N or mps" in proc.stderr
    assert not (tmp_path / "resources").exists()  # refused before any job
