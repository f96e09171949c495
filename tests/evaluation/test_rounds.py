"""The collapse check of a run (dmt.evaluation.rounds): the per-round record, its warnings on
crafted histories, the margins' checks, and the final job writing it beside an unchanged final JSON."""

import copy
import json
import logging

import pytest
import yaml
from helpers import REPO

from dmt.cli import main
from dmt.configuration import ConfigError, validate
from dmt.errors import DMTError
from dmt.evaluation.rounds import NA, Margins, collapse_check
from dmt.tasks import TASKS

SEG, CLS = TASKS["segmentation"], TASKS["classification"]
MARGINS = Margins(valtiny_drop=0.03, agreement=0.98)
CLASSES = ("background", "0", "1", "2")
# Healthy two-model history: valtiny rises (a 0.02 dip of B at iteration 2 stays under the margin),
# every set keeps every class, the models agree on 90%.
HEALTHY = {"A": [0.40, 0.45, 0.50], "B": [0.42, 0.46, 0.44]}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def metrics_files(tmp_path, scores: dict, key="miou") -> dict:
    files = {}
    for m, values in scores.items():
        for i, v in enumerate(values):
            block = {"miou": v + 0.01, "per_class_iou": {}, "excluded_classes": [], "pixel_accuracy": 0.9}
            files[i, m] = write(tmp_path / f"metrics_{i}{m}.json", {"valtiny": {key: v}, "val": block})
    return files


def summary_files(tmp_path, kept: dict, ground_truth=True, key="kept_counts") -> dict:
    """(iteration, teacher) -> kept count per class."""
    return {(i, t): write(tmp_path / f"pseudo_{i}{t}.json",
                          {"alpha": 0.5 * i, key: counts, "class_counts": [9] * len(counts),
                           "kept_fraction": 0.5, "kept_accuracy": 0.8 if ground_truth else None,
                           "ground_truth": ground_truth})
            for (i, t), counts in kept.items()}


def agreement_files(tmp_path, values: dict) -> dict:
    return {i: write(tmp_path / f"agreement_{i}.json", {"agreement": a, "class_agreement": a / 2, "elements": 100})
            for i, a in values.items()}


def check(tmp_path, scores=HEALTHY, kept=None, agreement=None, margins=MARGINS):
    kept = {(i, t): [5, 3, 2, 1] for i in (1, 2) for t in "AB"} if kept is None else kept
    agreement = {1: 0.9, 2: 0.9} if agreement is None else agreement
    return collapse_check(SEG, metrics_files(tmp_path, scores), summary_files(tmp_path, kept),
                          agreement_files(tmp_path, agreement), margins, CLASSES)


def test_a_healthy_history_stays_quiet_and_records_every_round(tmp_path):
    record = check(tmp_path)
    assert record["warnings"] == [] and all(r["warnings"] == [] for r in record["rounds"])
    assert record["margins"] == {"valtiny_drop": 0.03, "agreement": 0.98} and record["metric"] == "miou"
    first, second = record["rounds"]
    assert first["iteration"] == 1 and first["valtiny"] == {"A": 0.45, "B": 0.46}
    assert second["valtiny_change"]["B"] == pytest.approx(-0.02) and first["agreement"] == 0.9
    assert first["class_agreement"] == 0.45  # recorded, never warned about
    assert first["error_phi"] == NA  # an agreement file without ground truth has no error phi
    assert second["pseudo"]["A"] == {"alpha": 1.0, "kept_fraction": 0.5, "kept_precision": 0.8,
                                     "kept_classes": list(CLASSES), "classes_without_kept": []}
    assert record["valtiny_by_iteration"] == HEALTHY


