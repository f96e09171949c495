"""``python -m dmt pseudo``: a teacher's top-alpha pseudo-labels of the unlabeled set, from a spec file.
"""

from __future__ import annotations

import logging

from dmt.data.datasets import make_dataset
from dmt.data.lists import read_ids
from dmt.errors import blame_model
from dmt.store.atomic import prepare_outputs
from dmt.store.integrity import file_digest
from dmt.tasks import task_of

log = logging.getLogger("dmt")


def cmd_pseudo(args) -> None:
    from dmt.data.registry import dataset_info
    from dmt.jobs import read_job
    from dmt.models.files import expected, load_model
    from dmt.models.inference import pick_device
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

    def keep(summary):  # the summary beside the labels, before the log line says they are made
        write_json(summary_path, {**summary, **truth, **sidecar_fields(args.out)})

    task_of(dataset_info(job.dataset, job.data)).write_pseudo_labels(job, model, meta, dataset, args.out, device,
                                                                     keep)


def _accuracy(job, summary):
    return summary["kept_accuracy"] if job.with_truth else "not measured (no ground truth)"


def image_labels(job, model, meta, dataset, out, device, keep) -> None:
    """Classification: the top-alpha images (dmt.pseudo.images); ``keep`` writes their summary."""
    from dmt.pseudo.images import generate_image_labels

    with blame_model(job.teacher):
        summary = generate_image_labels(model, dataset, out, job.alpha, file_digest(job.teacher),
                                        device, job.batch_size, amp=job.amp, classwise=job.classwise)
    keep(summary)
    log.info("pseudo labels -> %s: kept %d of %d images (%s top %.0f%%), accuracy of kept %s",
             out, summary["kept"], summary["num_images"], summary["selection"],
             100 * job.alpha, _accuracy(job, summary))


def segmentation_labels(job, model, meta, dataset, out, device, keep) -> None:
    """Segmentation: the class-wise top-alpha pixels (dmt.pseudo.segmentation); ``keep`` writes the summary."""
    from dmt.models.windows import Window
    from dmt.pseudo.segmentation import generate

    with blame_model(job.teacher):
        summary = generate(model, dataset, out, meta["num_classes"], job.alpha,
                           file_digest(job.teacher), device, job.batch_size, job.pad_to, amp=job.amp,
                           window=Window.of(job.window, job.stride))
    keep(summary)
    log.info("pseudo labels -> %s: kept %.1f%% of pixels, accuracy of kept %s", out,
             100 * summary["kept_fraction"], _accuracy(job, summary))


def cmd_agreement(args) -> None:
    """``python -m dmt agreement``: how often the teachers of two sets of one iteration (models A and
    B of the previous one) predict the same class on the unlabeled set (dmt.pseudo.agreement)."""
    from dmt.data.registry import dataset_info
    from dmt.items import named_files
    from dmt.store.atomic import write_json
    from dmt.store.integrity import verify

    prepare_outputs(args.out)
    sets = dict(named_files(args.sets, "--sets", "MODEL=FILE", "A=results/x/iter1/pseudo_A.h5"))
    # Checked against the digests their jobs recorded before anything parses them.
    digests = {name: verify(path, required=True) for name, path in sets.items()}
    result = task_of(dataset_info(args.dataset)).pseudo_agreement(sets, read_ids(args.unlabeled), args.data)
    write_json(args.out, {**result, "sets": {name: {"file": str(path), "digest": digests[name]}
                                             for name, path in sets.items()}})
    log.info("agreement of the teachers of %s: %.2f%% of %d %ss", " and ".join(map(str, sets.values())),
             100 * result["agreement"], result["elements"], result["element"])
    if result.get("errors", {}).get("phi") is not None:
        log.info("their errors against the ground truth: phi %.3f, %.1f%% of the %ss with exactly one "
                 "model right", result["errors"]["phi"], 100 * result["errors"]["one_right"], result["element"])
