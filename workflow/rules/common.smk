# Configuration -> the experiment plan (dmt.plan); the rules only ask it for paths, specs and
# parameters. Everything a job's result depends on reaches it through an input file (its spec
# included) or a `params:` entry, so Snakemake reruns exactly the jobs a change affects; runtime
# knobs (threads, workers, device) reach the command as flags outside both.
import os
import re
import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from dmt.data.registry import DATASETS
from dmt.jobs import to_json
from dmt.plan import COCO_WEIGHTS, Plan, raw_input
from dmt.provenance import code_digest


configfile: "config/config.yaml"


envvars:
    "PATH",


validate(config, "../schemas/config.schema.yaml")
PLAN = Plan(config)

# Jobs run `python -m dmt`: the Python that runs Snakemake (a venv need not be activated), or
# under --sdm conda the env's own, which Snakemake puts first on PATH.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
CONDA_ENV = "../envs/dmt.yaml"


def _one_of(names):
    # Longest first: "digits_1_20/cbst" must not stop at "digits_1_20".
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "^$"


RUNS, EXPS = _one_of(PLAN.runs), _one_of(PLAN.experiments)
# Model folders under results/: {exp}/iter0/{m} (baselines), {run}/iter{i}/{m}, {exp}/oracle.
BASELINE_JOB = f"(?:{EXPS})/iter0/[AB]"
ITERATION_JOB = f"(?:{RUNS})/iter[1-9][0-9]*/[AB]"
ORACLE_JOB = f"(?:{EXPS})/oracle"
MODEL_JOB = f"{BASELINE_JOB}|{ITERATION_JOB}|{ORACLE_JOB}"


wildcard_constraints:
    run=RUNS,
    exp=EXPS,
    dataset=_one_of(DATASETS),
    i="[1-9][0-9]*",
    t="[AB]",
    metric="miou|acc",


def experiment_of(wildcards):
    """The experiment (dmt.plan.Experiment) a job of these wildcards belongs to."""
    if "job" in wildcards.keys():
        return PLAN.locate(wildcards.job)[0]
    if "run" in wildcards.keys():
        return PLAN.run(wildcards.run).exp
    return PLAN.experiment(wildcards.exp)


def cfg(key):
    """A value of the job's experiment config, for params."""
    return lambda wildcards: experiment_of(wildcards).cfg[key]


def runtime(wildcards, threads):
    return f"--device {experiment_of(wildcards).cfg['device']} --threads {threads}"


def res(kind, key):
    return lambda wildcards: experiment_of(wildcards).cfg["resources"][kind][key]
