"""Comparison tables and the summary (pandas) from hand-made results files."""

import json
import math

import pandas as pd
import pytest

from dmt.errors import DMTError
from dmt.report import tables


def seg_final(miou, a0, selected="A2", by_iteration=None):
    return {"task": "segmentation", "miou": miou, "selected": selected, "baseline_miou": a0, "baseline_selected": "A0",
            "val_miou_by_iteration": by_iteration or {"A": [a0, 0.5 * (a0 + miou), miou]}}


@pytest.fixture
def files(tmp_path):
    def write(name, data):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return str(path)
    return write


def test_comparison_rows_columns_mean_and_std(files):
    inputs = {
        "baseline:s0": files("dmt0", seg_final(0.50, 0.30, "B2", {"A": [0.30, 0.4, 0.48], "B": [0.28, 0.41, 0.50]})),
        "baseline:s1": files("dmt1", seg_final(0.60, 0.40)),
        "cbst:s0": files("cbst0", seg_final(0.35, 0.30)),
        "cbst:s1": files("cbst1", seg_final(0.45, 0.40)),
        "dmt:s0": files("dmt0b", seg_final(0.50, 0.30, "B2", {"A": [0.30, 0.4, 0.48], "B": [0.28, 0.41, 0.50]})),
        "dmt:s1": files("dmt1b", seg_final(0.60, 0.40)),
        "oracle:s0": files("oracle", {"val": {"miou": 0.70}, "valtiny": {"miou": 0.69}}),
    }
    table, long = tables.comparison("c", inputs, {"cbst": "self-training"})
    assert list(table.columns) == ["method", "description", "s0", "s1", "mean", "std", "selected"]
    assert list(table["method"]) == ["baseline", "cbst", "dmt", "oracle"]
    base, cbst, dmt, oracle = (table.iloc[k] for k in range(4))
    # the baseline row is model A after iteration 0, where every method starts
    assert (base["s0"], base["s1"]) == pytest.approx((30.0, 40.0)) and base["selected"] == ""
    assert cbst["mean"] == pytest.approx(40.0) and cbst["std"] == pytest.approx(math.sqrt(50))
    assert cbst["description"] == "self-training" and dmt["selected"] == "B2 A2"
    assert oracle["s0"] == pytest.approx(70.0) and pd.isna(oracle["s1"]) and pd.isna(oracle["std"])
    assert oracle["mean"] == pytest.approx(70.0)
    # long form: every model after every iteration of every method (not the baseline row)
    assert set(long["method"]) == {"cbst", "dmt"}
    dmt_s0 = long[(long.method == "dmt") & (long.experiment == "s0")]
    assert len(dmt_s0) == 6 and dmt_s0[(dmt_s0.model == "B") & (dmt_s0.iteration == 2)]["score"].item() \
        == pytest.approx(50.0)


def test_classification_scores_are_test_accuracy(files):
    final = {"task": "classification", "accuracy": 0.95, "baseline_accuracy": 0.90, "selected": "iter3",
             "history": [{"iteration": i, "test_accuracy": 0.9 + 0.01 * i} for i in range(4)]}
    inputs = {"baseline:x": files("x", final), "cl:x": files("y", {**final, "accuracy": 0.93}),
              "oracle:x": files("o", {"test": {"accuracy": 0.99}})}
    table, long = tables.comparison("k", inputs, {})
    assert list(table["x"]) == pytest.approx([90.0, 93.0, 99.0])
    assert list(long["iteration"]) == [0, 1, 2, 3] and long["score"].iloc[-1] == pytest.approx(93.0)
    # the task is the one the final JSONs record (the oracle's metrics.json records none)
    assert tables.score_name(inputs["cl:x"]) == "test accuracy"
    assert tables.comparison_task(inputs).name == "classification"


def test_a_final_json_without_its_task_is_refused_not_guessed(files):
    untold = {k: v for k, v in seg_final(0.5, 0.3).items() if k != "task"}
    with pytest.raises(DMTError, match="records no task"):
        tables.comparison("c", {"dmt:s0": files("a", untold)}, {})
    with pytest.raises(DMTError, match="records no task"):
        tables.score_name(files("b", untold))
    mixed = {"dmt:s0": files("c", seg_final(0.5, 0.3)), "cl:s1": files("d", {**seg_final(0.5, 0.3),
                                                                            "task": "classification"})}
    with pytest.raises(DMTError, match="one task"):
        tables.comparison("c", mixed, {})
    # the plan's task (compare --task) must be the one the final JSONs record
    told = {"dmt:s0": files("e", seg_final(0.5, 0.3)), "oracle:s0": files("o", {"val": {"miou": 0.7}})}
    assert list(tables.comparison("o", told, {}, "segmentation")[0]["s0"]) == pytest.approx([50.0, 70.0])
    with pytest.raises(DMTError, match="one task"):
        tables.comparison("o", told, {}, "classification")


def test_written_as_csv_and_markdown(tmp_path, files):
    table, _ = tables.comparison("c", {"dmt:s0": files("a", seg_final(0.5, 0.3))}, {})
    tables.write(table, tmp_path / "c.csv", title="T")
    assert pd.read_csv(tmp_path / "c.csv")["s0"].item() == pytest.approx(50.0)
    md = (tmp_path / "c.md").read_text()
    assert md.startswith("# T") and "| dmt" in md and "50.00" in md
    page = (tmp_path / "c.html").read_text()
    assert "<h3>T</h3>" in page and "<td>50.00</td>" in page


def test_summary_one_row_per_run_with_its_own_baseline(files):
    runs = {"e": {"final": files("e", seg_final(0.5, 0.3)), "oracle": files("o", {"val": {"miou": 0.7}})},
            "e/cbst": {"final": files("c", seg_final(0.4, 0.3)), "oracle": None}}
    for run, r in runs.items():
        r.update(experiment="e", dataset="digits", labeled="1/20", method=run.split("/")[-1] if "/" in run else "dmt")
    table = tables.summary(runs)
    assert list(table["run"]) == ["e", "e/cbst"] and list(table["gain"]) == pytest.approx([20.0, 10.0])
    assert table["oracle"].iloc[0] == pytest.approx(70.0) and pd.isna(table["oracle"].iloc[1])
    assert table["oracle gap closed"].iloc[0] == pytest.approx(50.0)  # 20 of the 40 points
    assert list(table["metric"]) == ["val mIoU", "val mIoU"] and list(table["baseline model"]) == ["A0", "A0"]
    # a two-model run's own baseline is the iteration-0 model it selects, as in its final JSON
    b0 = {**seg_final(0.5, 0.3), "baseline_miou": 0.35, "baseline_selected": "B0"}
    table = tables.summary({"x": {**runs["e"], "final": files("b", b0)}})
    assert table["baseline"].item() == pytest.approx(35.0) and table["baseline model"].item() == "B0"
