"""Comparison tables and the summary (pandas) from hand-made results files."""

import json
import math

import pandas as pd
import pytest

from dmt.errors import DMTError
from dmt.report import tables


def seg_final(miou, a0, selected="A2", by_iteration=None):
    by_iteration = by_iteration or {"A": [a0, 0.5 * (a0 + miou), miou]}
    # valtiny agrees with val here; the models table's test sets them apart
    last = {f"{m}2": {"valtiny_miou": v[-1], "val_miou": v[-1]} for m, v in by_iteration.items()}
    oracle = max(last, key=lambda m: last[m]["val_miou"])
    return {"task": "segmentation", "miou": miou, "selected": selected, "baseline_miou": a0, "baseline_selected": "A0",
            "val_miou_by_iteration": by_iteration, "last_models": last,
            "oracle_choice": {"model": oracle, "miou": last[oracle]["val_miou"], "note": "for reference"}}


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
    table, long, _, experiments = tables.comparison("c", inputs, {"cbst": "self-training"})
    assert experiments == ["s0", "s1"]
    assert list(table.columns) == ["method", "description", "s0", "s1", "n", "mean", "std", "ci95 low", "ci95 high",
                                   "diff to dmt", "diff ci95 low", "diff ci95 high", "selected"]
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
    final = {"task": "classification", "accuracy": 0.95, "baseline_accuracy": 0.90, "selected": "iter2",
             "history": [{"iteration": i, "test_accuracy": 0.9 + 0.01 * i} for i in range(4)],
             "last_models": {"iter3": {"valtiny_fine_grained_accuracy": 0.8, "test_accuracy": 0.93}},
             "oracle_choice": {"model": "iter3", "accuracy": 0.93}}
    inputs = {"baseline:x": files("x", final), "cl:x": files("y", {**final, "accuracy": 0.93}),
              "oracle:x": files("o", {"test": {"accuracy": 0.99}})}
    table, long, models, _ = tables.comparison("k", inputs, {})
    assert list(table["x"]) == pytest.approx([90.0, 93.0, 99.0])
    assert list(long["iteration"]) == [0, 1, 2, 3] and long["score"].iloc[-1] == pytest.approx(93.0)
    # one model per iteration: the last one beside the selected one, scored as classification selects
    assert models[["method", "selected", "model", "oracle choice"]].values.tolist() == [["cl", "iter2", "iter3",
                                                                                         "iter3"]]
    assert models["valtiny fine-grained accuracy"].item() == pytest.approx(80.0)
    assert models["test accuracy"].item() == pytest.approx(93.0)
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
    result = tables.comparison("c", {"dmt:s0": files("a", seg_final(0.3 + 1 / 3, 0.3))}, {})
    tables.write(result.table, tmp_path / "c.csv", title="T", note=tables.seeds_line(result.experiments))
    written = pd.read_csv(tmp_path / "c.csv")
    # full precision in the CSV; one seed: no interval, an empty cell
    assert written["s0"].item() == pytest.approx(100 * (0.3 + 1 / 3), rel=1e-12)
    assert pd.isna(written["ci95 low"].item()) and pd.isna(written["diff to dmt"].item())
    md = (tmp_path / "c.md").read_text()
    assert md.startswith("# T\n\n1 split seed: s0. n: the seeds") and "| dmt" in md and "63.33" in md
    page = (tmp_path / "c.html").read_text()
    assert "<h3>T</h3>\n<p>1 split seed: s0." in page and "<td>63.33</td>" in page
    assert tables.seeds_line(["a", "b", "c"]).startswith("3 split seeds: a, b, c. ")


T_975_2 = 4.302653  # the 0.975 quantile of Student's t with 2 degrees of freedom


def test_mean_interval_is_students_t_over_n_minus_1_degrees_of_freedom():
    mean, std, low, high = tables.mean_interval([50, 52, 54])
    half = T_975_2 * 2 / math.sqrt(3)
    assert (mean, std) == pytest.approx((52.0, 2.0))
    assert (low, high) == pytest.approx((52 - half, 52 + half), abs=1e-5)
    # two values, 1 and 3: std sqrt(2), half-width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706205
    assert tables.mean_interval([1, 3])[2:] == pytest.approx((2 - 12.706205, 2 + 12.706205), abs=1e-5)
    # one value has a mean but no spread; none has nothing
    one = tables.mean_interval([7.0])
    assert one[0] == 7.0 and all(math.isnan(v) for v in one[1:])
    assert all(math.isnan(v) for v in tables.mean_interval([]))


