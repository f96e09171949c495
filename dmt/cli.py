"""``python -m dmt <command>``: the only entry point the workflow's rules call.

Every command reads its inputs from files and writes its outputs atomically; a bad input ends
with one ``error:`` line on stderr and exit status 2, leaving earlier outputs untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from dmt import __version__
from dmt.errors import DMTError, NonFiniteOutput, unwrapped
from dmt.integrity import file_digest

log = logging.getLogger("dmt")


def _setup(threads: int | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if threads:
        import torch

        torch.set_num_threads(threads)


def _outputs(*paths) -> None:
    """Before any work: remove what atomic writes of these outputs left when a run of this job
    was killed, and fail now where one could not be written (permission, read-only)."""
    from dmt.atomic import check_writable, remove_stale_temps

    for path in filter(None, paths):
        for stale in remove_stale_temps(path):
            log.info("removed %s, left by a killed run", stale)
        check_writable(path)


@contextlib.contextmanager
def _naming(model_path):
    """A model's NaN or infinite output is an error naming its file, never a score or labels."""
    try:
        yield
    except NonFiniteOutput as e:
        raise DMTError(f"{model_path}: {e}; retrain it: snakemake --forcerun {model_path}") from None


def _expect(dataset: str, data=None, **more) -> dict:
    """What a model given to this run must have been trained for (``dmt.modelfile.load_model``);
    ``data``: the prepared data set, where its classes are (a folder data set's classes.yaml)."""
    from dmt.data.registry import dataset_info

    return {"dataset": dataset, "num_classes": dataset_info(dataset, data).num_classes, **more}


def _read_split(root, split: str) -> list[str]:
    """A named id list of a prepared data set, whichever layout it has."""
    from dmt.data.classification import read_class_split
    from dmt.data.voc import check_root, read_split

    if (Path(root) / "lists").is_dir():  # the classification layout (dmt.data.classification)
        return read_class_split(root, split)
    return read_split(check_root(root), split)


def _ids(path) -> list[str]:
    from dmt.data.voc import read_id_file

    return read_id_file(path)


def _dataset(name: str, root, ids, *, augment=None, pseudo=None, with_masks=True):
    """The data set ``name`` at ``root`` restricted to ``ids``; with ``augment`` (a TrainSpec),
    augmented for training as the data set's task does it."""
    from dmt.data.registry import dataset_info
    from dmt.data.transforms import train_transform
    from dmt.data.voc import SegmentationDataset

    info = dataset_info(name, root)
    if info.task == "classification":
        from dmt.data.classification import AUGMENT, ClassificationDataset, classification_train_transform

        transform = classification_train_transform(**AUGMENT[name]) if augment else None
        return ClassificationDataset(root, ids, transform=transform, pseudo=pseudo, with_labels=with_masks)
    if augment and augment.crop_size is None:
        raise DMTError("segmentation training needs crop_size in the spec's hyper-parameters")
    transform = train_transform(augment.crop_size, augment.scale_range) if augment else None
    return SegmentationDataset(root, ids, info.num_classes, transform=transform,
                               with_masks=with_masks, pseudo=pseudo, image_ext=info.image_ext)


def _named_files(items: list[str], option: str, form: str, example: str) -> list[tuple[str, Path]]:
    """``KEY=FILE`` items of an option, in order."""
    out = []
    for item in items:
        key, sep, path = item.partition("=")
        if not (sep and key and path):
            raise DMTError(f"{option} takes {form} items, e.g. {example}; got {item!r}")
        out.append((key, Path(path)))
    return out


def _iteration_files(items: list[str], option: str, example: str) -> dict[tuple[int, str], Path]:
    """``ITERATION:MODEL=FILE`` items -> ``{(iteration, model): file}``."""
    out = {}
    for key, path in _named_files(items, option, "ITERATION:MODEL=FILE", example):
        i, colon, m = key.partition(":")
        if not (colon and i.isdigit() and m):
            raise DMTError(f"{option} takes ITERATION:MODEL=FILE items, e.g. {example}; got {key}={path}")
        out[int(i), m] = path
    return out


# ----------------------------------------------------------------------------- commands


