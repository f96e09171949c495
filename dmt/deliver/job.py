"""``python -m dmt export`` (the selected model as one self-describing file) and ``predict``
(label new images with it).
"""

from __future__ import annotations

import logging

from dmt.errors import DMTError
from dmt.models.files import expected

log = logging.getLogger("dmt")


def cmd_export(args) -> None:
    from dmt.deliver.export import export
    from dmt.models.windows import Window

    candidates = {}
    for item in args.candidate:
        label, sep, path = item.partition("=")
        if not (sep and label and path):
            raise DMTError(f"--candidate takes SELECTED=FILE items, e.g. B5=results/x/iter5/B/model.pt; got {item!r}")
        candidates[label] = path
    from dmt.models.files import load_model

    def load(path, device):
        return load_model(path, device, expect=expected(args.dataset, args.data))

    meta = export(args.final, candidates, load, dataset=args.dataset, data_root=args.data,
                  experiment=args.experiment, run=args.run, method=args.method, pad_to=args.pad_to,
                  window=Window.of(args.window, args.stride), out=args.out)
    log.info("final model %s (%s, iteration %d) -> %s", meta["origin"]["selected"], meta["origin"]["source"],
             meta["origin"]["iteration"], args.out)


def cmd_predict(args) -> None:
    from dmt.deliver.export import check_exported
    from dmt.deliver.predict import run_predict
    from dmt.models.files import load_model
    from dmt.models.inference import pick_device
    from dmt.models.windows import Window

    device = pick_device(args.device)
    model, meta = load_model(args.model, device)
    check_exported(meta, args.model)
    summary = run_predict(model, meta, args.images, args.out, device, batch_size=args.batch_size,
                          pad_to=args.pad_to, confidence=args.confidence, overlay=args.overlay,
                          amp=not args.no_amp, num_workers=args.num_workers,
                          window=Window.of(args.window, args.stride))
    log.info("predicted %d images with %s -> %s", summary["images"], args.model, args.out)
