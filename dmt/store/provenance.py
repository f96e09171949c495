"""What a result depends on besides its inputs: the source code of the stage that made it, and the
digests of files.

Rules call ``python -m dmt``, so Snakemake's own code trigger sees only the shell string. Instead,
every rule carries the digest of the modules its command runs as a param: a fix in the metrics
re-evaluates without retraining, a change in the loss retrains without re-preparing the data.
The lists below are the modules each stage's command imports and whose behaviour can change its
output; glue that cannot (the CLI's argument parsing, atomic writes, error types) is left out so
that editing a help text reruns nothing. ``tests/store/test_provenance.py`` checks that every module a
stage imports is either listed or named as glue here.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# Glue: what cannot change the result of a stage that runs it. Argument parsing (cli/), file
# plumbing, digests and this module (store/), which GPU a job takes, error types, the KEY=FILE
# items, and the public re-exports. Everything else a stage runs lives in the packages below.
GLUE_PACKAGES = ("cli", "store")
GLUE_MODULES = ("__init__.py", "__main__.py", "devices.py", "errors.py", "items.py", "losses.py", "sampling.py")
# The planner: it decides no result itself; what it plans is in the spec files and params that
# Snakemake compares by content.
PLANNER = ("plan", "configuration.py")
# Each data set's preparation (data/prepare/) counts only for that data set's `prepare` digest:
# editing the digits generator must not retrain VOC models.
PREPARATION = "data/prepare"

# Every stage but the weight conversion runs the task's strategy (tasks.py: which data set,
# metric, store, selection); the stage functions it names ("module:function") lie in the packages
# of the stages that call them (tests/store/test_provenance.py follows those names).
STAGE_PACKAGES: dict[str, tuple[str, ...]] = {
    # The loop, the loss, the model and the data it reads, the pseudo-labels it reads (their
    # thresholds are applied when they are read), the spec file's schema.
    "train": ("training", "models", "pseudo", "data", "jobs.py", "tasks.py"),
    "pseudo": ("pseudo", "models", "data", "jobs.py", "tasks.py"),
    # Scores, and the selection on valtiny that the final JSON records.
    "evaluate": ("evaluation", "models", "data", "tasks.py"),
    "tables": ("report", "methods.py", "tasks.py"),
    # The report's figures; the examples predict with the models, as evaluation does.
    "report": ("report", "models", "pseudo", "data", "methods.py", "tasks.py"),
    # The exported final model (its metadata: classes, palette, normalisation) and predictions.
    "deliver": ("deliver", "models", "data", "tasks.py"),
    "split": ("data", "tasks.py"),
    "convert_coco": ("models",),  # converts weights: the same for either task
}


# What a stage runs only to report progress, never deciding its output's weights or anything selected
# from it: training scores valtiny after each epoch with evaluation's metrics, for its log and the
# history in the model's summary (the selection reads evaluate's metrics.json). A fix in the metrics
# must re-evaluate without retraining, so these stay out of the stage's digest.
PROGRESS_ONLY: dict[str, tuple[str, ...]] = {"train": ("evaluation/__init__.py", "evaluation/metrics.py")}


def _sources(entry: str) -> tuple[str, ...]:
    """The .py files of a package (without data/prepare/, whose modules count per data set) or
    one module, relative to the package root."""
    path = PACKAGE / entry
    if path.suffix == ".py":
        return (entry,)
    return tuple(str(f.relative_to(PACKAGE)) for f in sorted(path.rglob("*.py"))
                 if not str(f.relative_to(PACKAGE)).startswith(PREPARATION + "/"))


def glue() -> tuple[str, ...]:
    """Every glue file, relative to the package root."""
    return tuple(f for package in GLUE_PACKAGES for f in _sources(package)) + GLUE_MODULES


def planner() -> tuple[str, ...]:
    """The planner's files (PLANNER), relative to the package root."""
    return tuple(f for entry in PLANNER for f in _sources(entry))


def stage_modules(stage: str) -> tuple[str, ...]:
    """The files whose digest is ``stage``'s code digest."""
    return tuple(f for entry in STAGE_PACKAGES[stage] for f in _sources(entry))


def progress_only(stage: str) -> tuple[str, ...]:
    """What ``stage`` runs for its progress record only (PROGRESS_ONLY), outside its digest."""
    return PROGRESS_ONLY.get(stage, ())


def _preparation_imports(own: str) -> list[str]:
    """``own`` and the data/prepare/ modules it imports, directly or through them (digits_style
    composes with digits' code: a change there must re-prepare it too)."""
    import ast

    prefix = "dmt." + PREPARATION.replace("/", ".") + "."
    found, todo = [], [own]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.append(name)
        for node in ast.walk(ast.parse((PACKAGE / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
                todo.append(node.module.removeprefix("dmt.").replace(".", "/") + ".py")
    return found


def prepare_modules(dataset: str) -> tuple[str, ...]:
    """Sources of a data set's preparation: its own module (data/prepare/) and the preparation
    modules it imports, the command, and the prepared-folder and image helpers it builds on."""
    from dmt.data.registry import dataset_info

    module = dataset_info(dataset).prepare.partition(":")[0]
    own = module.removeprefix("dmt.").replace(".", "/") + ".py"
    return (*_preparation_imports(own), "data/prepare/__init__.py", "data/prepare/job.py", "data/__init__.py",
            "data/prepared.py", "data/voc.py", "data/images.py", "data/classification.py", "data/registry.py",
            "data/folder.py")


@cache
def _digest_files(files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in sorted(set(files)):
        path = PACKAGE / name
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def code_digest(stage: str) -> str:
    """Digest of the sources of ``stage`` (a key of STAGE_PACKAGES, or ``prepare:<data set>``)."""
    if stage.startswith("prepare:"):
        return _digest_files(prepare_modules(stage.partition(":")[2]))
    if stage not in STAGE_PACKAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGE_PACKAGES)}, prepare:<data set>")
    return _digest_files(stage_modules(stage))


def input_digest(path) -> str:
    """Digest of a job's input (``dmt.store.integrity.file_digest``); a prepared data folder is
    represented by its completion marker, which records the parameters and counts it was made from."""
    from dmt.store.integrity import file_digest

    path = Path(path)
    if path.is_dir():
        from dmt.data.prepared import MARKER

        path = path / MARKER
    return file_digest(path)
