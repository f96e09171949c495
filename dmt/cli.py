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
from dmt.errors import DMTError, NonFiniteOutput
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


def _expect(args, **more) -> dict:
    """What a model given to this run must have been trained for (``dmt.modelfile.load_model``)."""
    from dmt.data.registry import dataset_info

    return {"dataset": args.dataset, "num_classes": dataset_info(args.dataset).num_classes, **more}


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


def _dataset(args, ids, *, train_crop=None, scale_range=(0.5, 1.5), pseudo=None, with_masks=True):
    """The data set of ``ids``, augmented for training when ``train_crop`` is given."""
    from dmt.data.registry import dataset_info
    from dmt.data.transforms import train_transform
    from dmt.data.voc import SegmentationDataset

    info = dataset_info(args.dataset)
    if info.task == "classification":
        from dmt.data.classification import AUGMENT, ClassificationDataset, classification_train_transform

        transform = classification_train_transform(**AUGMENT[args.dataset]) if train_crop else None
        return ClassificationDataset(args.data, ids, transform=transform, pseudo=pseudo, with_labels=with_masks)
    transform = train_transform(tuple(train_crop), tuple(scale_range)) if train_crop else None
    return SegmentationDataset(args.data, ids, info.num_classes, transform=transform,
                               with_masks=with_masks, pseudo=pseudo, image_ext=info.image_ext)


# ----------------------------------------------------------------------------- commands


# What each `prepare` reads from the user's disk: option -> what it must hold.
PREPARE_ROOTS = {
    "voc": {"voc_root": "the folder holding VOC2012/JPEGImages, e.g. .../VOCdevkit",
            "sbd_root": "the folder holding benchmark_RELEASE/dataset/cls/*.mat"},
    "cityscapes": {"cityscapes_root": "the folder holding leftImg8bit/ and gtFine/"},
    "cifar10": {"cifar10_root": "the folder holding cifar-10-batches-py/"},
}


def cmd_prepare(args) -> None:
    missing = {k: v for k, v in PREPARE_ROOTS.get(args.dataset, {}).items() if not getattr(args, k)}
    if missing:
        raise DMTError(f"prepare {args.dataset} needs " + "; ".join(
            f"--config {k}=/path ({v}), or --{k.replace('_', '-')}" for k, v in missing.items()))
    _outputs(args.out)
    if args.dataset == "voc":
        from dmt.data.voc_prepare import prepare_voc

        summary = prepare_voc(args.voc_root, args.sbd_root, args.out)
    elif args.dataset == "cityscapes":
        from dmt.data.cityscapes_prepare import prepare_cityscapes

        summary = prepare_cityscapes(args.cityscapes_root, args.out)
    elif args.dataset == "cifar10":
        from dmt.data.classification import prepare_cifar10

        summary = prepare_cifar10(args.cifar10_root, args.out)
    elif args.dataset == "digits_cls":
        from dmt.data.classification import prepare_digits_cls

        summary = prepare_digits_cls(args.out, seed=args.seed)
    else:
        from dmt.data.digits import prepare_digits

        summary = prepare_digits(args.out, seed=args.seed, n_train=args.n_train, n_val=args.n_val)
    log.info("%s prepared in %s: %s", args.dataset, args.out, json.dumps(summary["counts"]))


