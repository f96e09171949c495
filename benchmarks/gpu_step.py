"""Throughput of our training step and pseudo-labelling vs bare PyTorch, and a VOC 1/20 projection.

Same model architecture, same inputs, same precision on both sides of every comparison.

Figures (all images per second unless noted; "ours" = the pipeline's own code path):

  train_ours_dmt       dmt.training.loop.train() on a DMT fine-tune batch: --pseudo-per-batch pseudo-labelled
                       samples + the rest labelled, dynamic loss (gamma 5/5), poly lr, the real
                       DataLoader/collate/logging (TensorBoard unless --no-tensorboard). Data sets are
                       in memory (synthetic, already cropped), so JPEG decoding and augmentation are
                       NOT measured.
  train_ours_baseline  the same loop on a baseline batch (all labelled; the loss reduces to CE).
  train_bare           a bare loop: same model, one batch resident on the device, autocast,
                       channels_last on CUDA, SGD(momentum 0.9, wd 5e-4), cross-entropy (ignore 255),
                       zero_grad/backward/step and nothing else.
  ratio_dmt, ratio_baseline   ours / bare (goal >= 0.95 on a GPU).
  peak_memory_*_gib    torch.cuda.max_memory_allocated during each timed training run (CUDA only).
  pseudo_ours          dmt.pseudo.generate() over --images synthetic images of --image-size with
                       ground truth (as --with-truth): the model as the pipeline loads it, the
                       DataLoader, HDF5 writing, thresholds. In memory: no JPEG decoding.
  pseudo_bare_forward  a bare forward pass over the same images, pre-batched and resident on the
                       device, autocast, channels_last on CUDA, nothing else.
  pseudo_ratio         pseudo_ours / pseudo_bare_forward.
  eval_ours            dmt.evaluation.metrics.evaluate_segmentation() over the same images.
  projection_*_hours   a full VOC 1/20 run (paper Algorithm 2), serial on this one device, from
                       the rates above; every term and its formula is printed (schedule flags below).

Warm-up (cudnn autotune, first allocations, optimizer state) is excluded. The bare loops run
--warmup steps (or one pass over every batch shape) untimed, then time --steps steps. Our loops are
entered through their public functions, whose fixed costs (optimizer, loader, TensorBoard writer,
saving the model, HDF5 file set-up) would otherwise count: after an untimed warm-up call, a short
call (--warmup steps / one batch + the last partial one) and a long call (--warmup + --steps
steps / --images images) are timed and the rate is taken from the difference. Every timed
measurement runs --repeats times and the fastest counts. CUDA is synchronised before every clock
reading; torch.backends.cudnn.benchmark is on for every loop on CUDA. The "projection" figures are
hours. On a CPU the figures only show that the script works: tiny runs are dominated by noise.

    .venv/bin/python benchmarks/gpu_step.py                              # paper settings, on CUDA
    .venv/bin/python benchmarks/gpu_step.py --model small_deeplab --crop 32 32 --batch-size 4 \\
        --steps 2 --warmup 1 --images 4 --image-size 40x48 --inference-batch-size 2 \\
        --num-workers 0 --device cpu --threads 2 --out /tmp/gpu_step.json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors

from dmt import IGNORE_INDEX
from dmt.evaluation.metrics import evaluate_segmentation
from dmt.models import build_model
from dmt.models.inference import PadCollate, autocast, pick_device
from dmt.pseudo.segmentation import generate
from dmt.training.loop import TrainSpec, train

# ---- Schedule of a full VOC 1/20 run and the training settings: experiment voc_1_20 of
# config/config.yaml, as the pipeline's plan (dmt/plan.py) derives them -----------------------
VOC_VAL_IMAGES = 1_449            # VOC 2012 val
ALPHA = 0.2                       # pseudo-labelling ratio (the cost does not depend on it)


def _voc_1_20() -> dict:
    import yaml

    from dmt.data.splits import labeled_count
    from dmt.plan import Plan

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    plan = Plan(config)
    exp, run = plan.experiment("voc_1_20"), plan.run("voc_1_20")
    c, d = exp.cfg, exp.cfg["dmt"]
    labeled = labeled_count(exp.train_size, c["labeled"])
    baselines = len(plan.baseline_models("voc_1_20"))
    return {"labeled": labeled, "unlabeled": exp.train_size - labeled, "baseline_models": baselines,
            "baseline_epochs": exp.baseline_epochs(), "iterations": run.iterations,
            "models": len(run.models), "dmt_epochs": d["epochs"], "valtiny": c["valtiny"],
            "eval_every": c["eval_every"], "dmt_lr": d["lr"], "baseline_lr": c["baseline"]["lr"],
            "gamma": d["gamma1"], "momentum": c["momentum"], "weight_decay": c["weight_decay"],
            "num_workers": c["num_workers"], "num_classes": exp.info.num_classes}


VOC = _voc_1_20()
NUM_CLASSES = VOC["num_classes"]
POOL = 16  # distinct synthetic samples per data set (indices wrap around)


def _smooth(g: torch.Generator, channels: int, h: int, w: int, cell: int = 16) -> torch.Tensor:
    coarse = torch.rand(1, channels, h // cell + 1, w // cell + 1, generator=g)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]


def _classes(g: torch.Generator, h: int, w: int, ignore_share: float = 0.1) -> torch.Tensor:
    coarse = torch.randint(0, NUM_CLASSES, (1, 1, h // 32 + 1, w // 32 + 1), generator=g)
    coarse[torch.rand(coarse.shape, generator=g) < ignore_share] = IGNORE_INDEX
    return F.interpolate(coarse.float(), size=(h, w), mode="nearest")[0, 0].long()


def train_sample(i: int, h: int, w: int, pseudo: bool) -> dict:
    """One sample in the format train() takes (what the augmented VOC data sets yield)."""
    g = torch.Generator().manual_seed(1000 * pseudo + i)
    image = (_smooth(g, 3, h, w) * 255).to(torch.uint8)
    conf = 0.3 + 0.7 * _smooth(g, 1, h, w)[0] if pseudo else torch.ones(h, w)
    return {"image": tv_tensors.Image(image), "target": tv_tensors.Mask(_classes(g, h, w)),
            "conf": tv_tensors.Mask(conf), "is_pseudo": pseudo}


class InMemoryTrainSet(Dataset):
    """``length`` samples cycling over a pool of prepared ones: no decoding, no augmentation."""

    def __init__(self, pool: list[dict], length: int):
        self.pool, self.length = pool, length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return self.pool[i % len(self.pool)]


class InMemoryImages(Dataset):
    """VOC-sized images with ground truth, in the format generate() and evaluation take."""

    num_classes = NUM_CLASSES

    def __init__(self, n: int, h: int, w: int):
        self.ids = [f"img{i:05d}" for i in range(n)]
        self.items = []
        for i in range(n):
            g = torch.Generator().manual_seed(10_000 + i)
            self.items.append({"image": tv_tensors.Image((_smooth(g, 3, h, w) * 255).to(torch.uint8)),
                               "target": tv_tensors.Mask(_classes(g, h, w)), "id": self.ids[i]})

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.items[i]


class Clock:
    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def _free(device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


NOTES: list[str] = []  # caveats met while measuring, reported with the figures


def difference_rate(short, long, repeats: int, items: int, long_items: int, what: str) -> dict:
    """Rate of the ``items`` a long call does beyond a short one: the fixed costs of a call cancel.

    ``short()`` and ``long()`` return seconds; they are interleaved ``repeats`` times and the
    fastest of each kept (noise only ever adds time). Should the difference not be positive
    (noise on a tiny run), the long call's rate with its fixed costs is reported instead (a lower
    bound) and a note says so.
    """
    shorts, longs = [], []
    for _ in range(repeats):
        shorts.append(short())
        longs.append(long())
    seconds = min(longs) - min(shorts)
    out = {"short_s": shorts, "long_s": longs}
    if seconds > 0:
        return {**out, "images_per_s": items / seconds, "method": "difference"}
    NOTES.append(f"{what}: the long run was not slower than the short one; reporting the long "
                 f"run's rate including its fixed costs (raise --steps / --images / --repeats)")
    return {**out, "images_per_s": long_items / min(longs), "method": "long run, fixed costs included"}


# ---- 1. our training loop ---------------------------------------------------------------------

def time_ours(args, device, clock, kind: str) -> dict:
    """kind 'dmt': a fine-tune batch with the dynamic loss; 'baseline': all labelled."""
    h, w = args.crop
    b, n_pseudo = args.batch_size, args.pseudo_per_batch
    model = build_model(args.model, NUM_CLASSES, seed=0)
    labeled_pool = [train_sample(i, h, w, pseudo=False) for i in range(POOL)]
    pseudo_pool = [train_sample(i, h, w, pseudo=True) for i in range(POOL)]

    def run(steps: int, tmp: Path) -> float:
        # epochs=1: the run lasts steps_per_epoch = ceil(len(epoch set) / per-batch) = steps.
        if kind == "dmt":
            spec = TrainSpec(epochs=1, lr=VOC["dmt_lr"], batch_size=b, crop_size=(h, w), seed=0,
                             pseudo_per_batch=n_pseudo, momentum=VOC["momentum"], weight_decay=VOC["weight_decay"],
                             gamma1=VOC["gamma"], gamma2=VOC["gamma"], loss_variant="dmt", amp=args.amp,
                             log_every=args.log_every, num_workers=args.num_workers)
            labeled = InMemoryTrainSet(labeled_pool, POOL)
            pseudo = InMemoryTrainSet(pseudo_pool, steps * n_pseudo)
        else:
            spec = TrainSpec(epochs=1, lr=VOC["baseline_lr"], batch_size=b, crop_size=(h, w), seed=0,
                             momentum=VOC["momentum"], weight_decay=VOC["weight_decay"], amp=args.amp,
                             log_every=args.log_every, num_workers=args.num_workers)
            labeled, pseudo = InMemoryTrainSet(labeled_pool, steps * b), None
        start = clock()
        summary = train(model, spec, labeled, tmp / "model.pt", pseudo=pseudo, device=device,
                        tb_dir=None if args.no_tensorboard else tmp / "tb", meta={"model": args.model})
        seconds = clock() - start
        assert summary["steps"] == steps, summary
        return seconds

    peaks = []

    def long(tmp):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds = run(args.warmup + args.steps, tmp / "long")
        peaks.append(_peak_gib(device))
        return seconds

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(args.warmup, tmp / "warm")
        result = difference_rate(lambda: run(args.warmup, tmp / "short"), lambda: long(tmp),
                                 args.repeats, args.steps * b, (args.warmup + args.steps) * b,
                                 f"ours ({kind})")
    return {**result, "peak_gib": max(peaks) if device.type == "cuda" else None}


# ---- 2. the bare loop -------------------------------------------------------------------------

def time_bare(args, device, clock) -> dict:
    h, w = args.crop
    n_pseudo = args.pseudo_per_batch
    # The same samples as ours' first DMT batch: labelled first, then pseudo-labelled.
    samples = [train_sample(i, h, w, False) for i in range(args.batch_size - n_pseudo)] + \
              [train_sample(i, h, w, True) for i in range(n_pseudo)]
    images = torch.stack([s["image"].as_subclass(torch.Tensor) for s in samples]).to(device)
    targets = torch.stack([s["target"].as_subclass(torch.Tensor) for s in samples]).to(device)
    model = build_model(args.model, NUM_CLASSES, seed=0).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=VOC["dmt_lr"], momentum=VOC["momentum"],
                                weight_decay=VOC["weight_decay"])
    # As train(): a loss scaler only for fp16 (CUDA without bf16).
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and args.amp
                                  and not torch.cuda.is_bf16_supported())

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, args.amp):
            loss = F.cross_entropy(model(images), targets, ignore_index=IGNORE_INDEX)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(args.warmup):
        step()
    clock()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeats):
        start = clock()
        for _ in range(args.steps):
            step()
        times.append(clock() - start)
    peak = _peak_gib(device)
    return {"images_per_s": args.steps * args.batch_size / min(times), "seconds": times,
            "peak_gib": peak}


# ---- 4. pseudo-labelling and evaluation ------------------------------------------------------

def time_inference(args, device, clock) -> dict:
    h, w = args.image_size
    b = args.inference_batch_size
    pad_to = tuple(args.crop)  # the pipeline pads to the training crop
    # The short run covers one full batch and the last partial one, so that the long run meets
    # no batch shape the warm-up did not.
    n_short = b + args.images % b
    if args.images <= n_short:
        raise SystemExit(f"--images must exceed {n_short} (one batch + the remainder)")
    data = InMemoryImages(args.images, h, w)
    short_data = InMemoryImages(n_short, h, w)
    model = build_model(args.model, NUM_CLASSES, seed=0).to(device)  # as cli._load_model
    amp = args.amp

    def pseudo(dataset, tmp: Path) -> float:
        start = clock()
        generate(model, dataset, tmp, NUM_CLASSES, ALPHA, "benchmark", device, b, pad_to, amp=amp)
        return clock() - start

    def evaluate(dataset) -> float:
        start = clock()
        evaluate_segmentation(model, dataset, device, b, pad_to, amp=amp, progress=False)
        return clock() - start

    n = args.images - n_short
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pseudo(short_data, tmp / "warm.h5")
        p = difference_rate(lambda: pseudo(short_data, tmp / "short.h5"),
                            lambda: pseudo(data, tmp / "long.h5"), args.repeats, n, args.images,
                            "pseudo-labelling")
    evaluate(short_data)
    e = difference_rate(lambda: evaluate(short_data), lambda: evaluate(data), args.repeats, n,
                        args.images, "evaluation")

    # Bare forward: the same padded batches, resident on the device.
    collate = PadCollate(pad_to)
    batches = [collate([data[j] for j in range(i, min(i + b, len(data)))])["image"].to(device)
               for i in range(0, len(data), b)]
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        batches = [x.contiguous(memory_format=torch.channels_last) for x in batches]
    model.eval()
    with torch.inference_mode():
        for x in {tuple(x.shape): x for x in batches}.values():  # warm-up: every batch shape
            with autocast(device, amp):
                model(x)
        bare = []
        for _ in range(args.repeats):
            start = clock()
            for x in batches:
                with autocast(device, amp):
                    model(x)
            bare.append(clock() - start)
    return {"pseudo_ours": p["images_per_s"], "eval_ours": e["images_per_s"],
            "pseudo_bare_forward": args.images / min(bare),
            "raw": {"pseudo": p, "eval": e, "bare_forward_s": bare, "short_images": n_short}}


# ---- 5. projection ----------------------------------------------------------------------------

def _evals(epochs: int, every: int) -> int:
    """Evaluations train() triggers: every ``every`` epochs and after the last."""
    return math.ceil(epochs / every)


def project(args, rates: dict) -> dict:
    b, p = args.batch_size, args.pseudo_per_batch
    base_steps = math.ceil(args.labeled_images / b)
    dmt_steps = math.ceil(args.unlabeled_images / p)
    terms = []

    def term(name, formula, images, rate_name):
        rate = rates[rate_name]
        terms.append({"term": name, "formula": f"{formula} = {images:,} img / {rate:.2f} img/s "
                      f"({rate_name})", "images": images, "rate": rate,
                      "hours": images / rate / 3600})

    term("baselines",
         f"{args.baseline_models} models x {args.baseline_epochs} epochs x ceil({args.labeled_images}/{b})"
         f"={base_steps} steps x {b}",
         args.baseline_models * args.baseline_epochs * base_steps * b, "train_ours_baseline")
    term("DMT fine-tunes",
         f"{args.dmt_iterations} iterations x {args.dmt_models} models x {args.dmt_epochs} epochs x "
         f"ceil({args.unlabeled_images}/{p})={dmt_steps} steps x {b}",
         args.dmt_iterations * args.dmt_models * args.dmt_epochs * dmt_steps * b, "train_ours_dmt")
    term("pseudo-labelling",
         f"{args.pseudo_passes} passes x {args.unlabeled_images}",
         args.pseudo_passes * args.unlabeled_images, "pseudo_ours")
    term("val evaluations",
         f"{args.val_evaluations} x {args.val_images}",
         args.val_evaluations * args.val_images, "eval_ours")
    algorithm2 = sum(t["hours"] for t in terms)
    n_valtiny = (args.baseline_models * _evals(args.baseline_epochs, args.eval_every)
                 + args.dmt_iterations * args.dmt_models * _evals(args.dmt_epochs, args.eval_every))
    if args.valtiny_images:
        term("valtiny during training",
             f"({args.baseline_models} x ceil({args.baseline_epochs}/{args.eval_every}) + "
             f"{args.dmt_iterations * args.dmt_models} x ceil({args.dmt_epochs}/{args.eval_every}))"
             f"={n_valtiny} x {args.valtiny_images}",
             n_valtiny * args.valtiny_images, "eval_ours")
    total = sum(t["hours"] for t in terms)
    # The same schedule if training ran at the bare loop's speed.
    train_images = terms[0]["images"] + terms[1]["images"]
    at_bare = total - terms[0]["hours"] - terms[1]["hours"] + train_images / rates["train_bare"] / 3600
    return {"terms": terms, "algorithm2_hours": algorithm2, "total_hours": total,
            "total_hours_training_at_bare_speed": at_bare}


# ---- main -------------------------------------------------------------------------------------

def _image_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 375x500, got {text!r}") from None
    return h, w


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="deeplab_v2", help="registry name (default deeplab_v2 = R101)")
    p.add_argument("--crop", type=int, nargs=2, default=(321, 321), metavar=("H", "W"),
                   help="training crop; also the inference pad size (default 321 321)")
    p.add_argument("--batch-size", type=int, default=8, help="training batch (default 8)")
    p.add_argument("--pseudo-per-batch", type=int,
                   help="pseudo-labelled samples of a DMT batch (default 7/8 of the batch: 7 of 8)")
    p.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up steps (default 10)")
    p.add_argument("--images", type=int, default=64,
                   help="synthetic images for pseudo-labelling/evaluation (default 64)")
    p.add_argument("--image-size", type=_image_size, default=(375, 500), metavar="HxW",
                   help="their size (default 375x500, a typical VOC image)")
    p.add_argument("--inference-batch-size", type=int, default=8,
                   help="pseudo-labelling/evaluation batch (default 8, as config.yaml)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs of each measurement; the fastest counts (default 3)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cuda:1, cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="fp32 everywhere (default: bf16 autocast on CUDA, fp16 without bf16; CPU fp32)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="our loop without TensorBoard logging (the pipeline logs)")
    p.add_argument("--log-every", type=int, default=10, help="our loop's logging period (default 10)")
    p.add_argument("--num-workers", type=int, default=VOC["num_workers"],
                   help=f"our loop's DataLoader workers (default {VOC['num_workers']}, as voc_1_20)")
    p.add_argument("--out", help="write the JSON here")
    s = p.add_argument_group("projection schedule (VOC 1/20, paper Algorithm 2)")
    d = " (default %(default)s)"
    s.add_argument("--labeled-images", type=int, default=VOC["labeled"],
                   help="labelled images the baselines train on" + d)
    s.add_argument("--unlabeled-images", type=int, default=VOC["unlabeled"],
                   help="pseudo-labelled images; a fine-tune epoch is counted on them" + d)
    s.add_argument("--val-images", type=int, default=VOC_VAL_IMAGES, help="val set" + d)
    s.add_argument("--baseline-models", type=int, default=VOC["baseline_models"], help=d.strip())
    s.add_argument("--baseline-epochs", type=int, default=VOC["baseline_epochs"],
                   help="sqrt(1/ratio) x 30 oracle epochs" + d)
    s.add_argument("--dmt-iterations", type=int, default=VOC["iterations"], help=d.strip())
    s.add_argument("--dmt-models", type=int, default=VOC["models"],
                   help="fine-tunes per iteration" + d)
    s.add_argument("--dmt-epochs", type=int, default=VOC["dmt_epochs"], help="per fine-tune" + d)
    s.add_argument("--pseudo-passes", type=int, default=VOC["iterations"] * VOC["models"],
                   help="passes over the unlabeled images" + d)
    s.add_argument("--val-evaluations", type=int, default=VOC["baseline_models"] + VOC["iterations"] * VOC["models"],
                   help="of every trained model on val" + d)
    s.add_argument("--valtiny-images", type=int, default=VOC["valtiny"],
                   help="valtiny, evaluated every --eval-every epochs in training; 0 leaves it out" + d)
    s.add_argument("--eval-every", type=int, default=VOC["eval_every"], help="epochs" + d)
    args = p.parse_args(argv)
    if args.pseudo_per_batch is None:
        args.pseudo_per_batch = min(args.batch_size - 1, round(args.batch_size * 7 / 8))
    if not 1 <= args.pseudo_per_batch < args.batch_size:
        p.error("--pseudo-per-batch must be >= 1 and leave one labelled sample in the batch")
    if min(args.steps, args.warmup, args.repeats) < 1:
        p.error("--steps, --warmup and --repeats must be >= 1")
    return args


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    clock = Clock(device)
    precision = "fp32"
    if args.amp and device.type == "cuda":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"

    # Each phase builds its own model; its tensors are released before the next one starts.
    dmt = time_ours(args, device, clock, "dmt")
    _free(device)
    base = time_ours(args, device, clock, "baseline")
    _free(device)
    bare = time_bare(args, device, clock)
    _free(device)
    inf = time_inference(args, device, clock)
    rates = {"train_ours_dmt": dmt["images_per_s"], "train_ours_baseline": base["images_per_s"],
             "train_bare": bare["images_per_s"], "pseudo_ours": inf["pseudo_ours"],
             "pseudo_bare_forward": inf["pseudo_bare_forward"], "eval_ours": inf["eval_ours"]}
    proj = project(args, rates)
    figures = {
        "train_ours_dmt_images_per_s": rates["train_ours_dmt"],
        "train_ours_baseline_images_per_s": rates["train_ours_baseline"],
        "train_bare_images_per_s": rates["train_bare"],
        "ratio_dmt": rates["train_ours_dmt"] / rates["train_bare"],
        "ratio_baseline": rates["train_ours_baseline"] / rates["train_bare"],
        "pseudo_ours_images_per_s": rates["pseudo_ours"],
        "pseudo_bare_forward_images_per_s": rates["pseudo_bare_forward"],
        "pseudo_ratio": rates["pseudo_ours"] / rates["pseudo_bare_forward"],
        "eval_ours_images_per_s": rates["eval_ours"],
        "projection_algorithm2_hours": proj["algorithm2_hours"],
        "projection_total_hours": proj["total_hours"],
        "projection_total_hours_training_at_bare_speed": proj["total_hours_training_at_bare_speed"],
    }
    if device.type == "cuda":
        figures.update(peak_memory_ours_dmt_gib=dmt["peak_gib"],
                       peak_memory_ours_baseline_gib=base["peak_gib"],
                       peak_memory_bare_gib=bare["peak_gib"])
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    settings["precision"] = precision
    result = {
        "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "cpu_threads": torch.get_num_threads(), "python": sys.version.split()[0],
        "settings": settings, "figures": figures, "projection": proj,
        "notes": NOTES,
        "raw": {"ours_dmt": {k: dmt[k] for k in ("short_s", "long_s", "method")},
                "ours_baseline": {k: base[k] for k in ("short_s", "long_s", "method")},
                "bare_s": bare["seconds"], "inference": inf["raw"]},
    }
    report(result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def report(r: dict) -> None:
    s, f = r["settings"], r["figures"]

    def mem(key):
        return f"{f[key]:8.2f} GiB" if key in f else "       n/a"

    print(f"\n{r['device_name']} ({r['device']}), torch {r['torch']}, {s['precision']}, "
          f"{s['model']}, crop {s['crop'][0]}x{s['crop'][1]}, batch {s['batch_size']} "
          f"({s['pseudo_per_batch']} pseudo), {s['steps']} timed steps after {s['warmup']}")
    print(f"{'training step':<34}{'images/s':>10}{'vs bare':>9}{'peak mem':>13}")
    print(f"{'  ours, DMT batch (dynamic loss)':<34}{f['train_ours_dmt_images_per_s']:10.2f}"
          f"{f['ratio_dmt']:9.3f}{mem('peak_memory_ours_dmt_gib')}")
    print(f"{'  ours, baseline batch (CE)':<34}{f['train_ours_baseline_images_per_s']:10.2f}"
          f"{f['ratio_baseline']:9.3f}{mem('peak_memory_ours_baseline_gib')}")
    print(f"{'  bare PyTorch loop':<34}{f['train_bare_images_per_s']:10.2f}{1:9.3f}"
          f"{mem('peak_memory_bare_gib')}")
    print(f"{'inference':<34}{'images/s':>10}{'vs bare':>9}   ({s['images']} images "
          f"{s['image_size'][0]}x{s['image_size'][1]}, batch {s['inference_batch_size']})")
    print(f"{'  ours, pseudo-labelling (HDF5)':<34}{f['pseudo_ours_images_per_s']:10.2f}"
          f"{f['pseudo_ratio']:9.3f}")
    print(f"{'  ours, evaluation':<34}{f['eval_ours_images_per_s']:10.2f}"
          f"{f['eval_ours_images_per_s'] / f['pseudo_bare_forward_images_per_s']:9.3f}")
    print(f"{'  bare forward':<34}{f['pseudo_bare_forward_images_per_s']:10.2f}{1:9.3f}")
    p = r["projection"]
    print("\nprojected VOC 1/20 run, serial on this device:")
    for t in p["terms"]:
        print(f"  {t['term']:<24}{t['hours']:9.2f} h   {t['formula']}")
    print(f"  {'Algorithm 2 terms':<24}{p['algorithm2_hours']:9.2f} h")
    print(f"  {'total':<24}{p['total_hours']:9.2f} h   "
          f"({p['total_hours_training_at_bare_speed']:.2f} h if training ran at the bare loop's speed)")
    for note in r["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
