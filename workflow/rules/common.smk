# Configuration: validation, defaults, and the per-rule parameters derived from it. Everything a
# job's result depends on reaches it through `params:` (so Snakemake's params trigger reruns it
# when that value changes) or an input file; runtime-only knobs (threads, workers, device) do not.
import copy
import json
import math
import os
import sys
from fractions import Fraction

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

import dmt
from dmt.data.registry import dataset_info


configfile: "config/config.yaml"


envvars:
    "PATH",


validate(config, "../schemas/config.schema.yaml")

# Code changes under dmt/ rerun nothing by themselves (the shell string does not change); the
# package version is a param of every model-producing rule, so bumping it reruns them all.
DMT_VERSION = dmt.__version__
# Jobs run `python -m dmt`: the Python that runs Snakemake (a venv need not be activated), or
# under --sdm conda the env's own, which Snakemake puts first on PATH.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
CONDA_ENV = "../envs/dmt.yaml"
# Local files the pipeline reads but cannot make: config key -> what it is, for error messages.
RAW_INPUTS = {
    "voc_root": "the folder holding VOC2012/JPEGImages (e.g. .../VOCdevkit)",
    "sbd_root": "the folder holding benchmark_RELEASE/dataset/cls/*.mat",
    "cityscapes_root": "the folder holding leftImg8bit/ and gtFine/",
    "cifar10_root": "the folder holding cifar-10-batches-py/ (CIFAR-10, python version)",
    "coco_checkpoint": "the Caffe-converted COCO DeepLab-v2 weights (e.g. resnet101COCO-41f33a49.pth)",
    "imagenet_checkpoint": "a torchvision resnet101 ImageNet state dict (e.g. resnet101-63fe2227.pth)",
}
DATASET_INPUTS = {"digits": [], "voc": ["voc_root", "sbd_root"], "cityscapes": ["cityscapes_root"],
                  "digits_cls": [], "cifar10": ["cifar10_root"]}
COCO_WEIGHTS = "resources/weights/deeplab_v2_coco.pt"


def _merge(base, override):
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


EXPERIMENTS = {name: _merge(config["defaults"], exp or {}) for name, exp in config["experiments"].items()}


wildcard_constraints:
    exp="|".join(EXPERIMENTS),
    m="[AB]",
    i="[1-9][0-9]*",


def task(exp):
    return dataset_info(EXPERIMENTS[exp]["dataset"]).task


SEG_EXPERIMENTS = [e for e in EXPERIMENTS if task(e) == "segmentation"]
CLS_EXPERIMENTS = [e for e in EXPERIMENTS if task(e) == "classification"]


def E(wildcards):
    return EXPERIMENTS[wildcards.exp]


def other(m):
    return {"A": "B", "B": "A"}[m]


def model_index(m):
    return "AB".index(m)


def iterations(exp):
    return len(EXPERIMENTS[exp]["dmt"]["alphas"])


def raw_input(key, needed_by):
    """A local path from config (checked to exist), or a clear error naming the key to set."""
    path = config.get(key)
    if not path:
        raise ValueError(f"{needed_by} needs {RAW_INPUTS[key]}: set it with --config {key}=/path "
                         f"(or `{key}:` in config/config.yaml)")
    if not os.path.exists(path):
        raise ValueError(f"{key}={path} (needed by {needed_by}) does not exist; expected {RAW_INPUTS[key]}")
    return path


def data_root(exp):
    """The prepared data folder (VOC layout) of an experiment; made by a prepare_* rule."""
    return f"resources/data/{EXPERIMENTS[exp]['dataset']}"


def has_raw_inputs(exp):
    e = EXPERIMENTS[exp]
    keys = DATASET_INPUTS[e["dataset"]] + [f"{w}_checkpoint" for w in e["weights"] if w in ("coco", "imagenet")]
    return all(config.get(k) for k in keys)


def resolve_weights(weights, exp):
    """Config's short names -> what `dmt train` takes: coco -> the converted file, imagenet -> the
    user's state dict; scratch and explicit KIND:/path stay as they are."""
    if weights == "coco":
        return f"coco:{COCO_WEIGHTS}"
    if weights == "imagenet":
        return f"imagenet:{raw_input('imagenet_checkpoint', f'experiment {exp} (weights: imagenet)')}"
    return weights


def weights_files(wildcards, which=None):
    """Files a training job's init reads, as inputs (so new weights rerun the job)."""
    e = E(wildcards)
    picks = e["weights"] if which is None else [e["weights"][which]]
    resolved = [resolve_weights(w, wildcards.exp) for w in picks]
    return [r.partition(":")[2] for r in resolved if ":" in r]


def labeled_list_file(wildcards):
    """An experiment's fixed labeled list when it is a file of the user's (an input, so editing it
    reruns the split); `data:NAME` lists live in the prepared data and are passed as a param."""
    value = E(wildcards).get("labeled_list") or ""
    return [] if not value or value.startswith("data:") else value


