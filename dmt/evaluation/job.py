"""``python -m dmt evaluate`` (a model's scores on val / test and valtiny) and ``final`` (the
model selected on valtiny, with its scores).
"""

from __future__ import annotations

import logging

from dmt.data.datasets import make_dataset
from dmt.data.lists import read_ids, read_named_split
from dmt.errors import DMTError, blame_model
from dmt.items import iteration_files
from dmt.store.atomic import prepare_outputs
from dmt.store.integrity import file_digest
from dmt.tasks import task_of

log = logging.getLogger("dmt")


def cmd_evaluate(args) -> None:
    from dmt.data.registry import dataset_info
    from dmt.models.files import expected, load_model  # torch: evaluate's only, not final's
    from dmt.models.inference import pick_device
    from dmt.store.atomic import write_json

    prepare_outputs(args.out)
    device = pick_device(args.device)
    model, _ = load_model(args.model, device, expect=expected(args.dataset, args.data))
    info = dataset_info(args.dataset, args.data)
    result = {"model": str(args.model), "model_digest": file_digest(args.model)}
    result.update(task_of(info).evaluate_model(args, model, info, device))
    write_json(args.out, result)


def classification_scores(args, model, info, device) -> dict:
    """Accuracy on the test set and valtiny (dmt.evaluation.metrics.evaluate_classification)."""
    from dmt.evaluation.metrics import evaluate_classification

    subsets = {"test": read_named_split(args.data, info.test_split), "valtiny": read_ids(args.valtiny)}
    ids = list(dict.fromkeys(subsets["test"] + subsets["valtiny"]))
    with blame_model(args.model):
        result = evaluate_classification(model, make_dataset(args.dataset, args.data, ids), subsets,
                                         device, args.batch_size, amp=not args.no_amp)
    for split in subsets:
        log.info("%s accuracy %.4f (fine-grained %.4f) of %s", split, result[split]["accuracy"],
                 result[split]["fine_grained_accuracy"], args.model)
    return result


def segmentation_scores(args, model, info, device) -> dict:
    """mIoU on val and valtiny (dmt.evaluation.metrics.evaluate_subsets)."""
    from dmt.data.voc import read_split
    from dmt.evaluation.metrics import evaluate_subsets
    from dmt.models.windows import Window

    subsets = {"val": read_split(args.data, args.val_split), "valtiny": read_ids(args.valtiny)}
    # valtiny is normally part of val: one pass over their union predicts each image once.
    ids = list(dict.fromkeys(subsets["val"] + subsets["valtiny"]))
    with blame_model(args.model):
        result = evaluate_subsets(model, make_dataset(args.dataset, args.data, ids), subsets, device,
                                  args.batch_size, args.pad_to, class_names=info.class_names,
                                  amp=not args.no_amp, window=Window.of(args.window, args.stride))
    for split in subsets:
        log.info("%s mIoU %.4f on %s", split, result[split]["miou"], args.model)
    return result


def cmd_final(args) -> None:
    from dmt.data.registry import dataset_info
    from dmt.store.atomic import write_json

    prepare_outputs(args.out, args.rounds)
    metrics = iteration_files(args.metrics, "--metrics", "0:A=results/x/iter0/A/metrics.json")
    info = dataset_info(args.dataset)
    try:
        result = task_of(info).select_final(metrics)
    except (OSError, KeyError, ValueError) as e:
        raise DMTError(f"cannot summarise {args.out}: {e}") from e
    record = _rounds(args, metrics, info) if args.rounds else None
    write_json(args.out, result)
    if record is not None:
        from dmt.evaluation.rounds import log_warnings

        write_json(args.rounds, record)
        log_warnings(record, args.rounds)


def _rounds(args, metrics, info) -> dict:
    """The collapse check's per-round record (dmt.evaluation.rounds), before either output is written."""
    from dmt.evaluation.rounds import Margins, collapse_check
    from dmt.items import named_files

    sets = iteration_files(args.pseudo or [], "--pseudo", "1:B=results/x/iter1/pseudo_B.json")
    agreements = {}
    for key, path in named_files(args.agreement or [], "--agreement", "ITERATION=FILE",
                                 "1=results/x/iter1/agreement.json"):
        if not key.isdigit():
            raise DMTError(f"--agreement takes ITERATION=FILE items, e.g. 1=results/x/iter1/agreement.json; "
                           f"got {key}={path}")
        agreements[int(key)] = path
    if args.valtiny_drop is None or args.agreement_level is None:
        raise DMTError("--rounds needs the collapse check's margins: --valtiny-drop and --agreement-level "
                       "(config collapse.valtiny_drop and collapse.agreement)")
    margins = Margins(valtiny_drop=args.valtiny_drop, agreement=args.agreement_level)
    return collapse_check(task_of(info), metrics, sets, agreements, margins, info.class_names)
