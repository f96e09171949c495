"""The report's table of a run's collapse check (dmt.report.rounds, `python -m dmt rounds`)."""

import json
import math

import pytest

from dmt.cli import main
from dmt.report.rounds import rounds_table, title

KEPT = {"alpha": 0.5, "kept_fraction": 0.4, "kept_precision": 0.9, "kept_classes": ["a", "b"],
        "classes_without_kept": ["c"]}
RECORD = {
    "task": "segmentation", "metric": "miou", "margins": {"valtiny_drop": 0.03, "agreement": 0.98},
    "valtiny_by_iteration": {"A": [0.4, 0.5, 0.3], "B": [0.4, 0.45, 0.5]},
    "rounds": [
        {"iteration": 1, "valtiny": {"A": 0.5, "B": 0.45}, "valtiny_change": {"A": 0.1, "B": 0.05},
         "pseudo": {"A": KEPT, "B": {**KEPT, "kept_precision": "n/a"}}, "agreement": 0.9,
         "class_agreement": 0.6, "error_phi": 0.4567, "warnings": []},
        {"iteration": 2, "valtiny": {"A": 0.3, "B": 0.5}, "valtiny_change": {"A": -0.2, "B": 0.05},
         "pseudo": {"A": KEPT, "B": KEPT}, "agreement": "n/a", "class_agreement": "n/a",
         "warnings": ["iteration 2: model A's valtiny miou fell by 0.200 (0.500 -> 0.300), more than ..."]},
    ],
}
RECORD["warnings"] = RECORD["rounds"][1]["warnings"]


def test_one_row_per_round_in_percent_with_its_warnings():
    table = rounds_table(RECORD)
    assert list(table.columns) == ["iteration", "valtiny A", "change A", "valtiny B", "change B",
                                   "pseudo_A precision", "pseudo_A classes", "pseudo_B precision", "pseudo_B classes",
                                   "agreement", "class agreement", "error phi", "warnings"]
    first, second = table.to_dict("records")
    assert first["valtiny A"] == pytest.approx(50) and second["change A"] == pytest.approx(-20)
    assert first["pseudo_A classes"] == "2 of 3" and first["pseudo_A precision"] == pytest.approx(90)
    assert first["class agreement"] == pytest.approx(60)
    assert first["error phi"] == 0.457 and math.isnan(second["error phi"])  # a correlation; a record without it
    assert math.isnan(first["pseudo_B precision"]) and math.isnan(second["agreement"])  # n/a: blank cells
    assert first["warnings"] == "" and second["warnings"].startswith("model A's valtiny miou fell by 0.200")
    assert title("tiny", RECORD).startswith("tiny: collapse check per round, 1 warning(s); values in %. A round "
                                            "warns where a model's valtiny miou falls by more than 3 points")
    assert "no warnings" in title("tiny", {**RECORD, "warnings": []})


def test_the_rounds_command_writes_the_table_and_refuses_what_is_no_record(tmp_path, capsys):
    record = tmp_path / "rounds_miou.json"
    record.write_text(json.dumps(RECORD))
    out = tmp_path / "plots" / "rounds_miou.csv"
    assert main(["rounds", "--rounds", str(record), "--name", "tiny", "--out", str(out)]) == 0
    html = out.with_suffix(".html").read_text()
    assert "collapse check per round, 1 warning(s)" in html and "fell by 0.200" in html
    assert out.with_suffix(".md").is_file() and out.read_text().startswith("iteration,valtiny A,")
    (tmp_path / "final.json").write_text(json.dumps({"miou": 0.5}))
    argv = ["rounds", "--rounds", str(tmp_path / "final.json"), "--name", "t", "--out", str(tmp_path / "x.csv")]
    assert main(argv) == 2
    assert "is not a collapse-check record of dmt final" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
