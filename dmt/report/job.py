"""The report's commands: ``python -m dmt plot {metric,pseudo,weights}``, ``examples``, and the
tables, ``compare`` and ``summary``. Models load through ``dmt.models.files.load_model``, data sets
through ``dmt.data.datasets.make_dataset``, as in the stages whose results they show.
"""

from __future__ import annotations

import logging

from dmt.data.datasets import make_dataset
from dmt.data.lists import read_ids
from dmt.errors import DMTError
from dmt.items import iteration_files, named_files
from dmt.models.files import expected
from dmt.tasks import task_of

log = logging.getLogger("dmt")


def _task(dataset: str) -> str:
    from dmt.data.registry import dataset_info

    return dataset_info(dataset).task


def _curves(items: list[str], task: str):
    from dmt.report.data import run_curve
    from dmt.store.atomic import read_json

    pairs = named_files(items, "--final", "LABEL=FILE", "dmt=results/x/final_miou.json")
    return [run_curve(label, read_json(path, "final result"), task, str(path)) for label, path in pairs]


def _oracle(path, task: str) -> float | None:
    from dmt.report.data import oracle_value
    from dmt.store.atomic import read_json

    return None if path is None else oracle_value(read_json(path, "oracle metrics"), task, str(path))


def cmd_plot_metric(args) -> None:
    from dmt.report.plots import plot_metric_by_iteration

    task = _task(args.dataset)
    metric = task_of(task).metric_label
    plot_metric_by_iteration(_curves(args.final, task), args.out, metric=metric,
                             title=f"{args.name}: {metric} per iteration", oracle=_oracle(args.oracle, task))


def _kept_truth(h5, data: str, dataset: str):
    """Labels and ground truth of the images an image pseudo-label set kept."""
    from dmt.pseudo.images import ImagePseudoLabels

    store = ImagePseudoLabels(h5)
    images = make_dataset(dataset, data, store.ids)
    labels = [store[i][0] for i in store.ids]
    conf = [store[i][1] for i in store.ids]
    return store, images, labels, conf


def cmd_plot_pseudo(args) -> None:
    from dmt.data.registry import dataset_info
    from dmt.report.plots import plot_pseudo_labels
    from dmt.store.atomic import read_json

    info = dataset_info(args.dataset)
    task = task_of(info)
    sets = []
    for (i, t), h5 in iteration_files(args.sets, "--sets", "1:B=results/x/iter1/pseudo_B.h5").items():
        summary = read_json(h5.with_suffix(".json"), "pseudo-label summary")
        sets.append(task.pseudo_set(args, info, i, t, h5, summary))
    plot_pseudo_labels(sets, list(info.class_names), args.out, title=f"{args.name}: pseudo labels per iteration",
                       kept_meaning=task.kept_meaning)


def segmentation_set(args, info, i: int, t: str, h5, summary):
    """A segmentation set's figure data, from its summary alone."""
    from dmt.report.data import segmentation_pseudo_set

    return segmentation_pseudo_set(i, t, summary)


def classification_set(args, info, i: int, t: str, h5, summary):
    """An image set's figure data: its kept labels against the ground truth, read from --data."""
    from dmt.report.data import classification_pseudo_set

    if not args.data:
        raise DMTError("plot pseudo of a classification data set needs --data (for the precision per class)")
    _, images, labels, _ = _kept_truth(h5, args.data, args.dataset)
    return classification_pseudo_set(i, t, summary, labels, images.labels, info.num_classes)


def cmd_plot_weights(args) -> None:
    from dmt.report.data import weight_histogram
    from dmt.report.plots import plot_weight_histograms
    from dmt.store.atomic import read_json

    hists: dict[int, dict] = {}
    for (i, m), path in iteration_files(args.models, "--models", "1:A=results/x/iter1/A/model.json").items():
        summary = read_json(path, "model summary").get("summary")
        if summary is None:
            raise DMTError(f"{path} holds no training summary; rerun the job that makes it: "
                           f"snakemake --forcerun {path}")
        hists.setdefault(i, {})[m] = weight_histogram(summary, str(path))
    plot_weight_histograms(hists, args.out, title=f"{args.name}: dynamic weights per iteration")


def segmentation_example_figure(args, info) -> None:
    import torch

    from dmt.data.voc import VOC_PALETTE
    from dmt.models.files import load_model
    from dmt.models.inference import pick_device
    from dmt.pseudo.segmentation import PseudoLabelStore
    from dmt.report.examples import predictions, segmentation_examples
    from dmt.report.plots import plot_segmentation_examples

    if not (args.models and args.valtiny) or bool(args.teacher) != bool(args.pseudo):
        raise DMTError("examples of a segmentation data set need --models and --valtiny, and --teacher "
                       "with --pseudo (or neither)")
    models = iteration_files(args.models, "--models", "0:A=results/x/iter0/A/model.pt")
    shown = {m for _, m in models}
    if len(shown) != 1:
        raise DMTError(f"--models must be one model's iterations, got models {sorted(shown)}")
    ids = read_ids(args.valtiny)[: args.count]
    if not ids:
        raise DMTError(f"{args.valtiny} lists no images")
    dataset = make_dataset(args.dataset, args.data, ids)
    device = pick_device(args.device)
    store = PseudoLabelStore(args.pseudo) if args.pseudo else None

    def predict_with(path):
        model, _ = load_model(path, device, expect=expected(args.dataset, args.data))
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


def classification_example_figure(args, info) -> None:
    from dmt.report.examples import confidence_extremes, image_choices
    from dmt.report.plots import plot_classification_examples

    if not args.sets:
        raise DMTError("examples of a classification data set need --sets")
    rows = {}
    for (i, _), h5 in iteration_files(args.sets, "--sets", "1:A=results/x/iter1/pseudo_A.h5").items():
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
    task_of(info).plot_examples(args, info)
    log.info("examples -> %s", args.out)
