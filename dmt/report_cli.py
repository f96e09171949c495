"""The report's commands: ``python -m dmt plot {metric,pseudo,weights}`` and ``examples``.

Kept beside ``dmt.cli`` (which adds them to its parser) and built on its helpers: models load
through ``dmt.modelfile.load_model``, data sets through ``dmt.cli._dataset``.
"""

from __future__ import annotations

import argparse
import logging

from dmt.errors import DMTError

log = logging.getLogger("dmt")


def _task(dataset: str) -> str:
    from dmt.data.registry import dataset_info

    return dataset_info(dataset).task


def _curves(items: list[str], task: str):
    from dmt.cli import _named_files
    from dmt.report_data import read_json, run_curve

    pairs = _named_files(items, "--final", "LABEL=FILE", "dmt=results/x/final_miou.json")
    return [run_curve(label, read_json(path, "final result"), task, str(path)) for label, path in pairs]


def _oracle(path, task: str) -> float | None:
    from dmt.report_data import oracle_value, read_json

    return None if path is None else oracle_value(read_json(path, "oracle metrics"), task, str(path))


def cmd_plot_metric(args) -> None:
    from dmt.plots import plot_metric_by_iteration
    from dmt.report_data import METRIC_NAME

    task = _task(args.dataset)
    plot_metric_by_iteration(_curves(args.final, task), args.out, metric=METRIC_NAME[task],
                             title=f"{args.name}: {METRIC_NAME[task]} per iteration", oracle=_oracle(args.oracle, task))


def _kept_truth(h5, data: str, dataset: str):
    """Labels and ground truth of the images an image pseudo-label set kept."""
    from dmt.cli import _dataset
    from dmt.pseudo_images import ImagePseudoLabels

    store = ImagePseudoLabels(h5)
    images = _dataset(dataset, data, store.ids)
    labels = [store[i][0] for i in store.ids]
    conf = [store[i][1] for i in store.ids]
    return store, images, labels, conf


def cmd_plot_pseudo(args) -> None:
    from dmt.cli import _iteration_files
    from dmt.data.registry import dataset_info
    from dmt.plots import plot_pseudo_labels
    from dmt.report_data import classification_pseudo_set, read_json, segmentation_pseudo_set

    info = dataset_info(args.dataset)
    sets = []
    for (i, t), h5 in _iteration_files(args.sets, "--sets", "1:B=results/x/iter1/pseudo_B.h5").items():
        summary = read_json(h5.with_suffix(".json"), "pseudo-label summary")
        if info.task == "segmentation":
            sets.append(segmentation_pseudo_set(i, t, summary))
            continue
        if not args.data:
            raise DMTError("plot pseudo of a classification data set needs --data (for the precision per class)")
        _, images, labels, _ = _kept_truth(h5, args.data, args.dataset)
        sets.append(classification_pseudo_set(i, t, summary, labels, images.labels, info.num_classes))
    meaning = ("share of the pixels predicted as the class" if info.task == "segmentation"
               else "share of the kept images with the label")
    plot_pseudo_labels(sets, list(info.class_names), args.out, title=f"{args.name}: pseudo labels per iteration",
                       kept_meaning=meaning)


def cmd_plot_weights(args) -> None:
    from dmt.cli import _iteration_files
    from dmt.plots import plot_weight_histograms
    from dmt.report_data import read_json, weight_histogram

    hists: dict[int, dict] = {}
    for (i, m), path in _iteration_files(args.models, "--models", "1:A=results/x/iter1/A/model.json").items():
        summary = read_json(path, "model summary").get("summary")
        if summary is None:
            raise DMTError(f"{path} holds no training summary; rerun the job that makes it: "
                           f"snakemake --forcerun {path}")
        hists.setdefault(i, {})[m] = weight_histogram(summary, str(path))
    plot_weight_histograms(hists, args.out, title=f"{args.name}: dynamic weights per iteration")


