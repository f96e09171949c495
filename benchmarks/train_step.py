"""CPU training speed: the real loop against a bare PyTorch loop, and where a real job's time goes.

Part 1 (ratios), small_deeplab at two sizes, one in-memory batch shape per size:
  64   the digits demo's baseline: 64x64 crops, batch 16, Adam (experiment digits_1_20)
  321  the paper's crop: 321x321, batch 8, SGD with momentum
Figures (images per second):
  bare       the same model, one batch resident in memory, the same optimizer and hyper-parameters,
             cross-entropy (ignore 255), zero_grad / backward / step and nothing else.
  in_memory  dmt.training.loop.train() over samples already in memory and already cropped: the loop's own
             cost (sampler, per-sample seeding, collate, loss, schedule, logging, TensorBoard).
  pipeline   dmt.training.loop.train() (no DataLoader workers) over files on disk in VOC layout read by
             SegmentationDataset and augmented by train_transform (scale, crop, flip), as a pipeline job
             does. At 64: the digits demo's data (`prepare digits`), 50 labeled images for many epochs, as its
             baseline; at 321: VOC-sized (500x375) JPEGs, each read once, as in a VOC epoch.
  pipeline_workers   the same with --workers DataLoader worker processes: decoding and augmentation
             beside the step, on a core of their own (the VOC experiments' config has 4 workers;
             the demo's jobs have none, since its two chains already fill two cores).
  ratio_in_memory, ratio_pipeline, ratio_pipeline_workers   ours / bare.
Fixed costs of a call (model save, loader, TensorBoard writer) cancel: a short call (--warmup steps)
and a long one (--warmup + --steps steps) are timed and the rate comes from their difference; each
is repeated --repeats times, interleaved, and the fastest counts (noise only adds time).

Part 2 (breakdown): one baseline job of the digits demo through the CLI (`python -m dmt train`,
spec from the experiment plan, --breakdown-epochs epochs instead of the full schedule), its wall
time split by wrapping the functions of each phase (PhaseClock; no profiler, which would inflate
the Python-heavy data loading): data loading, forward, loss, backward, optimizer, evaluation,
logging / checkpointing / saving, and the rest of train(). Runs against whichever `dmt` is importable, so the same
script measures an older checkout (PYTHONPATH=/path/to/checkout).

    .venv/bin/python benchmarks/train_step.py --out train_step.json      # ~5 min on one core
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_step import NOTES, InMemoryTrainSet, difference_rate, train_sample  # noqa: E402

from dmt import IGNORE_INDEX  # noqa: E402
from dmt.data.segmentation import SegmentationDataset  # noqa: E402
from dmt.data.transforms import train_transform  # noqa: E402
from dmt.data.voc import write_mask_png  # noqa: E402
from dmt.models import build_model  # noqa: E402
from dmt.training.loop import TrainSpec, train  # noqa: E402
from dmt.training.optim import make_optimizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The demo's baseline schedule from scratch: the demo itself starts from pre-trained files that
# only its pipeline makes, and a training step costs the same from either init.
DEMO = "digits_1_20_scratch"
DIGITS_CLASSES = 11

# size -> (batch, optimizer, lr, scale range): the demo's baseline and the paper's VOC baseline.
SETTINGS = {64: (16, "adam", 3e-3, (0.75, 1.25)), 321: (8, "sgd", 2e-3, (0.5, 1.5))}


def _spec(size: int, epochs: int, workers: int = 0) -> TrainSpec:
    batch, optimizer, lr, scale = SETTINGS[size]
    return TrainSpec(epochs=epochs, lr=lr, batch_size=batch, seed=1, crop_size=(size, size),
                     optimizer=optimizer, scale_range=scale, loss_variant="ce", log_every=10,
                     checkpoint_every=10**9, num_workers=workers)


def _sample(i: int, h: int, w: int) -> dict:
    """gpu_step's synthetic sample with class ids of the digits model (255 stays ignored)."""
    s = train_sample(i, h, w, False)
    t = s["target"].as_subclass(torch.Tensor)
    s["target"] = type(s["target"])(torch.where(t == IGNORE_INDEX, t, t % DIGITS_CLASSES))
    return s