def test_the_record_carries_the_teachers_error_phi_where_the_agreement_has_it(tmp_path):
    files = agreement_files(tmp_path, {1: 0.9, 2: 0.9})
    for i, phi in ((1, 0.61), (2, None)):
        data = json.loads(files[i].read_text())
        files[i].write_text(json.dumps({**data, "errors": {"phi": phi, "elements": 90}}))
    record = collapse_check(SEG, metrics_files(tmp_path, HEALTHY), summary_files(tmp_path, {}), files, MARGINS, CLASSES)
    assert [r["error_phi"] for r in record["rounds"]] == [0.61, NA]  # None: a model never or always wrong
    files[1].write_text(json.dumps({"agreement": 0.9, "errors": {"phi": 1.5}}))
    with pytest.raises(DMTError, match="an error phi of 1.5"):
        collapse_check(SEG, metrics_files(tmp_path, HEALTHY), summary_files(tmp_path, {}), files, MARGINS, CLASSES)


def test_a_valtiny_drop_over_the_margin_warns(tmp_path):
    record = check(tmp_path, scores={"A": [0.40, 0.45, 0.50], "B": [0.42, 0.46, 0.41]})
    assert record["warnings"] == ["iteration 2: model B's valtiny miou fell by 0.050 (0.460 -> 0.410), more "
                                  "than collapse.valtiny_drop 0.03"]
    assert record["rounds"][1]["warnings"] == record["warnings"] and record["rounds"][0]["warnings"] == []
    # the same fall under a wider margin is quiet; a drop from the baseline (iteration 0) counts too
    assert check(tmp_path, scores={"A": [0.40, 0.45, 0.50], "B": [0.42, 0.46, 0.41]},
                 margins=Margins(0.06, 0.98))["warnings"] == []
    falls = check(tmp_path, scores={"A": [0.50, 0.40, 0.45], "B": HEALTHY["B"]})["warnings"]
    assert len(falls) == 1 and falls[0].startswith("iteration 1: model A's valtiny miou fell by 0.100")


def test_a_class_vanishing_from_a_teachers_kept_labels_warns(tmp_path):
    kept = {(1, "A"): [5, 3, 2, 1], (1, "B"): [5, 3, 2, 1], (2, "A"): [5, 3, 0, 1], (2, "B"): [9, 3, 2, 1]}
    record = check(tmp_path, kept=kept)
    assert record["warnings"] == ["iteration 2: teacher A1's kept pseudo labels hold no pixel of class 1, which "
                                  "its previous set kept"]
    assert record["rounds"][1]["pseudo"]["A"]["classes_without_kept"] == ["1"]
    # a class no set ever kept is recorded, and never warned about
    never = {(i, t): [5, 0, 2, 1] for i in (1, 2) for t in "AB"}
    quiet = check(tmp_path, kept=never)
    assert quiet["warnings"] == [] and quiet["rounds"][0]["pseudo"]["B"]["classes_without_kept"] == ["0"]


def test_agreement_above_the_level_warns(tmp_path):
    record = check(tmp_path, agreement={1: 0.9, 2: 0.995})
    assert record["warnings"] == ["iteration 2: the two models of iteration 1 predict the same class on 99.50% "
                                  "of the unlabeled pixels, more than collapse.agreement 0.98"]
    assert check(tmp_path, agreement={1: 0.98, 2: 0.98})["warnings"] == []  # "more than" the level


def test_every_kind_of_warning_in_one_record(tmp_path):
    kept = {(1, "A"): [5, 3, 2, 1], (1, "B"): [5, 3, 2, 1], (2, "A"): [5, 3, 2, 1], (2, "B"): [5, 0, 2, 1]}
    record = check(tmp_path, scores={"A": [0.4, 0.3, 0.3], "B": HEALTHY["B"]}, kept=kept, agreement={1: 0.99, 2: 0.5})
    assert [w.split(":")[0] for w in record["warnings"]] == ["iteration 1", "iteration 1", "iteration 2"]
    assert "valtiny" in record["warnings"][0] and "agree" not in record["warnings"][0]
    assert "same class" in record["warnings"][1] and "class 0" in record["warnings"][2]


