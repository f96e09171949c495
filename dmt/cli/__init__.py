"""``python -m dmt <command>``: the only entry point the workflow's rules call.

Every command reads its inputs from files and writes its outputs atomically; a bad input ends
with one ``error:`` line on stderr and exit status 2, leaving earlier outputs untouched.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from dmt import __version__
from dmt.errors import DMTError, unwrapped

log = logging.getLogger("dmt")


def _setup(threads: int | None) -> None:
    # Ranks above 0 of a job on several (torchrun) share rank 0's log: their warnings only.
    quiet = int(os.environ.get("RANK", "0")) > 0
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if threads:
        import torch

        torch.set_num_threads(threads)


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


def _window_args(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--window", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help=f"sliding-window inference in H x W windows, logits averaged (default: {default})")
    p.add_argument("--stride", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="the sliding window's step (with --window)")


def _data_commands(sub) -> None:
    """prepare, split, dms."""
    from dmt.data.registry import DATASETS, RAW_INPUTS

    p = sub.add_parser("prepare", help="prepare a data set (segmentation: PASCAL VOC layout)")
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--out", required=True)
    for key in sorted({k for info in DATASETS.values() for k in info.raw_inputs}):
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, help=RAW_INPUTS[key])
    p.add_argument("--seed", type=int, default=0, help="digits, digits_cls, digits_style, digits_glyphs: "
                   "composition / test-set seed (and the digits glyph pools)")
    p.add_argument("--n-train", type=int, default=1000, help="digits: train canvases")
    p.add_argument("--n-val", type=int, default=300, help="digits: val canvases")
    p.add_argument("--pretrain-share", type=float, default=0.0, help="digits, digits_style, digits_glyphs: "
                   "share of the glyphs set apart for pre-training, out of the digits train glyphs")
    p.add_argument("--style-train", type=int, default=1000, help="digits_style: train canvases")
    p.add_argument("--style-val", type=int, default=100, help="digits_style: val canvases")
    p.add_argument("--glyph-renderings", type=int, default=10, help="digits_glyphs: train images per glyph")
    p.add_argument("--glyph-test-renderings", type=int, default=2, help="digits_glyphs: test images per glyph")
    p.add_argument("--fingerprint", help="folder: the digest of its files the workflow planned with; "
                   "preparation stops if the folder has changed since")
    p.set_defaults(func="dmt.data.prepare.job:cmd_prepare")

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
    p.set_defaults(func="dmt.data.job:cmd_split")

    p = sub.add_parser("dms", help="difference-maximised sampling of the labeled ids (Eq. 11)")
    p.add_argument("--labeled", required=True)
    p.add_argument("--alpha", type=float, default=0.8)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out-a", required=True)
    p.add_argument("--out-b", required=True)
    p.set_defaults(func="dmt.data.job:cmd_dms")


def _stage_commands(sub) -> None:
    """train, pseudo, agreement, evaluate, convert-coco."""
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
    p.add_argument("--ranks", type=int, default=1, help="processes of this one job per node (torchrun: "
                   "one per GPU, or gloo ranks on the CPU); the result is the one-process run's")
    p.add_argument("--nodes", type=int, default=1, help="nodes of this job, one launcher on each "
                   "(the SLURM allocation's tasks, srun --ntasks M)")
    p.add_argument("--per-rank-bn", action="store_true", help="with several ranks: BatchNorm of each "
                   "rank's slice, not of the whole batch (as the authors' Accelerate runs; changes results)")
    p.set_defaults(func="dmt.training.job:cmd_train")

    p = sub.add_parser("pseudo", help="top-alpha pseudo labels into HDF5 (one pass), from a spec file")
    _runtime_args(p)
    p.add_argument("--spec", required=True, help="pseudo spec JSON (dmt.jobs.PseudoJob)")
    p.add_argument("--out", required=True, help="HDF5 file to write; its summary, with the digest that "
                   "`train` checks, goes beside it (.json)")
    p.set_defaults(func="dmt.pseudo.job:cmd_pseudo")

    p = sub.add_parser("agreement", help="how often the teachers of two pseudo-label sets predict the same class")
    p.add_argument("--dataset", required=True, help="the run's data set (its task decides what is compared)")
    p.add_argument("--sets", required=True, nargs=2, metavar="MODEL=H5",
                   help="the two sets of one iteration, e.g. A=results/x/iter2/pseudo_A.h5 B=...pseudo_B.h5")
    p.add_argument("--unlabeled", required=True, help="the unlabeled id list both sets label")
    p.add_argument("--data", help="prepared data holding the unlabeled images' ground truth: adds how the "
                   "two teachers' errors overlap (phi)")
    p.add_argument("--out", required=True, help="JSON to write, e.g. results/{run}/iter{i}/agreement.json")
    p.set_defaults(func="dmt.pseudo.job:cmd_agreement")

    p = sub.add_parser("evaluate", help="mIoU of a model on val and valtiny")
    _data_args(p)
    _runtime_args(p)
    _inference_args(p)
    p.add_argument("--model", required=True)
    p.add_argument("--val-split", default="val", help="ImageSets/Segmentation/<name>.txt of the data")
    p.add_argument("--valtiny", required=True, help="id list for model selection")
    p.add_argument("--out", required=True)
    _window_args(p, "the whole padded image at once")
    p.set_defaults(func="dmt.evaluation.job:cmd_evaluate")

    p = sub.add_parser("convert-coco", help="map the Caffe-converted COCO DeepLab-v2 weights to deeplab_v2")
    p.add_argument("--checkpoint", required=True, help="e.g. resnet101COCO-41f33a49.pth (local file)")
    p.add_argument("--out", required=True)
    p.set_defaults(func="dmt.models.job:cmd_convert_coco")


def _table_commands(sub) -> None:
    """compare, summary, rounds, final."""
    from dmt.tasks import TASKS

    p = sub.add_parser("compare", help="a comparison's table: methods x split seeds, mean, std, 95%% intervals "
                                       "and paired differences to dmt (pandas)")
    p.add_argument("--name", required=True, help="the comparison's name (config `comparisons:`)")
    p.add_argument("--out-dir", required=True,
                   help="writes NAME.csv, NAME.md, NAME.html, NAME_iterations.csv and NAME_models.csv")
    p.add_argument("--task", choices=sorted(TASKS),
                   help="the comparison's task (default: the one its runs' final JSONs record)")
    p.add_argument("inputs", nargs="+", metavar="METHOD:EXP=FILE",
                   help="a run's final JSON (baseline:EXP its experiment's own run; oracle:EXP the "
                        "oracle's metrics.json), in table order")
    p.set_defaults(func="dmt.report.table_job:cmd_compare")

    p = sub.add_parser("summary", help="a Table-1-style summary of every run with results")
    p.add_argument("--runs", required=True, help="JSON: run -> {final, experiment, dataset, labeled, "
                   "method, oracle (metrics file or null)}")
    p.add_argument("--out", required=True, help="CSV to write (Markdown and HTML beside it)")
    p.add_argument("--title", default="Every run with results: baseline and final model (each selected on "
                   "valtiny), the oracle where trained; % (val mIoU or test accuracy)")
    p.set_defaults(func="dmt.report.table_job:cmd_summary")

    p = sub.add_parser("protocol-table", help="a comparison's runs beside published results (the modern protocol)")
    p.add_argument("--runs", required=True, help="JSON: labeled count -> method -> the run's final JSON, "
                   "or null where it has not been run (an empty cell)")
    p.add_argument("--references", default="", help="published rows (dmt.report.protocol.REFERENCES), e.g. voc_classic")
    p.add_argument("--model", default="", help="this pipeline's model, for its rows")
    p.add_argument("--out", required=True, help="CSV to write (Markdown and HTML beside it)")
    p.add_argument("--title", default="Val mIoU (%) by labeled images: this pipeline's runs (empty: not run "
                   "yet) and published results with their source")
    p.set_defaults(func="dmt.report.table_job:cmd_protocol_table")

    p = sub.add_parser("rounds", help="a run's collapse check per round (its rounds record) as a table")
    p.add_argument("--rounds", required=True, help="the record, results/{run}/rounds_miou.json (rounds_acc.json)")
    p.add_argument("--name", required=True, help="the run, for the title")
    p.add_argument("--out", required=True, help="CSV to write (Markdown and HTML beside it)")
    p.set_defaults(func="dmt.report.table_job:cmd_rounds")

    p = sub.add_parser("final", help="select the final model on valtiny, report val (or test)")
    p.add_argument("--dataset", required=True, help="the run's data set (its task decides the rule)")
    p.add_argument("--metrics", required=True, nargs="+", metavar="I:M=FILE",
                   help="metrics of model M (A, B) after iteration I (0 = baseline)")
    p.add_argument("--out", required=True)
    p.add_argument("--rounds", help="also write the collapse check's per-round record here (JSON), e.g. "
                   "results/{run}/rounds_miou.json")
    p.add_argument("--pseudo", nargs="+", metavar="I:T=FILE",
                   help="collapse check: the summary (.json) of teacher T's pseudo-label set of iteration I")
    p.add_argument("--agreement", nargs="+", metavar="I=FILE",
                   help="collapse check, two models: the agreement file of iteration I (python -m dmt agreement)")
    p.add_argument("--valtiny-drop", type=float,
                   help="collapse check (with --rounds): warn where a model's valtiny score falls by more than "
                        "this in one round (config collapse.valtiny_drop)")
    p.add_argument("--agreement-level", type=float,
                   help="collapse check (with --rounds): warn where the two models agree on more than this "
                        "share of the unlabeled set (config collapse.agreement)")
    p.set_defaults(func="dmt.evaluation.job:cmd_final")


def _deliver_commands(sub) -> None:
    """export, predict."""
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
    _window_args(p, "whole images; predict then slides these windows")
    p.add_argument("--out", required=True, help="e.g. results/{run}/final_model.pt")
    p.set_defaults(func="dmt.deliver.job:cmd_export")

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
    _window_args(p, "the window the model was exported with, else whole images")
    p.set_defaults(func="dmt.deliver.job:cmd_predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dmt", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dmt {__version__}")
    parser.add_argument("--log", metavar="FILE", help="write all output (logging, progress, warnings) "
                        "to FILE; only a final error line also goes to the console (what the rules use)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    _data_commands(sub)
    _stage_commands(sub)
    _table_commands(sub)
    _deliver_commands(sub)

    from dmt.cli.report import add_parsers

    add_parsers(sub, _data_args, _runtime_args, _inference_args)
    return parser

def _log_to(path) -> object:
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


def _rank_error(message: str) -> None:
    folder = os.environ.get("DMT_RANK_ERRORS")
    if folder:
        Path(folder, f"rank{os.environ.get('RANK', '0')}").write_text(message)


def _command(func: str):
    """The stage function a command runs, ``module:function``: imported only when it runs, so that
    parsing (and ``--help``) loads no stage."""
    module, _, name = func.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    # HDF5 file locks fail on NFS/Lustre ("unable to lock file"); every HDF5 file here has a
    # single writer (its own job, into a temp file), so locking buys nothing. Must precede h5py.
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    # A rank that torchrun started writes to the descriptors it inherited: the launcher's log.
    rank = os.environ.get("LOCAL_RANK")
    console = _log_to(args.log) if args.log and rank is None else None

    def fail(message: str, code: int) -> int:
        print(message, file=sys.stderr)
        if rank is not None:  # for the launcher's one line (dmt.training.launch)
            _rank_error(message)
        if console is not None:
            print(message, file=console)
        return code

    _setup(getattr(args, "threads", None))
    try:
        if getattr(args, "ranks", 1) * getattr(args, "nodes", 1) > 1 and rank is None:
            from dmt.training.launch import launch

            return launch(args, argv, fail)
        _command(args.func)(args)
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