def _model(seed: int = 1) -> torch.nn.Module:
    return build_model("small_deeplab", DIGITS_CLASSES, seed=seed)


def bare_rate(size: int, steps: int, warmup: int, repeats: int) -> float:
    batch = SETTINGS[size][0]
    model = _model()
    model.train()
    optimizer = make_optimizer(model, _spec(size, 1))  # what train() builds from the same spec
    samples = [_sample(i, size, size) for i in range(batch)]
    images = torch.stack([s["image"].as_subclass(torch.Tensor) for s in samples])
    targets = torch.stack([s["target"].as_subclass(torch.Tensor) for s in samples])

    def run(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            loss = F.cross_entropy(model(images), targets, ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t0

    run(warmup)
    return batch * steps / min(run(steps) for _ in range(repeats))


def _train_seconds(dataset_factory, size: int, epochs: int, tmp: Path, workers: int = 0) -> float:
    model = _model()
    dataset = dataset_factory()
    t0 = time.perf_counter()
    train(model, _spec(size, epochs, workers), dataset, tmp / "model.pt", device=torch.device("cpu"),
          tb_dir=tmp / "tb", meta={"model": "small_deeplab", "num_classes": DIGITS_CLASSES})
    return time.perf_counter() - t0


def in_memory_rate(size: int, steps: int, warmup: int, repeats: int, tmp: Path) -> dict:
    batch = SETTINGS[size][0]
    pool = [_sample(i, size, size) for i in range(2 * batch)]

    def run(n_steps: int) -> float:
        return _train_seconds(lambda: InMemoryTrainSet(pool, batch * n_steps), size, 1, tmp)

    run(warmup)
    return difference_rate(lambda: run(warmup), lambda: run(warmup + steps), repeats, batch * steps,
                           batch * (warmup + steps), f"in_memory {size}")


def _digits_root(tmp: Path) -> tuple[Path, list[str]]:
    from dmt.data.prepare.digits import prepare_digits
    from dmt.data.voc import read_split

    root = tmp / "digits"
    if not root.is_dir():
        prepare_digits(out_root=root)
    return root, read_split(root, "train")


def _voc_sized_root(tmp: Path, n: int) -> tuple[Path, list[str]]:
    """``n`` VOC-sized JPEGs (500x375, quality 90) with palette masks, in VOC layout."""
    root = tmp / "voc_sized"
    ids = [f"img{i:05d}" for i in range(n)]
    if not root.is_dir():
        for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (root / d).mkdir(parents=True)
        for i, image_id in enumerate(ids):
            s = _sample(i, 375, 500)
            image = s["image"].as_subclass(torch.Tensor).permute(1, 2, 0).numpy()
            Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=90)
            mask = s["target"].as_subclass(torch.Tensor).numpy().astype(np.uint8)
            write_mask_png(root / "SegmentationClass" / f"{image_id}.png", mask)
        (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    return root, ids


def pipeline_rate(size: int, steps: int, warmup: int, repeats: int, tmp: Path, workers: int) -> dict:
    batch, _, _, scale = SETTINGS[size]
    transform = train_transform((size, size), scale)
    if size == 64:  # the demo baseline: 50 labeled images, many epochs
        root, ids = _digits_root(tmp)
        ids, per_epoch = ids[:50], -(-50 // batch)

        def run(n_steps: int) -> float:
            factory = lambda: SegmentationDataset(root, ids, DIGITS_CLASSES, transform=transform)  # noqa: E731
            return _train_seconds(factory, size, max(1, n_steps // per_epoch), tmp, workers)
        items = batch * per_epoch * (max(1, (warmup + steps) // per_epoch) - max(1, warmup // per_epoch))
    else:  # a VOC epoch: each image read and decoded once
        root, all_ids = _voc_sized_root(tmp, batch * (warmup + steps))

        def run(n_steps: int) -> float:
            factory = lambda: SegmentationDataset(root, all_ids[:batch * n_steps], DIGITS_CLASSES,  # noqa: E731
                                                  transform=transform)
            return _train_seconds(factory, size, 1, tmp, workers)
        items = batch * steps
    run(warmup)
    return difference_rate(lambda: run(warmup), lambda: run(warmup + steps), repeats, items,
                           batch * (warmup + steps), f"pipeline {size}, {workers} workers")


# ---- Part 2: where a real job's time goes ------------------------------------------------------

class PhaseClock:
    """Wall time per phase, taken by wrapping the functions each phase runs.

    The outermost phase owns its time: the forward passes inside an evaluation count as
    evaluation. A wrapper costs about a microsecond, unlike a profiler, which inflates the
    Python-heavy parts (data loading) several-fold.
    """

    PHASES = ("data", "forward", "loss", "backward", "optimizer", "evaluation",
              "logging, checkpoints, saving")

    def __init__(self):
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self.depth = 0
        self._restore = []

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            if self.depth:
                return original(*args, **kwargs)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t0
                self.depth -= 1

        setattr(owner, name, timed)
        self._restore.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)


def _clock_training(clock: PhaseClock) -> dict:
    """Wraps what train() calls; returns a dict that receives train()'s own wall time."""
    from torch.utils.data.dataloader import _BaseDataLoaderIter
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    import dmt.evaluation.metrics
    import dmt.training.checkpoint
    import dmt.training.loop
    import dmt.training.steps
    from dmt.models.small import SmallDeepLab

    clock.wrap(_BaseDataLoaderIter, "__next__", "data")
    clock.wrap(SmallDeepLab, "forward", "forward")
    for name in ("dynamic_loss", "online_pseudo_labels"):
        clock.wrap(dmt.training.steps, name, "loss")  # where the step strategies look them up
    clock.wrap(torch.Tensor, "backward", "backward")
    clock.wrap(torch.optim.Optimizer, "zero_grad", "optimizer")
    clock.wrap(torch.amp.GradScaler, "step", "optimizer")
    clock.wrap(torch.amp.GradScaler, "update", "optimizer")
    clock.wrap(dmt.evaluation.metrics, "evaluate_segmentation", "evaluation")
    for owner, name in ((SummaryWriter, "add_scalar"), (SummaryWriter, "add_histogram"),
                        (dmt.training.checkpoint, "torch_save"), (dmt.training.loop, "save_model"),
                        (tqdm, "set_postfix")):
        clock.wrap(owner, name, "logging, checkpoints, saving")
    total = {"train_s": 0.0}
    original = dmt.training.loop.train

    def timed_train(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            total["train_s"] += time.perf_counter() - t0

    dmt.training.loop.train = timed_train
    clock._restore.append((dmt.training.loop, "train", original))
    return total


def breakdown(epochs: int, tmp: Path) -> dict:
    """One demo baseline job, through the CLI, its time split by PhaseClock."""
    from dmt import cli
    from dmt.data.voc import read_split
    from dmt.jobs import to_json
    from dmt.plan import Plan

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    plan = Plan(config)
    exp = plan.experiment(DEMO)
    job = json.loads(to_json(plan.train_job(f"{DEMO}/iter0/A")))
    root, train_ids = _digits_root(tmp)
    labeled = tmp / "labeled.txt"
    labeled.write_text("\n".join(train_ids[:50]) + "\n")
    valtiny = tmp / "valtiny.txt"
    valtiny.write_text("\n".join(read_split(root, "val")[:exp.cfg["valtiny"]]) + "\n")
    full_epochs = job["hyper"]["epochs"]
    job.update(data=str(root), labeled=[str(labeled)], valtiny=str(valtiny))
    job["hyper"]["epochs"] = epochs
    spec = tmp / "spec.json"
    spec.write_text(json.dumps(job))
    argv = ["train", "--spec", str(spec), "--device", "cpu",
            "--threads", str(torch.get_num_threads()), "--eval-every", str(exp.cfg["eval_every"]),
            "--tensorboard", str(tmp / "tb_job"), "--out", str(tmp / "job.pt")]
    clock = PhaseClock()
    total = _clock_training(clock)
    t0 = time.perf_counter()
    try:
        code = cli.main(argv)
    finally:
        clock.restore()
    wall = time.perf_counter() - t0
    if code:
        raise SystemExit(f"the profiled job failed (exit {code})")
    seconds = {**clock.seconds, "other": total["train_s"] - sum(clock.seconds.values())}
    out = {"train_s": total["train_s"], "seconds": seconds,
           "share": {k: v / total["train_s"] for k, v in seconds.items()}}
    steps = json.loads((tmp / "job.json").read_text())["summary"]["steps"]
    return {"epochs": epochs, "full_schedule_epochs": full_epochs, "steps": steps,
            "job_wall_s": wall, **out, "ms_per_step": {k: 1000 * v / steps for k, v in seconds.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 321], choices=sorted(SETTINGS))
    p.add_argument("--steps", type=int, nargs="+", default=[40, 6], help="timed steps per size")
    p.add_argument("--warmup", type=int, nargs="+", default=[8, 2], help="untimed / short-call steps per size")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the demo's jobs use 1)")
    p.add_argument("--workers", type=int, default=1,
                   help="also time the pipeline with this many DataLoader workers, decoding and "
                        "augmenting beside the training step (the VOC experiments use 4); 0: do not")
    p.add_argument("--breakdown-epochs", type=int, default=30, help="0 skips part 2")
    p.add_argument("--parts", nargs="+", default=["ratios", "breakdown"], choices=["ratios", "breakdown"])
    p.add_argument("--out", type=Path, help="JSON of every figure")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import dmt

    result = {"python": platform.python_version(), "torch": torch.__version__,
              "dmt": str(Path(dmt.__file__).parent), "threads": args.threads, "ratios": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "ratios" in args.parts:
            for i, size in enumerate(args.sizes):
                steps, warmup = args.steps[min(i, len(args.steps) - 1)], args.warmup[min(i, len(args.warmup) - 1)]
                bare = bare_rate(size, steps, warmup, args.repeats)
                mem = in_memory_rate(size, steps, warmup, args.repeats, tmp)
                pipe = pipeline_rate(size, steps, warmup, args.repeats, tmp, 0)
                row = {"batch": SETTINGS[size][0], "bare": bare, "in_memory": mem["images_per_s"],
                       "pipeline": pipe["images_per_s"], "ratio_in_memory": mem["images_per_s"] / bare,
                       "ratio_pipeline": pipe["images_per_s"] / bare,
                       "detail": {"in_memory": mem, "pipeline": pipe}}
                line = (f"{size}x{size} batch {row['batch']}: bare {bare:.1f} img/s, in-memory "
                        f"{row['in_memory']:.1f} ({row['ratio_in_memory']:.3f}), pipeline "
                        f"{row['pipeline']:.1f} ({row['ratio_pipeline']:.3f})")
                if args.workers:
                    piped = pipeline_rate(size, steps, warmup, args.repeats, tmp, args.workers)
                    row.update(pipeline_workers=piped["images_per_s"],
                               ratio_pipeline_workers=piped["images_per_s"] / bare)
                    row["detail"]["pipeline_workers"] = piped
                    line += (f", pipeline with {args.workers} loader worker(s) {piped['images_per_s']:.1f} "
                             f"({row['ratio_pipeline_workers']:.3f})")
                result["ratios"][size] = row
                print(line, flush=True)
        if "breakdown" in args.parts and args.breakdown_epochs:
            b = breakdown(args.breakdown_epochs, tmp)
            result["breakdown"] = b
            print(f"digits demo baseline job, {b['epochs']} of {b['full_schedule_epochs']} epochs, "
                  f"{b['steps']} steps: train() {b['train_s']:.1f} s of {b['job_wall_s']:.1f} s in the job")
            for k, v in b["seconds"].items():
                print(f"  {k:30s} {v:7.2f} s  {100 * b['share'][k]:5.1f}%  {b['ms_per_step'][k]:7.1f} ms/step")
    result["notes"] = NOTES
    for note in NOTES:
        print("note:", note)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
