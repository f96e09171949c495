"""``python -m dmt train``: one training job from its spec file (a baseline, a DMT iteration,
the oracle), resumable from its checkpoint, restored where it had already finished.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dmt import __version__
from dmt.data.datasets import make_dataset
from dmt.data.lists import read_ids
from dmt.errors import DMTError
from dmt.models.files import expected
from dmt.store.atomic import prepare_outputs
from dmt.store.integrity import file_digest
from dmt.tasks import task_of

log = logging.getLogger("dmt")


def cmd_train(args) -> None:
    import torch

    from dmt.data.registry import dataset_info
    from dmt.jobs import read_job
    from dmt.models.inference import pick_device
    from dmt.store import finished
    from dmt.store.integrity import sidecar_path
    from dmt.store.provenance import code_digest, input_digest
    from dmt.training.distributed import barrier, join, leave, rank_device, world_from_env
    from dmt.training.loop import TrainSpec, train

    job = read_job(args.spec, "train")
    try:
        spec = TrainSpec(**job.hyper, num_workers=args.num_workers, checkpoint_every=args.checkpoint_every)
    except (ValueError, TypeError) as e:
        raise DMTError(f"bad hyper-parameters in {args.spec}: {e}") from e
    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".ckpt")
    world = world_from_env()  # several ranks under torchrun (dmt.training.launch); rank 0 writes
    # What the result depends on: the spec, every file it reads, and the training code (not the
    # rank count: the result is the one-process one). A checkpoint or a finished result made
    # under anything else is not used.
    def fingerprint_of():
        bn = ("per-rank-bn",) if args.per_rank_bn else ()
        return (code_digest("train"), file_digest(args.spec), *map(input_digest, job.inputs()), *bn)

    device = pick_device(rank_device(args.device, world))
    join(world, device)
    if world.main:
        prepare_outputs(out, sidecar_path(out), checkpoint)
    barrier(world)
    # Every rank asks (nothing is written where the kept outputs are already in place): all
    # return, or all train.
    if finished.restore(out, fingerprint_of):
        return leave(world)
    info = dataset_info(job.dataset, job.data)
    torch.manual_seed(spec.seed)
    # After the seed, in the order they always had: whatever draws from torch's generator
    # draws the same numbers.
    labeled, pseudo = _training_sets(job, spec, info)
    model, meta = _initial_model(job, info, device, args.spec)
    fingerprint = fingerprint_of()
    on_epoch_end = _validation(job, spec, info, device, args, world) if job.valtiny else None
    summary = train(model, spec, labeled, out, pseudo=pseudo, checkpoint_path=checkpoint,
                    fingerprint_parts=fingerprint, device=device,
                    tb_dir=args.tensorboard, on_epoch_end=on_epoch_end,
                    meta={**meta, "dmt_version": __version__}, world=world, per_rank_bn=args.per_rank_bn)
    if world.main:
        finished.keep(out, fingerprint)
    leave(world)
    log.info("trained %d steps in %.0f s -> %s", summary["steps"], summary["seconds"], out)


def _training_sets(job, spec, info):
    """The labeled set and the unlabeled images a student trains on: its teacher's pseudo labels,
    or (online self-training) the images alone; None for a baseline."""
    from dmt.store.integrity import verify

    labeled_ids = [i for path in job.labeled for i in read_ids(path)]
    labeled = make_dataset(job.dataset, job.data, labeled_ids, augment=spec)
    pseudo = None
    if job.pseudo:
        verify(job.pseudo, required=True)  # before anything parses it
        store = task_of(info).pseudo_store(job.pseudo, read_ids(job.unlabeled))
        if store.num_classes != info.num_classes:
            raise DMTError(f"{job.pseudo} labels {store.num_classes} classes; {job.dataset} has "
                           f"{info.num_classes}")
        pseudo = make_dataset(job.dataset, job.data, store.ids, augment=spec, pseudo=store, with_masks=False)
    elif spec.online_threshold:  # the student labels these images itself, at every step
        pseudo = make_dataset(job.dataset, job.data, read_ids(job.unlabeled), augment=spec, with_masks=False)
    return labeled, pseudo


def _initial_model(job, info, device, spec_path):
    """The model to train, from a model file or built from its init, with its meta."""
    from dmt.models import build_model, model_meta
    from dmt.models.files import load_model

    if "from" in job.init:
        return load_model(job.init["from"], device, expect=expected(job.dataset, job.data))
    try:
        options = job.init.get("options", {})
        meta = {**model_meta(job.init["model"], info.num_classes, job.init["weights"], options),
                "dataset": job.dataset}
        model = build_model(meta["model"], info.num_classes, seed=job.init["seed"],
                            weights=job.init["weights"], options=options)
    except (KeyError, ValueError) as e:
        raise DMTError(f"bad init in {spec_path}: {e}") from e
    return model, meta


def _validation(job, spec, info, device, args, world):
    """``on_epoch_end``: the valtiny score every ``--eval-every`` epochs and at the last. Under
    several ranks each scores its share of valtiny and the counts are summed (``world``)."""
    task = task_of(info)
    valtiny = make_dataset(job.dataset, job.data, world.shard(read_ids(job.valtiny)))

    def on_epoch_end(epoch, model):
        if epoch % args.eval_every and epoch != spec.epochs:
            return {}
        return task.valtiny_score(model, valtiny, device, spec, args.eval_batch_size, world)

    return on_epoch_end


# The valtiny score after an epoch, for the log and the model's history (the final selection
# reads evaluate's metrics.json): evaluation's metrics, outside the training digest (PROGRESS_ONLY).
def valtiny_accuracy(model, valtiny, device, spec, eval_batch_size: int, world) -> dict:
    from dmt.evaluation.metrics import evaluate_classification

    scores = evaluate_classification(model, valtiny, {"valtiny": valtiny.ids}, device,
                                     eval_batch_size, spec.amp, progress=False)["valtiny"]
    if world.size == 1:
        return {"valtiny_accuracy": scores["accuracy"]}
    import torch

    from dmt.training.distributed import all_sum

    # Correct images and images, summed over the ranks' shares.
    counts = torch.tensor([scores["accuracy"] * scores["images"], scores["images"]], dtype=torch.float64)
    correct, images = all_sum(counts.to(device), world).tolist()
    return {"valtiny_accuracy": round(correct) / images}


def valtiny_miou(model, valtiny, device, spec, eval_batch_size: int, world) -> dict:
    from dmt.evaluation.metrics import confusion_matrices

    matrix = confusion_matrices(model, valtiny, {"all": valtiny.ids}, device, spec.batch_size,
                                spec.crop_size, amp=spec.amp, progress=world.main)["all"]
    if world.size > 1:
        import torch

        from dmt.training.distributed import all_sum

        matrix.matrix = all_sum(torch.from_numpy(matrix.matrix).to(device), world).cpu().numpy()
    return {"valtiny_miou": matrix.summary()["miou"]}