def test_paired_differences_to_dmt_on_the_same_seeds(files):
    dmt, cbst = [0.50, 0.52, 0.54], [0.40, 0.45, 0.44]  # differences -10, -7, -10: mean -9, std sqrt(3)
    inputs = {**{f"cbst:s{k}": files(f"c{k}", seg_final(v, 0.3)) for k, v in enumerate(cbst)},
              **{f"dmt:s{k}": files(f"d{k}", seg_final(v, 0.3)) for k, v in enumerate(dmt)},
              "oracle:s0": files("o", {"val": {"miou": 0.70}})}
    table = tables.comparison("c", inputs, {}).table.set_index("method")
    assert table.loc["dmt", ["mean", "std"]].tolist() == pytest.approx([52.0, 2.0])
    half = T_975_2 * 2 / math.sqrt(3)
    assert table.loc["dmt", ["ci95 low", "ci95 high"]].tolist() == pytest.approx([52 - half, 52 + half], abs=1e-5)
    # dmt's own difference is empty
    assert table.loc["dmt", ["diff to dmt", "diff ci95 low", "diff ci95 high"]].isna().all()
    half = T_975_2 * math.sqrt(3) / math.sqrt(3)  # std of the differences sqrt(3), 3 seeds
    assert table.loc["cbst", "diff to dmt"] == pytest.approx(-9.0)
    assert table.loc["cbst", ["diff ci95 low", "diff ci95 high"]].tolist() == pytest.approx([-9 - half, -9 + half],
                                                                                          abs=1e-5)
    # the oracle has the first seed only: paired there, n 1, no intervals
    assert table.loc["oracle", "n"] == 1 and table.loc["oracle", "diff to dmt"] == pytest.approx(20.0)
    assert table.loc["oracle", ["std", "ci95 low", "ci95 high", "diff ci95 low", "diff ci95 high"]].isna().all()
    assert list(table["n"]) == [3, 3, 1]
    # without a dmt row there is nothing to be paired with
    alone = tables.comparison("c", {k: v for k, v in inputs.items() if not k.startswith("dmt")}, {}).table
    assert alone["diff to dmt"].isna().all() and alone["mean"].notna().all()


def test_models_table_sets_the_last_models_side_by_side(files):
    two = seg_final(0.50, 0.30, "A2", {"A": [0.30, 0.4, 0.50], "B": [0.28, 0.41, 0.55]})
    two["last_models"] = {"A2": {"valtiny_miou": 0.49, "val_miou": 0.50},
                          "B2": {"valtiny_miou": 0.47, "val_miou": 0.55}}
    two["oracle_choice"] = {"model": "B2", "miou": 0.55, "note": "chosen on val"}
    inputs = {"baseline:s0": files("b", two), "dmt:s0": files("d", two), "cbst:s0": files("c", seg_final(0.4, 0.3)),
              "oracle:s0": files("o", {"val": {"miou": 0.70}})}
    models = tables.comparison("c", inputs, {}).models
    assert list(models.columns) == ["comparison", "experiment", "method", "selected", "model", "valtiny mIoU",
                                    "val mIoU", "oracle choice"]
    # one row per run and last model; not the baseline or oracle rows, which are no runs of their own
    assert models[["method", "selected", "model", "oracle choice"]].values.tolist() == [
        ["dmt", "A2", "A2", "B2"], ["dmt", "A2", "B2", "B2"], ["cbst", "A2", "A2", "A2"]]
    assert list(models["valtiny mIoU"]) == pytest.approx([49.0, 47.0, 40.0])
    assert list(models["val mIoU"]) == pytest.approx([50.0, 55.0, 40.0])
    older = {k: v for k, v in two.items() if k not in ("last_models", "oracle_choice")}
    with pytest.raises(DMTError, match="older dmt; rerun the final rule"):
        tables.comparison("c", {"dmt:s0": files("old", older)}, {})


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


def test_compare_writes_the_table_its_long_form_and_the_models_table(tmp_path, files, capsys):
    from dmt.cli import main

    inputs = [f"{m}:s{k}={files(f'{m}{k}', seg_final(v, 0.3))}" for m, values in
              (("dmt", (0.50, 0.52, 0.54)), ("cbst", (0.40, 0.45, 0.44))) for k, v in enumerate(values)]
    out = tmp_path / "tables"
    assert main(["compare", "--name", "c", "--out-dir", str(out), *inputs]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["c.csv", "c.html", "c.md", "c_iterations.csv", "c_models.csv"]
    assert (out / "c.md").read_text().splitlines()[2].startswith("3 split seeds: s0, s1, s2. ")
    assert len(pd.read_csv(out / "c_models.csv")) == 6  # 2 methods x 3 seeds x model A
    older = files("old", {k: v for k, v in seg_final(0.5, 0.3).items() if k != "last_models"})
    assert main(["compare", "--name", "d", "--out-dir", str(out), f"dmt:s0={older}"]) == 2
    assert "does not set its last models side by side" in capsys.readouterr().err
    assert not (out / "d.csv").exists()