def cmd_prepare(args) -> None:
    from dmt.data.registry import RAW_INPUTS, dataset_info, prepare_function

    info = dataset_info(args.dataset)
    missing = [k for k in info.raw_inputs if not getattr(args, k)]
    if missing:
        raise DMTError(f"prepare {args.dataset} needs " + "; ".join(
            f"--config {k}=/path ({RAW_INPUTS[k]}), or --{k.replace('_', '-')}" for k in missing))
    _outputs(args.out)
    kwargs = {k: getattr(args, k) for k in (*info.raw_inputs, *info.options)}
    if args.fingerprint:
        if not info.inspect:
            raise DMTError(f"--fingerprint is for data sets of your own files (folder), not {args.dataset}")
        kwargs["fingerprint"] = args.fingerprint
    summary = prepare_function(args.dataset)(out_root=args.out, **kwargs)
    log.info("%s prepared in %s: %s", args.dataset, args.out, json.dumps(summary["counts"]))


def _id_list(data, source: str) -> list[str]:
    """An id list: ``data:NAME`` (a list of the prepared data set), ``published:NAME`` (the paper's
    published splits, dmt/data/published_splits/) or a file."""
    from dmt.data.splits import read_published

    kind, _, name = source.partition(":")
    if kind == "data" and name:
        return _read_split(data, name)
    if kind == "published" and name:
        try:
            return read_published(name)
        except ValueError as e:
            raise DMTError(str(e)) from None
    return _ids(source)


def cmd_split(args) -> None:
    from dmt.atomic import write_lines
    from dmt.data.splits import make_split

    out = Path(args.out_dir)
    _outputs(*(out / f"{name}.txt" for name in ("labeled", "unlabeled", "valtiny")))
    labeled = int(args.labeled) if args.labeled.isdigit() else args.labeled
    fixed = _id_list(args.data, args.labeled_list) if args.labeled_list else None
    tiny = _id_list(args.data, args.valtiny_list) if args.valtiny_list else None
    if labeled == "all":
        if fixed is None:
            raise DMTError("--labeled all takes every id of --labeled-list, and none is given")
        labeled = len(fixed)
    # valtiny comes from val (segmentation) or, with --valtiny-from-train, from train.
    val = None if args.valtiny_from_train else _read_split(args.data, args.val_split)
    try:
        split = make_split(_read_split(args.data, args.train_split), val, labeled, args.valtiny,
                           args.seed, labeled_ids=fixed, valtiny_ids=tiny)
    except ValueError as e:
        raise DMTError(f"cannot split {args.data}: {e}") from e
    if args.dataset:  # a class the labeled set never shows: an error for a draw, said for a fixed list
        from dmt.data.registry import dataset_info
        from dmt.data.splits import unlabeled_classes_message

        info = dataset_info(args.dataset, args.data)
        message = unlabeled_classes_message(args.data, split.labeled, info.class_names, info.task, args.seed,
                                            drawn=fixed is None)
        if message and fixed is None:
            raise DMTError(message)
        if message:
            log.warning("%s", message)
    for name in ("labeled", "unlabeled", "valtiny"):
        write_lines(out / f"{name}.txt", getattr(split, name))
    log.info("split: %d labeled, %d unlabeled, %d valtiny", len(split.labeled), len(split.unlabeled),
             len(split.valtiny))


def cmd_dms(args) -> None:
    from dmt.atomic import write_lines
    from dmt.sampling import difference_maximized

    _outputs(args.out_a, args.out_b)
    a, b = difference_maximized(_ids(args.labeled), args.alpha, args.seed)
    write_lines(args.out_a, a)
    write_lines(args.out_b, b)
    log.info("difference-maximised sampling: |A| = |B| = %d, shared %d", len(a), len(set(a) & set(b)))