def test_single_model_and_online_runs_record_what_applies(tmp_path):
    one = {"A": [0.4, 0.5, 0.6]}
    record = collapse_check(SEG, metrics_files(tmp_path, one),
                            summary_files(tmp_path, {(1, "A"): [1, 1, 1, 1], (2, "A"): [1, 1, 1, 1]},
                                          ground_truth=False), {}, MARGINS, CLASSES)
    assert [(r["agreement"], r["class_agreement"]) for r in record["rounds"]] == [(NA, NA), (NA, NA)]
    assert record["rounds"][0]["pseudo"]["A"]["kept_precision"] == NA  # no ground truth
    online = collapse_check(SEG, metrics_files(tmp_path, {"A": [0.4, 0.5]}), {}, {}, MARGINS, CLASSES)
    assert online["rounds"] == [{"iteration": 1, "valtiny": {"A": 0.5}, "valtiny_change": {"A": pytest.approx(0.1)},
                                 "pseudo": NA, "agreement": NA, "class_agreement": NA, "error_phi": NA,
                                 "warnings": []}]


def test_classification_reads_its_own_keys_through_the_task(tmp_path):
    scores = {"A": [0.90, 0.95, 0.80]}
    kept = {(1, "A"): [4, 4, 0], (2, "A"): [2, 0, 0]}
    record = collapse_check(CLS, metrics_files(tmp_path, scores, key="accuracy"),
                            summary_files(tmp_path, kept, key="kept_per_class"), {}, MARGINS, ("0", "1", "2"))
    assert record["metric"] == "accuracy" and record["rounds"][1]["pseudo"]["A"]["kept_classes"] == ["0"]
    assert record["warnings"] == [
        "iteration 2: model A's valtiny accuracy fell by 0.150 (0.950 -> 0.800), more than collapse.valtiny_drop 0.03",
        "iteration 2: teacher A1's kept pseudo labels hold no image of class 1, which its previous set kept"]
    with pytest.raises(DMTError, match="hold no valtiny accuracy"):
        collapse_check(CLS, metrics_files(tmp_path, scores), {}, {}, MARGINS)


@pytest.mark.parametrize("valtiny_drop, agreement, key", [(-0.1, 0.98, "collapse.valtiny_drop"),
                                                          (1.5, 0.98, "collapse.valtiny_drop"),
                                                          (0.03, float("nan"), "collapse.agreement"),
                                                          (0.03, True, "collapse.agreement"),
                                                          (0.03, "high", "collapse.agreement")])
def test_a_bad_margin_is_one_error_naming_its_key(valtiny_drop, agreement, key):
    with pytest.raises(DMTError, match=f"^{key} = .* is not valid; expected a number from 0 to 1"):
        Margins(valtiny_drop, agreement)


def test_bad_inputs_are_one_clear_error(tmp_path):
    files = metrics_files(tmp_path, HEALTHY)
    with pytest.raises(DMTError, match="missing 1:B"):
        collapse_check(SEG, {k: v for k, v in files.items() if k != (1, "B")}, {}, {}, MARGINS)
    with pytest.raises(DMTError, match="agreement files of iteration 3 given"):
        collapse_check(SEG, files, {}, agreement_files(tmp_path, {3: 0.5}), MARGINS)
    with pytest.raises(DMTError, match="records no agreement between 0 and 1"):
        collapse_check(SEG, files, {}, agreement_files(tmp_path, {1: 1.5}), MARGINS)
    bad = write(tmp_path / "bad.json", {"alpha": 0.5})
    with pytest.raises(DMTError, match="bad.json holds no valid 'kept_counts'"):
        collapse_check(SEG, files, {(1, "A"): bad}, {}, MARGINS)
    with pytest.raises(DMTError, match="none.json does not exist"):
        collapse_check(SEG, files, {(1, "A"): tmp_path / "none.json"}, {}, MARGINS)


