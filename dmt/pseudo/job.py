"""``python -m dmt pseudo``: a teacher's top-alpha pseudo-labels of the unlabeled set, from a spec file.
"""

from __future__ import annotations

import logging

from dmt.data.datasets import make_dataset
from dmt.data.lists import read_ids
from dmt.errors import blame_model
from dmt.models.files import expected
from dmt.store.atomic import prepare_outputs
from dmt.store.integrity import file_digest

log = logging.getLogger("dmt")


def cmd_pseudo(args) -> None:
    from dmt.data.registry import dataset_info
    from dmt.jobs import read_job
    from dmt.models.files import load_model
    from dmt.models.inference import pick_device
    from dmt.pseudo.segmentation import generate
    from dmt.store.atomic import write_json
    from dmt.store.integrity import sidecar_fields, sidecar_path

    job = read_job(args.spec, "pseudo")
    summary_path = sidecar_path(args.out)
    prepare_outputs(args.out, summary_path)
    device = pick_device(args.device)
    model, meta = load_model(job.teacher, device, expect=expected(job.dataset, job.data))
    dataset = make_dataset(job.dataset, job.data, read_ids(job.unlabeled), with_masks=job.with_truth)
    # The accuracy of the kept labels is measured against the unlabeled images' masks where the
    # data set has them (benchmarks); a user's unlabeled images have none, and the summary says so.
    truth = {"ground_truth": job.with_truth}
    if not job.with_truth:
        truth["note"] = "no ground truth for the unlabeled images: the accuracy of the kept labels is not measured"

    def accuracy(summary):
        return summary["kept_accuracy"] if job.with_truth else "not measured (no ground truth)"

    if dataset_info(job.dataset, job.data).task == "classification":
        from dmt.pseudo.images import generate_image_labels

        with blame_model(job.teacher):
            summary = generate_image_labels(model, dataset, args.out, job.alpha, file_digest(job.teacher),
                                            device, job.batch_size, amp=job.amp, classwise=job.classwise)
        write_json(summary_path, {**summary, **truth, **sidecar_fields(args.out)})
        log.info("pseudo labels -> %s: kept %d of %d images (%s top %.0f%%), accuracy of kept %s",
                 args.out, summary["kept"], summary["num_images"], summary["selection"],
                 100 * job.alpha, accuracy(summary))
        return
    with blame_model(job.teacher):
        summary = generate(model, dataset, args.out, meta["num_classes"], job.alpha,
                           file_digest(job.teacher), device, job.batch_size, job.pad_to, amp=job.amp)
    write_json(summary_path, {**summary, **truth, **sidecar_fields(args.out)})
    log.info("pseudo labels -> %s: kept %.1f%% of pixels, accuracy of kept %s", args.out,
             100 * summary["kept_fraction"], accuracy(summary))