def cmd_split(args) -> None:
    from dmt.atomic import write_lines
    from dmt.data.splits import make_split

    out = Path(args.out_dir)
    _outputs(*(out / f"{name}.txt" for name in ("labeled", "unlabeled", "valtiny")))
    labeled = int(args.labeled) if args.labeled.isdigit() else args.labeled
    fixed = None
    if args.labeled_list:
        name = args.labeled_list.removeprefix("data:")
        fixed = _read_split(args.data, name) if name != args.labeled_list else _ids(args.labeled_list)
    # valtiny comes from val (segmentation) or, with --valtiny-from-train, from train.
    val = None if args.valtiny_from_train else _read_split(args.data, args.val_split)
    try:
        split = make_split(_read_split(args.data, args.train_split), val, labeled, args.valtiny,
                           args.seed, labeled_ids=fixed)
    except ValueError as e:
        raise DMTError(f"cannot split {args.data}: {e}") from e
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

    from dmt.data.registry import dataset_info
    from dmt.inference import pick_device
    from dmt.integrity import sidecar_path, verify
    from dmt.modelfile import load_model
    from dmt.models import build_model, model_meta
    from dmt.pseudo import PseudoLabelStore
    from dmt.train import TrainSpec, train

    try:
        spec_in = json.loads(args.spec)
        model_cfg = spec_in.pop("model")
        spec = TrainSpec(**spec_in, num_workers=args.num_workers, checkpoint_every=args.checkpoint_every)
    except (ValueError, TypeError, KeyError) as e:
        raise DMTError(f"bad --spec: {e}") from e
    eval_every = args.eval_every
    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".ckpt")
    _outputs(out, sidecar_path(out), checkpoint)
    device = pick_device(args.device)
    info = dataset_info(args.dataset)
    torch.manual_seed(spec.seed)

    labeled_ids = [i for path in args.labeled for i in _ids(path)]
    labeled = _dataset(args, labeled_ids, train_crop=spec.crop_size, scale_range=spec.scale_range)
    pseudo = None
    fingerprint = [file_digest(path) for path in args.labeled]
    if args.pseudo:
        pseudo_digest = verify(args.pseudo, required=True)  # before anything parses it
        if info.task == "classification":
            from dmt.pseudo_images import ImagePseudoLabels

            store = ImagePseudoLabels(args.pseudo, unlabeled_ids=_ids(args.unlabeled))
        else:
            store = PseudoLabelStore(args.pseudo, expected_ids=_ids(args.unlabeled))
        if store.num_classes != info.num_classes:
            raise DMTError(f"{args.pseudo} labels {store.num_classes} classes; {args.dataset} has "
                           f"{info.num_classes}")
        pseudo = _dataset(args, store.ids, train_crop=spec.crop_size, scale_range=spec.scale_range,
                          pseudo=store, with_masks=False)
        fingerprint.append(pseudo_digest)
    if args.init_from:
        model, meta = load_model(args.init_from, device, expect=_expect(args, model=model_cfg.get("name")))
        fingerprint.append(file_digest(args.init_from))
    else:
        weights = model_cfg.get("weights", "scratch")
        try:
            meta = {**model_meta(model_cfg["name"], info.num_classes, weights), "dataset": args.dataset}
            model = build_model(meta["model"], info.num_classes, seed=model_cfg["seed"], weights=weights)
        except ValueError as e:
            raise DMTError(f"bad --spec model: {e}") from e

    on_epoch_end = None
    if args.valtiny:
        from dmt.evaluate import evaluate_classification, evaluate_segmentation

        valtiny = _dataset(args, _ids(args.valtiny))

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
                    fingerprint_parts=tuple(fingerprint), device=device,
                    tb_dir=args.tensorboard, on_epoch_end=on_epoch_end,
                    meta={**meta, "dmt_version": __version__})
    log.info("trained %d steps in %.0f s -> %s", summary["steps"], summary["seconds"], out)


def cmd_pseudo(args) -> None:
    from dmt.atomic import write_json
    from dmt.data.registry import dataset_info
    from dmt.inference import pick_device
    from dmt.integrity import sidecar_fields, sidecar_path
    from dmt.modelfile import load_model
    from dmt.pseudo import generate

    summary_path = args.summary or sidecar_path(args.out)
    _outputs(args.out, summary_path)
    device = pick_device(args.device)
    model, meta = load_model(args.teacher, device, expect=_expect(args))
    dataset = _dataset(args, _ids(args.unlabeled), with_masks=args.with_truth)
    if dataset_info(args.dataset).task == "classification":
        from dmt.pseudo_images import generate_image_labels

        with _naming(args.teacher):
            summary = generate_image_labels(model, dataset, args.out, args.alpha, file_digest(args.teacher),
                                            device, args.batch_size, amp=not args.no_amp,
                                            classwise=args.classwise)
        write_json(summary_path, {**summary, **sidecar_fields(args.out)})
        log.info("pseudo labels -> %s: kept %d of %d images (%s top %.0f%%), accuracy of kept %s",
                 args.out, summary["kept"], summary["num_images"], summary["selection"],
                 100 * args.alpha, summary["kept_accuracy"])
        return
    with _naming(args.teacher):
        summary = generate(model, dataset, args.out, meta["num_classes"], args.alpha,
                           file_digest(args.teacher), device, args.batch_size, args.pad_to,
                           amp=not args.no_amp)
    write_json(summary_path, {**summary, **sidecar_fields(args.out)})
    log.info("pseudo labels -> %s: kept %.1f%% of pixels, accuracy of kept %s", args.out,
             100 * summary["kept_fraction"], summary["kept_accuracy"])