def final_argv(tmp_path, scores, agreement: dict):
    metrics = metrics_files(tmp_path, scores)
    sets = summary_files(tmp_path, {(i, t): [5, 3, 2, 1] for i in (1, 2) for t in "AB"})
    agreements = agreement_files(tmp_path, agreement)
    return ["final", "--dataset", "digits", "--metrics", *(f"{i}:{m}={p}" for (i, m), p in metrics.items()),
            "--out", str(tmp_path / "final_miou.json")], \
           ["--pseudo", *(f"{i}:{t}={p}" for (i, t), p in sets.items()),
            "--agreement", *(f"{i}={p}" for i, p in agreements.items()), "--rounds", str(tmp_path / "rounds_miou.json")]


def test_the_final_job_writes_the_record_beside_an_unchanged_final_json_and_warns_once(tmp_path, caplog):
    final, collapse = final_argv(tmp_path, {"A": [0.4, 0.3, 0.2], "B": HEALTHY["B"]}, {1: 0.99, 2: 0.9})
    assert main(final) == 0
    before = (tmp_path / "final_miou.json").read_bytes()
    with caplog.at_level(logging.INFO, logger="dmt"):
        assert main([*final, *collapse, "--valtiny-drop", "0.03", "--agreement-level", "0.98"]) == 0
    assert (tmp_path / "final_miou.json").read_bytes() == before  # the final JSON's keys and values as before
    record = json.loads((tmp_path / "rounds_miou.json").read_text())
    assert len(record["warnings"]) == 3 and record["rounds"][0]["agreement"] == 0.99
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and lines[0].getMessage().startswith("collapse check: 3 warning(s), recorded in ")
    assert all(w in lines[0].getMessage() for w in record["warnings"])


def test_the_final_job_needs_valid_margins_with_rounds(tmp_path, capsys):
    final, collapse = final_argv(tmp_path, HEALTHY, {1: 0.9, 2: 0.9})
    assert main([*final, *collapse]) == 2
    assert "--rounds needs the collapse check's margins" in capsys.readouterr().err
    assert main([*final, *collapse, "--valtiny-drop", "-1", "--agreement-level", "0.9"]) == 2
    assert "collapse.valtiny_drop = -1.0 is not valid" in capsys.readouterr().err
    assert not (tmp_path / "rounds_miou.json").exists() and not (tmp_path / "final_miou.json").exists()


SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("where, key, value, message", [
    ("experiments.digits_1_20", "valtiny_drop", -0.1, "experiments.digits_1_20.collapse.valtiny_drop = -0.1 is "
                                                      "not valid; expected a number >= 0"),
    ("experiments.digits_1_20", "agreement", 1.2, "experiments.digits_1_20.collapse.agreement = 1.2 is not valid; "
                                                  "expected a number <= 1"),
    ("experiments.digits_1_20", "agreement", "high", "collapse.agreement = 'high' is not valid; expected number"),
    ("experiments.digits_1_20", "drop", 0.1, "unknown key 'drop' at experiments.digits_1_20.collapse; keys here: "
                                             "agreement, valtiny_drop"),
    ("defaults", "agreement", None, "defaults.collapse is missing 'agreement'"),
])
def test_the_config_keys_are_validated_naming_the_key(where, key, value, message):
    config = copy.deepcopy(CONFIG)
    section = config
    for part in where.split("."):
        section = section[part]
    collapse = section.setdefault("collapse", {})
    if value is None:
        del collapse[key]
    else:
        collapse[key] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(config, SCHEMA)


def test_the_schema_documents_the_defaults_of_config_yaml():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = schema["$defs"]["experiment"]["properties"]["collapse"]["properties"]
    assert {k: v["default"] for k, v in keys.items()} == CONFIG["defaults"]["collapse"]
    assert all(v.get("description") for v in keys.values())
    validate(copy.deepcopy(CONFIG), SCHEMA)