def cmd_train(args) -> None:
    import torch

    from dmt import finished
    from dmt.data.registry import dataset_info
    from dmt.inference import pick_device
    from dmt.integrity import sidecar_path, verify
    from dmt.jobs import read_job
    from dmt.modelfile import load_model
    from dmt.models import build_model, model_meta
    from dmt.provenance import code_digest, input_digest
    from dmt.pseudo import PseudoLabelStore
    from dmt.train import TrainSpec, train

    job = read_job(args.spec, "train")
    try:
        spec = TrainSpec(**job.hyper, num_workers=args.num_workers, checkpoint_every=args.checkpoint_every)
    except (ValueError, TypeError) as e:
        raise DMTError(f"bad hyper-parameters in {args.spec}: {e}") from e
    eval_every = args.eval_every
    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".ckpt")
    _outputs(out, sidecar_path(out), checkpoint)
    # What the result depends on: the spec, every file it reads, and the training code. A
    # checkpoint or a finished result made under anything else is not used.
    def fingerprint_of():
        return (code_digest("train"), file_digest(args.spec), *map(input_digest, job.inputs()))

    if finished.restore(out, fingerprint_of):
        return
    device = pick_device(args.device)
    info = dataset_info(job.dataset, job.data)
    torch.manual_seed(spec.seed)

    labeled_ids = [i for path in job.labeled for i in _ids(path)]
    labeled = _dataset(job.dataset, job.data, labeled_ids, augment=spec)
    pseudo = None
    if job.pseudo:
        verify(job.pseudo, required=True)  # before anything parses it
        if info.task == "classification":
            from dmt.pseudo_images import ImagePseudoLabels

            store = ImagePseudoLabels(job.pseudo, unlabeled_ids=_ids(job.unlabeled))
        else:
            store = PseudoLabelStore(job.pseudo, expected_ids=_ids(job.unlabeled))
        if store.num_classes != info.num_classes:
            raise DMTError(f"{job.pseudo} labels {store.num_classes} classes; {job.dataset} has "
                           f"{info.num_classes}")
        pseudo = _dataset(job.dataset, job.data, store.ids, augment=spec, pseudo=store, with_masks=False)
    elif spec.online_threshold:  # the student labels these images itself, at every step
        pseudo = _dataset(job.dataset, job.data, _ids(job.unlabeled), augment=spec, with_masks=False)
    if "from" in job.init:
        model, meta = load_model(job.init["from"], device, expect=_expect(job.dataset, job.data))
    else:
        try:
            options = job.init.get("options", {})
            meta = {**model_meta(job.init["model"], info.num_classes, job.init["weights"], options),
                    "dataset": job.dataset}
            model = build_model(meta["model"], info.num_classes, seed=job.init["seed"],
                                weights=job.init["weights"], options=options)
        except (KeyError, ValueError) as e:
            raise DMTError(f"bad init in {args.spec}: {e}") from e

    on_epoch_end = None
    fingerprint = fingerprint_of()
    if job.valtiny:
        from dmt.evaluate import evaluate_classification, evaluate_segmentation

        valtiny = _dataset(job.dataset, job.data, _ids(job.valtiny))

        def on_epoch_end(epoch, model):
            if epoch % eval_every and epoch != spec.epochs:
                return {}
            if info.task == "classification":
                scores = evaluate_classification(model, valtiny, {"valtiny": valtiny.ids}, device,
                                                 args.eval_batch_size, spec.amp, progress=False)["valtiny"]
                return {"valtiny_accuracy": scores["accuracy"]}
            return {"valtiny_miou": evaluate_segmentation(model, valtiny, device, spec.batch_size,
                                                          spec.crop_size, amp=spec.amp)["miou"]}

    summary = train(model, spec, labeled, out, pseudo=pseudo, checkpoint_path=checkpoint,
                    fingerprint_parts=fingerprint, device=device,
                    tb_dir=args.tensorboard, on_epoch_end=on_epoch_end,
                    meta={**meta, "dmt_version": __version__})
    finished.keep(out, fingerprint)
    log.info("trained %d steps in %.0f s -> %s", summary["steps"], summary["seconds"], out)


