"""``python -m dmt convert-coco``: the Caffe-converted COCO DeepLab-v2 weights, mapped to ``deeplab_v2``.
"""

from __future__ import annotations

import logging

from dmt.store.atomic import prepare_outputs

log = logging.getLogger("dmt")


def cmd_convert_coco(args) -> None:
    from dmt.models.deeplab_v2 import convert_coco

    prepare_outputs(args.out)
    summary = convert_coco(args.checkpoint, args.out)
    log.info("converted %d tensors (head of %s classes) -> %s", summary["tensors"],
             summary["head_classes"], args.out)
