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
DATASET_SIZES = {"voc": 10582}


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


def E(wildcards):
    return EXPERIMENTS[wildcards.exp]


def other(m):
    return {"A": "B", "B": "A"}[m]


def model_index(m):
    return "AB".index(m)


def iterations(exp):
    return len(EXPERIMENTS[exp]["dmt"]["alphas"])


def data_root(exp):
    e = EXPERIMENTS[exp]
    if e["dataset"] == "digits":
        return "resources/data/digits"
    root = config.get(f"{e['dataset']}_root")
    if not root:
        raise ValueError(f"experiment {exp!r} needs --config {e['dataset']}_root=/path/to/prepared/data")
    return root


def labeled_ratio(e):
    if isinstance(e["labeled"], str):
        return Fraction(e["labeled"])
    total = config["digits"]["n_train"] if e["dataset"] == "digits" else DATASET_SIZES[e["dataset"]]
    return Fraction(e["labeled"], total)


def baseline_epochs(e):
    # Paper Appendix B: sqrt(1 / labeled ratio) * N, N being the oracle's epochs.
    return max(1, round(math.sqrt(1 / labeled_ratio(e)) * e["baseline"]["oracle_epochs"]))


def _common_spec(e, m):
    return {
        "crop_size": e["crop_size"], "scale_range": e["scale_range"], "optimizer": e["optimizer"],
        "momentum": e["momentum"], "weight_decay": e["weight_decay"], "head_lr_mult": e["head_lr_mult"],
        "amp": e["amp"],
        "model": {"name": e["model"], "seed": e["model_seeds"][model_index(m)],
                  "weights": e["weights"][model_index(m)]},
    }


def baseline_spec(wildcards):
    e = E(wildcards)
    b = e["baseline"]
    spec = _common_spec(e, wildcards.m)
    spec.update(epochs=baseline_epochs(e), lr=b["lr"], batch_size=b["batch_size"],
                seed=e["model_seeds"][model_index(wildcards.m)], loss_variant="ce")
    return json.dumps(spec, sort_keys=True)


def oracle_spec(wildcards):
    """Fully supervised reference: every train id labeled, N (oracle_epochs) epochs."""
    e = E(wildcards)
    b = e["baseline"]
    spec = _common_spec(e, "A")
    spec.update(epochs=round(b["oracle_epochs"]), lr=b["lr"], batch_size=b["batch_size"],
                seed=e["model_seeds"][0], loss_variant="ce")
    return json.dumps(spec, sort_keys=True)


def finetune_spec(wildcards):
    e = E(wildcards)
    d = e["dmt"]
    spec = _common_spec(e, wildcards.m)
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