def cmd_pseudo(args) -> None:
    from dmt.atomic import write_json
    from dmt.data.registry import dataset_info
    from dmt.inference import pick_device
    from dmt.integrity import sidecar_fields, sidecar_path
    from dmt.jobs import read_job
    from dmt.modelfile import load_model
    from dmt.pseudo import generate

    job = read_job(args.spec, "pseudo")
    summary_path = sidecar_path(args.out)
    _outputs(args.out, summary_path)
    device = pick_device(args.device)
    model, meta = load_model(job.teacher, device, expect=_expect(job.dataset, job.data))
    dataset = _dataset(job.dataset, job.data, _ids(job.unlabeled), with_masks=job.with_truth)
    # The accuracy of the kept labels is measured against the unlabeled images' masks where the
    # data set has them (benchmarks); a user's unlabeled images have none, and the summary says so.
    truth = {"ground_truth": job.with_truth}
    if not job.with_truth:
        truth["note"] = "no ground truth for the unlabeled images: the accuracy of the kept labels is not measured"

    def accuracy(summary):
        return summary["kept_accuracy"] if job.with_truth else "not measured (no ground truth)"

    if dataset_info(job.dataset, job.data).task == "classification":
        from dmt.pseudo_images import generate_image_labels

        with _naming(job.teacher):
            summary = generate_image_labels(model, dataset, args.out, job.alpha, file_digest(job.teacher),
                                            device, job.batch_size, amp=job.amp, classwise=job.classwise)
        write_json(summary_path, {**summary, **truth, **sidecar_fields(args.out)})
        log.info("pseudo labels -> %s: kept %d of %d images (%s top %.0f%%), accuracy of kept %s",
                 args.out, summary["kept"], summary["num_images"], summary["selection"],
                 100 * job.alpha, accuracy(summary))
        return
    with _naming(job.teacher):
        summary = generate(model, dataset, args.out, meta["num_classes"], job.alpha,
                           file_digest(job.teacher), device, job.batch_size, job.pad_to, amp=job.amp)
    write_json(summary_path, {**summary, **truth, **sidecar_fields(args.out)})
    log.info("pseudo labels -> %s: kept %.1f%% of pixels, accuracy of kept %s", args.out,
             100 * summary["kept_fraction"], accuracy(summary))


def cmd_evaluate(args) -> None:
    from dmt.atomic import write_json
    from dmt.data.registry import dataset_info
    from dmt.data.voc import read_split
    from dmt.evaluate import evaluate_subsets
    from dmt.inference import pick_device
    from dmt.modelfile import load_model

    _outputs(args.out)
    device = pick_device(args.device)
    model, _ = load_model(args.model, device, expect=_expect(args.dataset, args.data))
    info = dataset_info(args.dataset, args.data)
    if info.task == "classification":
        from dmt.evaluate import evaluate_classification

        subsets = {"test": _read_split(args.data, info.test_split), "valtiny": _ids(args.valtiny)}
        ids = list(dict.fromkeys(subsets["test"] + subsets["valtiny"]))
        result = {"model": str(args.model), "model_digest": file_digest(args.model)}
        with _naming(args.model):
            result.update(evaluate_classification(model, _dataset(args.dataset, args.data, ids), subsets,
                                                  device, args.batch_size, amp=not args.no_amp))
        for split in subsets:
            log.info("%s accuracy %.4f (fine-grained %.4f) of %s", split, result[split]["accuracy"],
                     result[split]["fine_grained_accuracy"], args.model)
        write_json(args.out, result)
        return
    subsets = {"val": read_split(args.data, args.val_split), "valtiny": _ids(args.valtiny)}
    # valtiny is normally part of val: one pass over their union predicts each image once.
    ids = list(dict.fromkeys(subsets["val"] + subsets["valtiny"]))
    result = {"model": str(args.model), "model_digest": file_digest(args.model)}
    with _naming(args.model):
        result.update(evaluate_subsets(model, _dataset(args.dataset, args.data, ids), subsets, device,
                                       args.batch_size, args.pad_to, class_names=info.class_names,
                                       amp=not args.no_amp))
    for split in subsets:
        log.info("%s mIoU %.4f on %s", split, result[split]["miou"], args.model)
    write_json(args.out, result)


def cmd_convert_coco(args) -> None:
    from dmt.models.deeplab_v2 import convert_coco

    _outputs(args.out)
    summary = convert_coco(args.checkpoint, args.out)
    log.info("converted %d tensors (head of %s classes) -> %s", summary["tensors"],
             summary["head_classes"], args.out)


