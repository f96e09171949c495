"""The report's data, figures and table on hand-made inputs (the workflow's report: tests/workflow/test_workflow.py)."""

import json

import numpy as np
import pytest
from helpers import REPO
from PIL import Image

from dmt.cli import main
from dmt.errors import DMTError
from dmt.report.data import (
    classification_pseudo_set,
    oracle_value,
    run_curve,
    segmentation_pseudo_set,
    weight_histogram,
)
from dmt.report.examples import (
    confidence_extremes,
    segmentation_examples,
)
from dmt.report.plan import example_iterations
from dmt.report.plots import (
    DPI,
    PseudoSet,
    colorize,
    draw_metric_by_iteration,
    plot_classification_examples,
    plot_metric_by_iteration,
    plot_pseudo_labels,
    plot_segmentation_examples,
    plot_weight_histograms,
)

SEG_FINAL = {"miou": 0.6, "selected": "B2", "baseline_miou": 0.4, "baseline_selected": "A0",
             "val_miou_by_iteration": {"A": [0.4, 0.5, 0.55], "B": [0.35, 0.52, 0.6]}}
CLS_FINAL = {"accuracy": 0.9, "selected": "iter1", "baseline_accuracy": 0.7,
             "history": [{"iteration": i, "test_accuracy": a} for i, a in enumerate([0.7, 0.9, 0.85])]}


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_run_curves_from_final_results():
    seg = run_curve("dmt", SEG_FINAL, "segmentation")
    assert seg.selected == ("B", 2) and seg.selected_value == 0.6
    assert seg.baseline == 0.4 and seg.baseline_selected == "A0"
    cls = run_curve("dmt", CLS_FINAL, "classification")
    assert cls.values == {"A": [0.7, 0.9, 0.85]} and cls.selected == ("A", 1) and cls.selected_value == 0.9
    with pytest.raises(DMTError, match="x.json is not a segmentation final result of dmt"):
        run_curve("dmt", CLS_FINAL, "segmentation", "x.json")
    assert oracle_value({"val": {"miou": 0.8}}, "segmentation") == 0.8
    with pytest.raises(DMTError, match="holds no test accuracy"):
        oracle_value({"val": {"miou": 0.8}}, "classification")


def test_segmentation_pseudo_set_shares_and_precision():
    summary = {"alpha": 0.2, "class_counts": [100, 0, 50], "kept_counts": [20, 0, 10], "kept_fraction": 0.2,
               "kept_accuracy": 0.9, "kept_accuracy_per_class": [0.95, None, 0.8]}
    s = segmentation_pseudo_set(1, "B", summary)
    np.testing.assert_allclose(s.kept, [0.2, np.nan, 0.2])
    np.testing.assert_allclose(s.precision, [0.95, np.nan, 0.8])
    assert s.name == "iter 1: B0 labels, α 0.2"
    no_truth = segmentation_pseudo_set(1, "B", {**summary, "kept_accuracy": None, "kept_accuracy_per_class": None})
    assert no_truth.precision is None


def test_classification_pseudo_set_is_the_kept_sets_balance_and_precision():
    s = classification_pseudo_set(2, "A", {"alpha": 0.4, "kept_fraction": 0.4, "kept_accuracy": 0.75},
                                  labels=[0, 0, 2, 2], truth=[0, 1, 2, 2], num_classes=3)
    np.testing.assert_allclose(s.kept, [0.5, 0.0, 0.5])
    np.testing.assert_allclose(s.precision, [0.5, np.nan, 1.0])


def test_weight_histogram_must_have_been_recorded():
    assert weight_histogram({"dynamic_weights": {"zero": 1}}, "m.pt") == {"zero": 1}
    with pytest.raises(DMTError, match="m.pt has no dynamic-weight histogram"):
        weight_histogram({"steps": 3}, "m.pt")


def test_example_iterations_and_confidence_extremes():
    assert example_iterations(5) == [0, 1, 3, 5]
    assert example_iterations(2) == [0, 1, 2]
    assert example_iterations(1) == [0, 1]
    ids = ["a", "b", "c", "d", "e"]
    conf = [0.5, 0.9, 0.5, 0.1, 0.7]
    assert confidence_extremes(ids, [0] * 5, conf, 2) == ([1, 4], [2, 3])  # ties by id: a before c
    assert confidence_extremes(ids, [0] * 5, conf, 3) == ([1, 4, 0], [2, 3])  # never an image twice


def test_colorize_uses_the_palette_and_paints_dropped_pixels_white():
    from dmt.data.voc import VOC_PALETTE

    labels = np.array([[0, 1], [2, 255]], np.uint8)
    rgb = colorize(labels, VOC_PALETTE, dropped=labels == 255)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [128, 0, 0]
    assert rgb[1, 0].tolist() == [0, 128, 0] and rgb[1, 1].tolist() == [255, 255, 255]
    assert colorize(labels, VOC_PALETTE)[1, 1].tolist() == VOC_PALETTE[3 * 255: 3 * 256]


