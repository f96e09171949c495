"""The report's commands on ``python -m dmt``'s parser (their bodies: ``dmt.report.job``)."""

from __future__ import annotations

import argparse


def add_parsers(sub, data_args, runtime_args, inference_args) -> None:
    """The report's commands on ``python -m dmt``'s subparsers."""
    def common(p: argparse.ArgumentParser, dataset: bool = True) -> None:
        if dataset:
            p.add_argument("--dataset", required=True, help="the run's data set (its task decides the figure)")
        p.add_argument("--name", required=True, help="what the figure shows (a run; an experiment for a "
                       "comparison), for its title")
        p.add_argument("--out", required=True, help="PNG file to write")

    plot = sub.add_parser("plot", help="a figure of a run for the report (PNG)")
    figures = plot.add_subparsers(dest="figure", required=True, metavar="figure")
    p = figures.add_parser("metric", help="val mIoU (test accuracy) per iteration against baseline and oracle")
    common(p)
    p.add_argument("--final", required=True, nargs="+", metavar="LABEL=FILE",
                   help="final_miou.json / final_acc.json of each run; several runs draw one line each")
    p.add_argument("--oracle", help="the oracle's metrics.json, drawn where given")
    p.set_defaults(func="dmt.report.job:cmd_plot_metric")
    p = figures.add_parser("pseudo", help="kept share and precision of the pseudo labels per class and set")
    common(p)
    p.add_argument("--sets", required=True, nargs="+", metavar="I:T=H5",
                   help="pseudo-label file of iteration I by teacher T (its .json summary beside it)")
    p.add_argument("--data", help="prepared data (classification: ground truth for the precision)")
    p.set_defaults(func="dmt.report.job:cmd_plot_pseudo")
    p = figures.add_parser("weights", help="histogram of the dynamic weights per iteration and model")
    common(p, dataset=False)
    p.add_argument("--models", required=True, nargs="+", metavar="I:M=FILE",
                   help="model.json of model M after iteration I (its training summary holds the histogram)")
    p.set_defaults(func="dmt.report.job:cmd_plot_weights")

    p = sub.add_parser("examples", help="example predictions (segmentation) or kept images (classification)")
    data_args(p)
    runtime_args(p)
    inference_args(p)
    common(p, dataset=False)
    p.add_argument("--count", type=int, default=4, help="images (segmentation) or images per end (classification)")
    p.add_argument("--valtiny", help="segmentation: the first --count ids are shown")
    p.add_argument("--models", nargs="+", metavar="I:M=MODEL", help="segmentation: one model after iterations I")
    p.add_argument("--teacher", help="segmentation: the model whose pseudo labels are shown")
    p.add_argument("--teacher-name", default="teacher", help="segmentation: its name in the figure, e.g. B0")
    p.add_argument("--pseudo", help="segmentation: the set the teacher made (its class thresholds are applied)")
    p.add_argument("--sets", nargs="+", metavar="I:T=H5", help="classification: the pseudo-label sets")
    p.set_defaults(func="dmt.report.job:cmd_examples")

