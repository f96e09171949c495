"""The data stage's commands: ``split`` a prepared data set (labeled / unlabeled / valtiny) and
difference-maximised sampling (``dms``). Preparing it: ``dmt.data.prepare.job``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dmt.data.lists import read_id_source, read_ids, read_named_split
from dmt.errors import DMTError
from dmt.store.atomic import prepare_outputs

log = logging.getLogger("dmt")


def cmd_split(args) -> None:
    from dmt.data.splits import make_split
    from dmt.store.atomic import write_lines

    out = Path(args.out_dir)
    prepare_outputs(*(out / f"{name}.txt" for name in ("labeled", "unlabeled", "valtiny")))
    labeled = int(args.labeled) if args.labeled.isdigit() else args.labeled
    fixed = read_id_source(args.data, args.labeled_list) if args.labeled_list else None
    tiny = read_id_source(args.data, args.valtiny_list) if args.valtiny_list else None
    if labeled == "all":
        if fixed is None:
            raise DMTError("--labeled all takes every id of --labeled-list, and none is given")
        labeled = len(fixed)
    # valtiny comes from val (segmentation) or, with --valtiny-from-train, from train.
    val = None if args.valtiny_from_train else read_named_split(args.data, args.val_split)
    try:
        split = make_split(read_named_split(args.data, args.train_split), val, labeled, args.valtiny,
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
    from dmt.data.sampling import difference_maximized
    from dmt.store.atomic import write_lines

    prepare_outputs(args.out_a, args.out_b)
    a, b = difference_maximized(read_ids(args.labeled), args.alpha, args.seed)
    write_lines(args.out_a, a)
    write_lines(args.out_b, b)
    log.info("difference-maximised sampling: |A| = |B| = %d, shared %d", len(a), len(set(a) & set(b)))