def cmd_evaluate(args) -> None:
    from dmt.atomic import write_json
    from dmt.data.registry import dataset_info
    from dmt.data.voc import read_split
    from dmt.evaluate import evaluate_subsets
    from dmt.inference import pick_device
    from dmt.modelfile import load_model

    _outputs(args.out)
    device = pick_device(args.device)
    model, _ = load_model(args.model, device, expect=_expect(args))
    info = dataset_info(args.dataset)
    if info.task == "classification":
        from dmt.evaluate import evaluate_classification

        subsets = {"test": _read_split(args.data, info.test_split), "valtiny": _ids(args.valtiny)}
        ids = list(dict.fromkeys(subsets["test"] + subsets["valtiny"]))
        result = {"model": str(args.model), "model_digest": file_digest(args.model)}
        with _naming(args.model):
            result.update(evaluate_classification(model, _dataset(args, ids), subsets, device,
                                                  args.batch_size, amp=not args.no_amp))
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
        result.update(evaluate_subsets(model, _dataset(args, ids), subsets, device, args.batch_size,
                                       args.pad_to, class_names=dataset_info(args.dataset).class_names,
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
    from dmt.evaluate import select_final, select_final_classification

    _outputs(args.out)
    try:
        if args.task == "classification":
            write_json(args.out, select_final_classification(Path(args.results), args.iterations))
        else:
            write_json(args.out, select_final(Path(args.results), args.iterations))
    except (OSError, KeyError, ValueError) as e:
        raise DMTError(f"cannot summarise {args.results}: {e}") from e


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
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("prepare", help="prepare a data set in PASCAL VOC layout")
    p.add_argument("dataset", choices=["digits", "voc", "cityscapes", "digits_cls", "cifar10"])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0, help="digits: composition seed")
    p.add_argument("--n-train", type=int, default=1000, help="digits: train canvases")
    p.add_argument("--n-val", type=int, default=300, help="digits: val canvases")
    p.add_argument("--voc-root", help="voc: folder holding VOC2012/JPEGImages (e.g. VOCdevkit)")
    p.add_argument("--sbd-root", help="voc: folder holding benchmark_RELEASE/dataset/cls/*.mat")
    p.add_argument("--cityscapes-root", help="cityscapes: folder holding leftImg8bit/ and gtFine/")
    p.add_argument("--cifar10-root", help="cifar10: folder holding cifar-10-batches-py/")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("split", help="seeded labeled / unlabeled / valtiny id lists")
    p.add_argument("--data", required=True)
    p.add_argument("--labeled", required=True, help="ratio like 1/20 or a count like 100")
    p.add_argument("--valtiny", type=int, required=True, help="number of val ids for model selection")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train-split", default="train", help="list the labeled/unlabeled split partitions")
    p.add_argument("--valtiny-from-train", action="store_true",
                   help="draw valtiny from the train ids (classification), not from --val-split")
    p.add_argument("--labeled-list", help="fixed labeled ids: a file, or data:NAME for the data's "
                   "ImageSets/Segmentation/NAME.txt (data:train is VOC's 1,464 for Table 5)")
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

    p = sub.add_parser("train", help="baseline training or a DMT fine-tuning")
    _data_args(p)
    _runtime_args(p)
    p.add_argument("--spec", required=True, help="JSON: TrainSpec fields plus model {name, seed}")
    p.add_argument("--labeled", required=True, nargs="+", help="labeled id list(s)")
    p.add_argument("--pseudo", help="pseudo-label HDF5 of the other model (DMT fine-tuning)")
    p.add_argument("--unlabeled", help="unlabeled id list the pseudo labels must match")
    p.add_argument("--init-from", help="model to fine-tune from")
    p.add_argument("--valtiny", help="id list evaluated after epochs (TensorBoard)")
    p.add_argument("--tensorboard", help="TensorBoard log folder")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between valtiny evaluations")
    p.add_argument("--eval-batch-size", type=int, default=256, help="classification valtiny batch")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pseudo", help="class-wise top-alpha pseudo labels into HDF5 (one pass)")
    _data_args(p)
    _runtime_args(p)
    _inference_args(p)
    p.add_argument("--teacher", required=True)
    p.add_argument("--unlabeled", required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--classwise", action="store_true",
                   help="classification: top alpha of each predicted class, not of all images")
    p.add_argument("--with-truth", action="store_true",
                   help="read the unlabeled set's masks to report pseudo-label accuracy (diagnostic)")
    p.add_argument("--summary", help="the summary JSON, with the digest that `train --pseudo` checks "
                   "(default and expected there: the output's sibling .json)")
    p.add_argument("--out", required=True)
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

    p = sub.add_parser("final", help="select the final model on valtiny, report val")
    p.add_argument("--results", required=True, help="results/{exp}")
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--task", choices=["segmentation", "classification"], default="segmentation",
                   help="segmentation: best of A/B on valtiny; classification: best iteration")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_final)
    return parser


def main(argv: list[str] | None = None) -> int:
    # HDF5 file locks fail on NFS/Lustre ("unable to lock file"); every HDF5 file here has a
    # single writer (its own job, into a temp file), so locking buys nothing. Must precede h5py.
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    args = build_parser().parse_args(argv)
    _setup(getattr(args, "threads", None))
    try:
        args.func(args)
    except DMTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path of the user's: missing, unreadable, a folder for a file
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; outputs written so far are complete, partial ones were removed",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