def _segmentation_examples(args, info) -> None:
    import torch

    from dmt.cli import _dataset, _expect, _ids, _iteration_files
    from dmt.data.voc import VOC_PALETTE
    from dmt.examples import predictions, segmentation_examples
    from dmt.inference import pick_device
    from dmt.modelfile import load_model
    from dmt.plots import plot_segmentation_examples
    from dmt.pseudo import PseudoLabelStore

    if not (args.models and args.valtiny) or bool(args.teacher) != bool(args.pseudo):
        raise DMTError("examples of a segmentation data set need --models and --valtiny, and --teacher "
                       "with --pseudo (or neither)")
    models = _iteration_files(args.models, "--models", "0:A=results/x/iter0/A/model.pt")
    shown = {m for _, m in models}
    if len(shown) != 1:
        raise DMTError(f"--models must be one model's iterations, got models {sorted(shown)}")
    ids = _ids(args.valtiny)[: args.count]
    if not ids:
        raise DMTError(f"{args.valtiny} lists no images")
    dataset = _dataset(args.dataset, args.data, ids)
    device = pick_device(args.device)
    store = PseudoLabelStore(args.pseudo) if args.pseudo else None

    def predict_with(path):
        model, _ = load_model(path, device, expect=_expect(args.dataset, args.data))
        out = predictions(model, dataset, device, args.batch_size, args.pad_to, amp=not args.no_amp)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return out

    by_iteration = {i: predict_with(path) for (i, _), path in sorted(models.items())}
    teacher = None
    if store is not None:
        teacher = predict_with(args.teacher), store.tau, f"{args.teacher_name}, α {store.alpha:g}"
    examples = segmentation_examples(dataset, by_iteration, *(teacher[:2] if teacher else ()))
    plot_segmentation_examples(examples, list(info.class_names), VOC_PALETTE, args.out, model=shown.pop(),
                               teacher=teacher[2] if teacher else None,
                               title=f"{args.name}: example predictions on valtiny")


def _classification_examples(args, info) -> None:
    from dmt.cli import _iteration_files
    from dmt.examples import confidence_extremes, image_choices
    from dmt.plots import plot_classification_examples

    if not args.sets:
        raise DMTError("examples of a classification data set need --sets")
    rows = {}
    for (i, _), h5 in _iteration_files(args.sets, "--sets", "1:A=results/x/iter1/pseudo_A.h5").items():
        store, images, labels, conf = _kept_truth(h5, args.data, args.dataset)
        top, bottom = confidence_extremes(store.ids, labels, conf, args.count)
        rows[i] = tuple(image_choices(p, images.images, labels, conf, images.labels) for p in (top, bottom))
    plot_classification_examples(rows, list(info.class_names), args.out,
                                 title=f"{args.name}: most and least confident kept pseudo labels")


def cmd_examples(args) -> None:
    from dmt.data.registry import dataset_info

    info = dataset_info(args.dataset)
    if args.count < 1:
        raise DMTError(f"--count must be at least 1, got {args.count}")
    if info.task == "segmentation":
        _segmentation_examples(args, info)
    else:
        _classification_examples(args, info)
    log.info("examples -> %s", args.out)


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
    p.set_defaults(func=cmd_plot_metric)
    p = figures.add_parser("pseudo", help="kept share and precision of the pseudo labels per class and set")
    common(p)
    p.add_argument("--sets", required=True, nargs="+", metavar="I:T=H5",
                   help="pseudo-label file of iteration I by teacher T (its .json summary beside it)")
    p.add_argument("--data", help="prepared data (classification: ground truth for the precision)")
    p.set_defaults(func=cmd_plot_pseudo)
    p = figures.add_parser("weights", help="histogram of the dynamic weights per iteration and model")
    common(p, dataset=False)
    p.add_argument("--models", required=True, nargs="+", metavar="I:M=FILE",
                   help="model.json of model M after iteration I (its training summary holds the histogram)")
    p.set_defaults(func=cmd_plot_weights)

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
    p.set_defaults(func=cmd_examples)