def cmd_final(args) -> None:
    from dmt.atomic import write_json
    from dmt.data.registry import dataset_info
    from dmt.final import select_final, select_final_classification

    _outputs(args.out)
    metrics = _iteration_files(args.metrics, "--metrics", "0:A=results/x/iter0/A/metrics.json")
    try:
        if dataset_info(args.dataset).task == "classification":
            result = select_final_classification(metrics)
        else:
            result = select_final(metrics)
    except (OSError, KeyError, ValueError) as e:
        raise DMTError(f"cannot summarise {args.out}: {e}") from e
    write_json(args.out, result)


def cmd_compare(args) -> None:
    from dmt import tables
    from dmt.atomic import write_text
    from dmt.methods import METHODS, ROWS

    inputs = {key: str(path) for key, path in _named_files(
        args.inputs, "compare", "METHOD:EXPERIMENT=FILE", "dmt:digits_1_20=results/digits_1_20/final_miou.json")}
    bad = [k for k in inputs if ":" not in k]
    if bad:
        raise DMTError(f"compare takes METHOD:EXPERIMENT=FILE items; got {bad[0]!r}")
    out = Path(args.out_dir)
    _outputs(*(out / f"{args.name}{suffix}" for suffix in (".csv", ".md", ".html", "_iterations.csv")))
    descriptions = {**{name: m.description for name, m in METHODS.items()}, **ROWS}
    table, long = tables.comparison(args.name, inputs, descriptions)
    score = tables.score_name(next(iter(inputs.values())))
    tables.write(table, out / f"{args.name}.csv",
                 title=f"{args.name}: {score} (%) of the selected model, per split seed; every method "
                       f"of a split starts from the same baselines")
    write_text(out / f"{args.name}_iterations.csv", long.to_csv(index=False))
    log.info("%s:\n%s", args.name, table.to_string(index=False))


def cmd_summary(args) -> None:
    from dmt import tables

    out = Path(args.out)
    _outputs(out, out.with_suffix(".md"), out.with_suffix(".html"))
    try:
        runs = json.loads(args.runs)
    except ValueError as e:
        raise DMTError(f"--runs is not JSON ({e})") from None
    table = tables.summary(runs)
    tables.write(table, out, title=args.title)
    log.info("summary of %d runs -> %s", len(table), out)


def cmd_export(args) -> None:
    from dmt.final_model import export

    candidates = {}
    for item in args.candidate:
        label, sep, path = item.partition("=")
        if not (sep and label and path):
            raise DMTError(f"--candidate takes SELECTED=FILE items, e.g. B5=results/x/iter5/B/model.pt; got {item!r}")
        candidates[label] = path
    from dmt.modelfile import load_model

    def load(path, device):
        return load_model(path, device, expect=_expect(args.dataset, args.data))

    meta = export(args.final, candidates, load, dataset=args.dataset, data_root=args.data,
                  experiment=args.experiment, run=args.run, method=args.method, pad_to=args.pad_to,
                  out=args.out)
    log.info("final model %s (%s, iteration %d) -> %s", meta["origin"]["selected"], meta["origin"]["source"],
             meta["origin"]["iteration"], args.out)


def cmd_predict(args) -> None:
    from dmt.final_model import check_exported
    from dmt.inference import pick_device
    from dmt.modelfile import load_model
    from dmt.predict import run_predict

    device = pick_device(args.device)
    model, meta = load_model(args.model, device)
    check_exported(meta, args.model)
    summary = run_predict(model, meta, args.images, args.out, device, batch_size=args.batch_size,
                          pad_to=args.pad_to, confidence=args.confidence, overlay=args.overlay,
                          amp=not args.no_amp, num_workers=args.num_workers)
    log.info("predicted %d images with %s -> %s", summary["images"], args.model, args.out)


# ----------------------------------------------------------------------------- parser


def _data_args(p: argparse.ArgumentParser) -> None:
    from dmt.data.registry import DATASETS

    p.add_argument("--dataset", required=True, choices=sorted(DATASETS),
                   help="data set name (digits, voc, cityscapes: segmentation; digits_cls, cifar10)")
    p.add_argument("--data", required=True, help="root folder in PASCAL VOC layout")


