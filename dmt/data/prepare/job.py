"""``python -m dmt prepare``: a data set from the user's local files (or the embedded digits)
into its prepared folder, by the registry's preparation function for it."""

from __future__ import annotations

import json
import logging

from dmt.errors import DMTError
from dmt.store.atomic import prepare_outputs

log = logging.getLogger("dmt")


def cmd_prepare(args) -> None:
    from dmt.data.registry import RAW_INPUTS, dataset_info, prepare_function

    info = dataset_info(args.dataset)
    missing = [k for k in info.raw_inputs if not getattr(args, k)]
    if missing:
        raise DMTError(f"prepare {args.dataset} needs " + "; ".join(
            f"--config {k}=/path ({RAW_INPUTS[k]}), or --{k.replace('_', '-')}" for k in missing))
    prepare_outputs(args.out)
    kwargs = {k: getattr(args, k) for k in (*info.raw_inputs, *info.options)}
    if args.fingerprint:
        if not info.inspect:
            raise DMTError(f"--fingerprint is for data sets of your own files (folder), not {args.dataset}")
        kwargs["fingerprint"] = args.fingerprint
    summary = prepare_function(args.dataset)(out_root=args.out, **kwargs)
    log.info("%s prepared in %s: %s", args.dataset, args.out, json.dumps(summary["counts"]))