def labeled_ratio(e):
    if isinstance(e["labeled"], str):
        return Fraction(e["labeled"])
    total = config["digits"]["n_train"] if e["dataset"] == "digits" else dataset_info(e["dataset"]).train_size
    if total is None:
        raise ValueError(f"data set {e['dataset']}: give `labeled` as a ratio like '1/20'")
    return Fraction(e["labeled"], total)


def baseline_epochs(e):
    # Paper Appendix B: sqrt(1 / labeled ratio) * N, N being the oracle's epochs.
    return max(1, round(math.sqrt(1 / labeled_ratio(e)) * e["baseline"]["oracle_epochs"]))


def _common_spec(e, m, exp):
    return {
        "crop_size": e["crop_size"], "scale_range": e["scale_range"], "optimizer": e["optimizer"],
        "momentum": e["momentum"], "weight_decay": e["weight_decay"], "head_lr_mult": e["head_lr_mult"],
        "amp": e["amp"],
        "model": {"name": e["model"], "seed": e["model_seeds"][model_index(m)],
                  "weights": resolve_weights(e["weights"][model_index(m)], exp)},
    }


def baseline_spec(wildcards):
    e = E(wildcards)
    b = e["baseline"]
    spec = _common_spec(e, wildcards.m, wildcards.exp)
    spec.update(epochs=baseline_epochs(e), lr=b["lr"], batch_size=b["batch_size"],
                seed=e["model_seeds"][model_index(wildcards.m)], loss_variant="ce")
    return json.dumps(spec, sort_keys=True)


def oracle_spec(wildcards):
    """Fully supervised reference: every train id labeled, N (oracle_epochs) epochs."""
    e = E(wildcards)
    b = e["baseline"]
    spec = _common_spec(e, "A", wildcards.exp)
    spec.update(epochs=round(b["oracle_epochs"]), lr=b["lr"], batch_size=b["batch_size"],
                seed=e["model_seeds"][0], loss_variant="ce")
    return json.dumps(spec, sort_keys=True)


def finetune_spec(wildcards):
    e = E(wildcards)
    d = e["dmt"]
    spec = _common_spec(e, wildcards.m, wildcards.exp)
    # A fresh data order per iteration and model.
    seed = 1000 * int(wildcards.i) + e["model_seeds"][model_index(wildcards.m)]
    spec.update(epochs=d["epochs"], lr=d["lr"], batch_size=d["batch_size"], seed=seed,
                pseudo_per_batch=d["pseudo_per_batch"], gamma1=d["gamma1"], gamma2=d["gamma2"],
                loss_variant=d["loss_variant"])
    return json.dumps(spec, sort_keys=True)


def alpha(wildcards):
    alphas = E(wildcards)["dmt"]["alphas"]
    i = int(wildcards.i)
    if i > len(alphas):
        raise ValueError(f"experiment {wildcards.exp} has {len(alphas)} iterations, not {i}")
    return alphas[i - 1]


def runtime_flags(wildcards, threads):
    e = E(wildcards)
    return f"--device {e['device']} --threads {threads}"


def res(kind, key):
    return lambda wildcards: EXPERIMENTS[wildcards.exp]["resources"][kind][key]


def split_file(exp, name):
    return f"resources/splits/{exp}/{name}.txt"


def labeled_for(wildcards):
    """Baseline training set: the whole labeled subset, or the model's DMS sub-subset."""
    if E(wildcards)["init"] == "dms":
        return f"results/{wildcards.exp}/dms/{wildcards.m}.txt"
    return split_file(wildcards.exp, "labeled")


def cls_spec(wildcards):
    """Algorithm 1: iteration 0 trains F0 on the labeled set, iteration i re-trains F_i from
    scratch with a new seed on labeled + pseudo labels; all with mixup, EMA, cosine lr."""
    e = E(wildcards)
    i = int(wildcards.i)
    c = e["classification"]
    stage = e["baseline"] if i == 0 else e["dmt"]
    seed = e["model_seeds"][0] + 1000 * i  # a previously unused seed per iteration
    spec = _common_spec(e, "A", wildcards.exp)
    spec["model"]["seed"] = seed
    spec.update(schedule=c["schedule"], mixup_alpha=c["mixup_alpha"], ema_decay=c["ema_decay"],
                lr=stage["lr"], batch_size=stage["batch_size"], seed=seed)
    if i == 0:
        spec.update(epochs=baseline_epochs(e), loss_variant="ce")
    else:
        d = e["dmt"]
        spec.update(epochs=d["epochs"], pseudo_per_batch=d["pseudo_per_batch"], gamma1=d["gamma1"],
                    gamma2=d["gamma2"], loss_variant=d["loss_variant"], gamma_ramp=c["gamma_ramp"])
    return json.dumps(spec, sort_keys=True)