def _runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--pad-to", type=int, nargs=2, default=(0, 0), metavar=("H", "W"),
                   help="zero-pad inputs to at least the training crop size")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dmt", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dmt {__version__}")
    parser.add_argument("--log", metavar="FILE", help="write all output (logging, progress, warnings) "
                        "to FILE; only a final error line also goes to the console (what the rules use)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    from dmt.data.registry import DATASETS, RAW_INPUTS

    p = sub.add_parser("prepare", help="prepare a data set (segmentation: PASCAL VOC layout)")
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--out", required=True)
    for key in sorted({k for info in DATASETS.values() for k in info.raw_inputs}):
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, help=RAW_INPUTS[key])
    p.add_argument("--seed", type=int, default=0, help="digits, digits_cls: composition / test-set seed")
    p.add_argument("--n-train", type=int, default=1000, help="digits: train canvases")
    p.add_argument("--n-val", type=int, default=300, help="digits: val canvases")
    p.add_argument("--fingerprint", help="folder: the digest of its files the workflow planned with; "
                   "preparation stops if the folder has changed since")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("split", help="seeded labeled / unlabeled / valtiny id lists")
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", choices=sorted(DATASETS), help="the data set: checks that every one of its classes "
                   "is labeled in the labeled ids")
    p.add_argument("--labeled", required=True, help="ratio like 1/20 or a count like 100")
    p.add_argument("--valtiny", type=int, required=True, help="number of val ids for model selection")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train-split", default="train", help="list the labeled/unlabeled split partitions")
    p.add_argument("--valtiny-from-train", action="store_true",
                   help="draw valtiny from the train ids (classification), not from --val-split")
    p.add_argument("--labeled-list", help="fixed labeled ids: a file, data:NAME for the data's "
                   "ImageSets/Segmentation/NAME.txt (data:train is VOC's 1,464 for Table 5), or "
                   "published:NAME for the paper's lists (e.g. published:dst-cbc/voc/20_labeled_0.txt)")
    p.add_argument("--valtiny-list", help="fixed valtiny ids, as --labeled-list (e.g. "
                   "published:dst-cbc/voc/valtiny.txt)")
    p.add_argument("--val-split", default="val")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("dms", help="difference-maximised sampling of the labeled ids (Eq. 11)")
    p.add_argument("--labeled", required=True)
    p.add_argument("--alpha", type=float, default=0.8)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-a", required=True)
    p.add_argument("--out-b", required=True)
    p.set_defaults(func=cmd_dms)

    p = sub.add_parser("train", help="baseline training, a DMT iteration or the oracle, from a spec file")
    _runtime_args(p)
    p.add_argument("--spec", required=True, help="train spec JSON (dmt.jobs.TrainJob), e.g. "
                   "results/{run}/iter{i}/{m}/spec.json as the workflow writes it")
    p.add_argument("--tensorboard", help="TensorBoard log folder")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between valtiny evaluations")
    p.add_argument("--eval-batch-size", type=int, default=256, help="classification valtiny batch")
    p.add_argument("--out", required=True, help="model file to write")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pseudo", help="top-alpha pseudo labels into HDF5 (one pass), from a spec file")
    _runtime_args(p)
    p.add_argument("--spec", required=True, help="pseudo spec JSON (dmt.jobs.PseudoJob)")
    p.add_argument("--out", required=True, help="HDF5 file to write; its summary, with the digest that "
                   "`train` checks, goes beside it (.json)")
    p.set_defaults(func=cmd_pseudo)

    p = sub.add_parser("evaluate", help="mIoU of a model on val and valtiny")
    _data_args(p)
    _runtime_args(p)
    _inference_args(p)
    p.add_argument("--model", required=True)
    p.add_argument("--val-split", default="val", help="ImageSets/Segmentation/<name>.txt of the data")
    p.add_argument("--valtiny", required=True, help="id list for model selection")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("convert-coco", help="map the Caffe-converted COCO DeepLab-v2 weights to deeplab_v2")
    p.add_argument("--checkpoint", required=True, help="e.g. resnet101COCO-41f33a49.pth (local file)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_convert_coco)

    p = sub.add_parser("compare", help="a comparison's table: methods x split seeds, mean and std (pandas)")
    p.add_argument("--name", required=True, help="the comparison's name (config `comparisons:`)")
    p.add_argument("--out-dir", required=True, help="writes NAME.csv, NAME.md and NAME_iterations.csv")
    p.add_argument("inputs", nargs="+", metavar="METHOD:EXP=FILE",
                   help="a run's final JSON (baseline:EXP its experiment's own run; oracle:EXP the "
                        "oracle's metrics.json), in table order")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("summary", help="a Table-1-style summary of every run with results")
    p.add_argument("--runs", required=True, help="JSON: run -> {final, experiment, dataset, labeled, "
                   "method, oracle (metrics file or null)}")
    p.add_argument("--out", required=True, help="CSV to write (Markdown and HTML beside it)")
    p.add_argument("--title", default="Every run with results: baseline and final model (each selected on "
                   "valtiny), the oracle where trained; % (val mIoU or test accuracy)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("final", help="select the final model on valtiny, report val (or test)")
    p.add_argument("--dataset", required=True, help="the run's data set (its task decides the rule)")
    p.add_argument("--metrics", required=True, nargs="+", metavar="I:M=FILE",
                   help="metrics of model M (A, B) after iteration I (0 = baseline)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_final)

    p = sub.add_parser("export", help="write the final model selected by `final` as one self-describing file")
    p.add_argument("--final", required=True, help="the run's final_miou.json / final_acc.json")
    p.add_argument("--candidate", required=True, nargs="+", action="extend", metavar="SELECTED=FILE",
                   help="model file of each name `final` may select (B5, iter3 ...); repeatable")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data", required=True, help="the prepared data set (class names, palette, image size)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--pad-to", type=int, nargs=2, default=(0, 0), metavar=("H", "W"),
                   help="segmentation: the training crop, to which predictions zero-pad smaller images")
    p.add_argument("--out", required=True, help="e.g. results/{run}/final_model.pt")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="label images with an exported model (results/{run}/final_model.pt)")
    _runtime_args(p)
    p.add_argument("--model", required=True, help="an exported model, results/{run}/final_model.pt")
    p.add_argument("--images", required=True, help="a folder of .jpg/.jpeg/.png images, or a text file "
                   "listing image paths (one per line, relative to the file's folder)")
    p.add_argument("--out", required=True, help="folder for the masks (segmentation: {id}.png) or "
                   "predictions.csv (classification), and predictions.json")
    p.add_argument("--confidence", action="store_true", help="also confidence/{id}.npy: max softmax, float16")
    p.add_argument("--overlay", action="store_true", help="also overlay/{id}.jpg: the image blended with its mask")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--pad-to", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="zero-pad inputs to at least H x W (default: the model's training crop)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader processes decoding images")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    p.set_defaults(func=cmd_predict)

    from dmt.report_cli import add_parsers

    add_parsers(sub, _data_args, _runtime_args, _inference_args)
    return parser


def _log_to(path) -> "object":
    """Send everything this process prints (Python's and C libraries' stdout and stderr: logging,
    progress bars, warnings) to ``path``; return a handle on the original stderr (the console), where
    only the final ``error:`` line goes. A job's console line is then exactly its error."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    console = os.fdopen(os.dup(2), "w", buffering=1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return console


def main(argv: list[str] | None = None) -> int:
    # HDF5 file locks fail on NFS/Lustre ("unable to lock file"); every HDF5 file here has a
    # single writer (its own job, into a temp file), so locking buys nothing. Must precede h5py.
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    args = build_parser().parse_args(argv)
    console = _log_to(args.log) if args.log else None

    def fail(message: str, code: int) -> int:
        print(message, file=sys.stderr)
        if console is not None:
            print(message, file=console)
        return code

    _setup(getattr(args, "threads", None))
    try:
        args.func(args)
    except DMTError as e:
        return fail(f"error: {e}", 2)
    except OSError as e:  # a path of the user's: missing, unreadable, a folder for a file
        where = f": {e.filename}" if e.filename else ""
        # re-raised from a DataLoader worker, its message is the worker's traceback: its last line
        return fail(f"error: {unwrapped(str(e), type(e)) or e.strerror or e}{where}", 2)
    except KeyboardInterrupt:
        return fail("error: interrupted; outputs written so far are complete, partial ones were removed", 130)
    except Exception as e:  # a bug, not a user error: the traceback goes to the log
        if console is None:
            raise
        import traceback

        traceback.print_exc()
        return fail(f"error: {type(e).__name__}: {e} (a bug in dmt; traceback in {args.log})", 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