def test_segmentation_examples_apply_the_sets_thresholds():
    class Images:
        ids = ["x"]

        def __getitem__(self, k):
            import torch

            return {"image": torch.zeros(3, 2, 2, dtype=torch.uint8)}

    labels = np.array([[1, 1], [2, 0]], np.uint8)
    conf = np.array([[0.9, 0.4], [0.8, 0.99]], np.float32)
    truth = np.ones((2, 2), np.uint8)
    teacher = {"x": (labels, conf, truth)}
    tau = np.array([0.5, 0.5, 0.9])
    (ex,) = segmentation_examples(Images(), {0: {"x": (labels, conf, truth)}}, teacher, tau)
    assert ex.pseudo.tolist() == [[1, 255], [255, 0]]
    assert ex.image.shape == (2, 2, 3) and list(ex.predictions) == [0]
    (no_teacher,) = segmentation_examples(Images(), {0: {"x": (labels, conf, truth)}})
    assert no_teacher.pseudo is None and no_teacher.truth.tolist() == truth.tolist()


def test_a_comparison_figure_draws_both_chains_of_every_method(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    dmt = run_curve("dmt", SEG_FINAL, "segmentation")
    cbst = run_curve("cbst", {**SEG_FINAL, "selected": "A2",
                              "val_miou_by_iteration": {"A": [0.4, 0.45, 0.5], "B": [0.35, 0.4, 0.42]}}, "segmentation")
    fig = draw_metric_by_iteration([dmt, cbst], metric="val mIoU", title="t")
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"
    (ax,) = fig.axes
    curves = {line.get_label(): line for line in ax.get_lines() if list(line.get_xdata()) == [0, 1, 2]}
    assert set(curves) == {"dmt A", "dmt B", "cbst A", "cbst B"}
    assert list(curves["cbst B"].get_ydata()) == pytest.approx([35.0, 40.0, 42.0])
    # a colour per method, a line style per chain
    assert curves["dmt A"].get_color() == curves["dmt B"].get_color() != curves["cbst A"].get_color()
    assert curves["dmt A"].get_linestyle() == "-" and curves["dmt B"].get_linestyle() == "--"
    # the stars still mark what each run selected
    stars = sorted(line.get_label() for line in ax.get_lines() if line.get_marker() == "*")
    assert stars == ["cbst: selected A2: 50.0", "dmt: selected B2: 60.0"]
    assert "dmt B" in [t.get_text() for t in fig.legends[0].get_texts()]
    plot_metric_by_iteration([dmt, cbst], tmp_path / "c.png", metric="val mIoU", title="t")
    assert png_size(tmp_path / "c.png") == (round(9.5 * DPI), round(4.6 * DPI))


def test_figures_render_headless(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    run = run_curve("dmt", SEG_FINAL, "segmentation")
    plot_metric_by_iteration([run], tmp_path / "one.png", metric="val mIoU", title="t", oracle=0.7)
    plot_metric_by_iteration([run, run_curve("cbst", {**SEG_FINAL, "selected": "A2"}, "segmentation")],
                             tmp_path / "two.png", metric="val mIoU", title="t")
    assert png_size(tmp_path / "one.png") == (round(7.5 * DPI), round(4.6 * DPI))

    sets = [PseudoSet(i, t, 0.2 * i, np.array([0.2, np.nan]), 0.2, np.array([0.9, np.nan]), 0.9)
            for i in (1, 2) for t in "AB"]
    plot_pseudo_labels(sets, ["bg", "cat"], tmp_path / "pseudo.png", title="t", kept_meaning="share")
    hist = {"zero": 3, "counts": [1] * 20, "edges": [k / 20 for k in range(21)]}
    plot_weight_histograms({1: {"A": hist, "B": hist}, 2: {"A": hist}}, tmp_path / "weights.png", title="t")
    from dmt.data.voc import VOC_PALETTE
    from dmt.report.plots import ImageChoice, SegmentationExample

    mask = np.array([[0, 1], [255, 1]], np.uint8)
    ex = SegmentationExample("x", np.zeros((2, 2, 3), np.uint8), mask, mask, np.full((2, 2), 0.5),
                             {0: mask, 1: mask})
    plot_segmentation_examples([ex, ex], ["bg", "one"], VOC_PALETTE, tmp_path / "seg.png", model="A",
                               teacher="B0, α 0.2", title="t")
    online = SegmentationExample("x", np.zeros((2, 2, 3), np.uint8), mask, None, None, {1: mask})
    plot_segmentation_examples([online], ["bg", "one"], VOC_PALETTE, tmp_path / "online.png", model="A",
                               teacher=None, title="t")
    choice = ImageChoice(np.zeros((8, 8, 3), np.uint8), 1, 0.9, 2)
    plot_classification_examples({1: ([choice], [choice]), 2: ([choice], [])}, ["0", "1", "2"],
                                 tmp_path / "cls.png", title="t")
    for name in ("two", "pseudo", "weights", "seg", "online", "cls"):
        width, height = png_size(tmp_path / f"{name}.png")
        assert width > 100 and height > 100
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_plots_from_files_and_names_bad_items(tmp_path, capsys):
    final = tmp_path / "final_miou.json"
    final.write_text(json.dumps(SEG_FINAL))
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({"val": {"miou": 0.75}}))
    out = tmp_path / "plots" / "miou_by_iteration.png"
    assert main(["plot", "metric", "--dataset", "digits", "--final", f"dmt={final}", "--oracle", str(oracle),
                 "--name", "exp", "--out", str(out)]) == 0
    assert png_size(out)[0] > 100
    assert main(["plot", "metric", "--dataset", "digits", "--final", str(final), "--name", "exp",
                 "--out", str(out)]) == 2
    assert "error: --final takes LABEL=FILE items" in capsys.readouterr().err
    assert main(["plot", "weights", "--models", f"one:A={final}", "--name", "exp", "--out", str(out)]) == 2
    assert "error: --models takes ITERATION:MODEL=FILE items" in capsys.readouterr().err
    runs = {"exp": {"final": str(tmp_path / "no.json"), "experiment": "exp", "dataset": "digits",
                    "labeled": "1/20", "method": "dmt", "oracle": None}}
    assert main(["summary", "--runs", json.dumps(runs), "--out", str(tmp_path / "t.csv")]) == 2
    assert "error: results file" in capsys.readouterr().err and not (tmp_path / "t.csv").exists()


def test_report_plan_names_each_figures_inputs(tmp_path, monkeypatch):
    import copy
    import dataclasses
    from pathlib import Path

    import yaml

    from dmt.plan import Plan, Run, flags
    from dmt.report.plan import (
        example_inputs,
        example_options,
        figure_paths,
        oracle_metrics,
        pseudo_sets,
        report_files,
        trained_models,
    )

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = Plan(copy.deepcopy(config))
    seg, cls = plan.run("digits_1_20"), plan.run("digits_cls_100")
    assert figure_paths(seg) == [f"results/digits_1_20/plots/{n}.png" for n in
                                 ("miou_by_iteration", "pseudo_labels", "dynamic_weights", "examples")] + [
        "results/digits_1_20/plots/rounds_miou.html"]  # the collapse check's table
    assert figure_paths(cls)[0] == "results/digits_cls_100/plots/acc_by_iteration.png"
    assert figure_paths(cls)[-1] == "results/digits_cls_100/plots/rounds_acc.html"
    # A and B label each other: teacher B's set trains A and the other way round.
    assert pseudo_sets(seg)["1:B"] == "results/digits_1_20/iter1/pseudo_B.h5" and len(pseudo_sets(seg)) == 10
    assert list(pseudo_sets(cls)) == [f"{i}:A" for i in range(1, 6)]
    assert len(trained_models(seg)) == 10 and "0:A" not in trained_models(seg)
    assert trained_models(seg)["2:B"] == "results/digits_1_20/iter2/B/model.json"
    assert example_inputs(seg)["models"] == [f"results/digits_1_20/iter{i}/A/model.pt" for i in (0, 1, 3, 5)]
    assert example_inputs(seg)["teacher"] == ["results/digits_1_20/iter0/B/model.pt"]
    assert "--teacher-name B0 --pseudo results/digits_1_20/iter1/pseudo_B.h5" in " ".join(flags(example_options(seg)))
    assert example_inputs(cls) == {"sets": list(pseudo_sets(cls).values())}
    # Online self-training labels inside its training: no pseudo-label figure, no teacher column.
    online = Run(seg.name, seg.exp, dataclasses.replace(seg.method, online=True))
    assert not any("pseudo_labels" in p for p in figure_paths(online))
    assert "teacher" not in example_inputs(online) and "--teacher" not in flags(example_options(online))

    # What the report shows follows what exists: runs with a final result, the oracle where trained.
    monkeypatch.chdir(tmp_path)
    assert report_files(plan) == [] and oracle_metrics("digits_1_20") == []
    Path("results/digits_1_20/oracle").mkdir(parents=True)
    Path("results/digits_1_20/oracle/metrics.json").write_text("{}")
    Path("results/digits_1_20/final_miou.json").write_text("{}")
    assert oracle_metrics("digits_1_20") == ["results/digits_1_20/oracle/metrics.json"]
    assert report_files(plan) == figure_paths(seg) + ["results/digits_1_20/final_table.csv",
                                                      "results/digits_1_20/final_table.html"]
    assert plan.experiment_runs("digits_1_20") == [seg]
