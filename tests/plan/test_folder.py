"""The plan of an experiment on your own data (dataset: folder): the labeled list is the folder's,
its size and the class names come from the files before any job, and what needs ground truth for
the unlabeled images (the oracle, the accuracy of pseudo labels) is left out."""

import copy
import math
import shutil

import pytest
import yaml
from helpers import REPO

from dmt.cli import main
from dmt.plan import Plan, PlanError, flags

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def plan_with(root, **experiment) -> Plan:
    config = copy.deepcopy(CONFIG)
    config["folder_root"] = str(root) if root else None
    config["experiments"] = {"mine": {"dataset": "folder", "labeled": "all", **experiment}}
    config["comparisons"] = None
    return Plan(config)


def test_the_labeled_list_is_the_folders_and_its_size_sets_the_baseline_epochs(folder):
    exp = plan_with(folder).experiment("mine")
    assert exp.train_size == 7 and exp.fixed_labeled_count() == 3
    # Appendix B: sqrt(1 / ratio) x the oracle's epochs, with ratio = 3 labeled of 7.
    assert exp.baseline_epochs() == round(math.sqrt(7 / 3) * CONFIG["defaults"]["baseline"]["oracle_epochs"])
    args = " ".join(flags(exp.split_options()))
    assert "--labeled all" in args and "--labeled-list data:labeled" in args


def test_nothing_asks_for_the_ground_truth_the_unlabeled_images_lack(folder):
    plan = plan_with(folder)
    run = plan.run("mine")
    assert run.pseudo_job(1, "A").with_truth is False
    assert not any("oracle" in t for t in run.targets())
    assert run.deliverables() == ["results/mine/final_miou.json", "results/mine/final_model.pt"]
    with pytest.raises(PlanError, match="no masks for its unlabeled images"):
        plan.train_job("mine/oracle")
    # Benchmarks keep theirs: digits' unlabeled images have masks.
    digits = Plan(copy.deepcopy(CONFIG)).run("digits_1_20")
    assert digits.pseudo_job(1, "A").with_truth is True


def test_the_root_is_read_only_when_the_experiment_is_asked_for(folder):
    plan = plan_with(None)  # the plan builds; other experiments run without it
    assert not plan.has_raw_inputs("mine")
    with pytest.raises(PlanError, match="--config folder_root=/path"):
        plan.train_job("mine/iter0/A")


@pytest.mark.parametrize("experiment, message", [
    ({"labeled": "1/4"}, "labeled must be all (or their number), not the ratio '1/4'"),
    ({"labeled": 2}, "labeled: 2, but the labeled list data:labeled has 3 ids"),
])
def test_labeled_counts_that_are_not_the_folders_stop_the_plan(folder, experiment, message):
    with pytest.raises(PlanError) as e:
        plan_with(folder, **experiment)
    assert message in str(e.value)


def test_labeled_all_needs_a_fixed_list():
    config = copy.deepcopy(CONFIG)
    config["experiments"] = {"d": {"dataset": "digits", "labeled": "all"}}
    config["comparisons"] = None
    with pytest.raises(PlanError, match="labeled: all takes every id of a fixed labeled list"):
        Plan(config)


def test_a_broken_folder_stops_the_plan_before_any_job(folder):
    (folder / "classes.yaml").write_text("classes: [a, a]\n")
    with pytest.raises(PlanError) as e:
        plan_with(folder)
    assert "experiment mine" in str(e.value) and str(folder / "classes.yaml") in str(e.value)
    (folder / "classes.yaml").write_text("classes: [a, b, c]\n")
    (folder / "val" / "masks" / "val_0.png").unlink()
    with pytest.raises(PlanError, match="has no mask"):
        plan_with(folder)


def test_editing_the_folder_changes_what_prepare_is_given(capsys, folder, tmp_path):
    before = plan_with(folder).raw_fingerprint("folder")
    assert before.startswith("sha256:") and plan_with(folder).raw_fingerprint("folder") == before
    plan = plan_with(folder)
    prepared = plan.experiment("mine").data_root  # addressed by the fingerprint
    assert prepared == f"resources/data/folder-{before.removeprefix('sha256:')}"
    args = flags(plan.prepare_options(prepared.removeprefix("resources/data/")))
    assert args == ["--folder-root", str(folder), "--fingerprint", before]  # the rule's params
    with pytest.raises(PlanError, match="prepared from other files"):
        plan.prepare_options("folder-0123456789abcdef")
    shutil.copy(folder / "unlabeled/images/unlabeled_1.png", folder / "unlabeled/images/new.png")
    assert plan_with(folder).raw_fingerprint("folder") != before
    # Other data sets' params do not change (their existing results stay valid).
    digits = CONFIG["digits"]
    assert flags(Plan(copy.deepcopy(CONFIG)).prepare_options("digits")) == [
        "--seed", str(digits["seed"]), "--n-train", str(digits["n_train"]), "--n-val", str(digits["n_val"]),
        "--pretrain-share", str(digits["pretrain_share"])]
    # A folder edited between planning and preparing is not prepared as planned.
    code = main(["prepare", "folder", "--folder-root", str(folder), "--fingerprint", before,
                 "--out", str(tmp_path / "out")])
    assert code == 2 and "changed after the workflow planned" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_split_takes_the_whole_labeled_list(capsys, folder, tmp_path):
    data = tmp_path / "prepared"
    assert main(["prepare", "folder", "--folder-root", str(folder), "--out", str(data)]) == 0
    out = tmp_path / "split"
    assert main(["split", "--data", str(data), "--labeled", "all", "--labeled-list", "data:labeled",
                 "--valtiny", "1", "--seed", "0", "--out-dir", str(out)]) == 0
    assert (out / "labeled.txt").read_text().split() == ["labeled_0", "labeled_1", "labeled_2"]
    assert (out / "unlabeled.txt").read_text().split() == [f"unlabeled_{k}" for k in range(4)]
    capsys.readouterr()
    code = main(["split", "--data", str(data), "--labeled", "all", "--valtiny", "1", "--seed", "0",
                 "--out-dir", str(tmp_path / "nope")])
    assert code == 2 and "--labeled all takes every id of --labeled-list" in capsys.readouterr().err
