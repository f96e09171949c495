# Configuration -> the experiment plan (dmt.plan); the rules only ask it for paths, specs and
# parameters. Everything a job's result depends on reaches it through an input file (its spec
# included) or a `params:` entry, so Snakemake reruns exactly the jobs a change affects; runtime
# knobs (threads, workers, device) reach the command as flags outside both.
import os
import re
import sys

from snakemake.settings.types import DeploymentMethod

from dmt import configuration
from dmt.data.registry import DATASETS
from dmt.errors import DMTError
from dmt.jobs import to_json
from dmt.plan import COCO_WEIGHTS, Experiment, Plan, PlanError, Run, flags, items, raw_input
from dmt.store.provenance import code_digest


configfile: "config/config.yaml"


envvars:
    "PATH",


# A configuration or planning error is one line and exit status 1 (sys.exit: Snakemake passes it
# through, where it would wrap an exception in its own frames), before any job starts.
def _stop(error):
    sys.exit(f"error: {error}")


class _Planning:
    """The plan as the rules see it: a PlanError (or a user's DMTError) raised while Snakemake
    evaluates an input or params function (a target of no run, an iteration a run lacks) stops
    the workflow with its one line instead of an InputFunctionException and its frames."""

    def __init__(self, target):
        self._target = target

    @staticmethod
    def _wrap(value):
        return _Planning(value) if isinstance(value, (Plan, Experiment, Run)) else value

    def __getattr__(self, name):
        try:
            value = getattr(self._target, name)
        except (PlanError, DMTError) as e:
            _stop(e)
        if not callable(value):
            return self._wrap(value)

        def call(*args, **kwargs):
            try:
                return self._wrap(value(*args, **kwargs))
            except (PlanError, DMTError) as e:
                _stop(e)

        return call


try:
    configuration.check_files(workflow.configfiles)
    configuration.apply_runtime_knobs(config)
    configuration.validate(
        config,
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
        where=", ".join(map(str, workflow.configfiles)) or "config",
    )
    PLAN = _Planning(Plan(config))
except (PlanError, DMTError) as e:
    _stop(e)

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
PRETRAININGS = _one_of(PLAN.pretrainings)


wildcard_constraints:
    run=RUNS,
    exp=EXPS,
    dataset=_one_of(DATASETS),
    i="[1-9][0-9]*",
    t="[AB]",
    metric="miou|acc",


def experiment_of(wildcards):
    """The experiment (dmt.plan.Experiment) a job of these wildcards belongs to; for a
    pre-training's jobs, the pre-training (its ``cfg`` holds threads, device and resources too)."""
    if "name" in wildcards.keys():
        return PLAN.pretraining(wildcards.name)
    if "job" in wildcards.keys():
        return _Planning(PLAN.locate(wildcards.job)[0])
    if "run" in wildcards.keys():
        return PLAN.run(wildcards.run).exp
    return PLAN.experiment(wildcards.exp)


def raw_file(key, needed_by):
    """The local file of config key ``key``, checked to exist (one line naming the key if not)."""
    try:
        return raw_input(config, key, needed_by)
    except PlanError as e:
        _stop(e)


def runtime(wildcards, threads):
    """Where and how fast a job runs: argv items (the rules quote them), outside the params."""
    return flags({"device": experiment_of(wildcards).cfg["device"], "threads": threads})


def options(of):
    """A params entry: the option dict ``of(wildcards)`` (from the plan) as argv items, each quoted
    by the rule's ``{params.x:q}``; the plan spells the option names, dmt.plan.argv renders them."""
    return lambda wildcards: flags(of(wildcards))


def threads_of(wildcards):
    return experiment_of(wildcards).cfg["threads"]


def resources_of(stage):
    """The ``resources:`` of a job of ``stage`` (config ``resources.<stage>``): memory, run time and
    GPUs, which the SLURM profile and dmt.devices read; one helper for every rule that computes."""

    def one(key):
        return lambda wildcards: experiment_of(wildcards).cfg["resources"][stage][key]

    return {key: one(key) for key in ("mem_mb", "runtime", "gpu")}
