"""What a result depends on besides its inputs: the source code of the stage that made it, and the
digests of files.

Rules call ``python -m dmt``, so Snakemake's own code trigger sees only the shell string. Instead,
every rule carries the digest of the modules its command runs as a param: a fix in the metrics
re-evaluates without retraining, a change in the loss retrains without re-preparing the data.
The lists below are the modules each stage's command imports and whose behaviour can change its
output; glue that cannot (the CLI's argument parsing, atomic writes, error types) is left out so
that editing a help text reruns nothing. ``tests/test_provenance.py`` checks that every module a
stage imports is either listed or named as glue here.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

# Modules that cannot change the result of a stage that merely imports them: argument parsing, file
# plumbing, error types, this module, building prepared folders (listed for preparation itself),
# the registry (adding a data set must not rerun the others), which GPU a job takes, and the
# digests that check files.
GLUE = ("__init__.py", "__main__.py", "cli.py", "atomic.py", "errors.py", "provenance.py",
        "data/__init__.py", "data/registry.py", "data/prepared.py", "devices.py", "integrity.py",
        "configuration.py", "finished.py")

_MODELS = ("models/__init__.py", "models/small.py", "models/deeplab_v2.py", "models/wide_resnet.py",
           "modelfile.py")
_READERS = ("data/voc.py", "data/images.py", "data/classification.py", "data/transforms.py")

STAGE_MODULES: dict[str, tuple[str, ...]] = {
    # Making the training set's batches, the loss, the optimiser, the model; also the readers of
    # pseudo-label files (thresholds are applied when they are read).
    "train": ("train.py", "losses.py", "inference.py", "jobs.py", "pseudo.py", "pseudo_images.py",
              "h5io.py", *_MODELS, *_READERS),
    "pseudo": ("pseudo.py", "pseudo_images.py", "inference.py", "jobs.py", "h5io.py", *_MODELS, *_READERS),
    "evaluate": ("evaluate.py", "inference.py", *_MODELS, *_READERS),
    "final": ("final.py",),
    "tables": ("tables.py", "methods.py"),
    # The exported final model (its metadata: classes, palette, normalisation) and predictions.
    "export": ("final_model.py", "data/voc.py", "data/images.py", "data/folder.py", *_MODELS),
    "predict": ("predict.py", "final_model.py", "inference.py", "data/voc.py", "data/images.py", "data/folder.py",
                *_MODELS),
    "split": ("data/splits.py", "sampling.py", "data/voc.py", "data/images.py", "data/classification.py"),
    "convert_coco": ("models/deeplab_v2.py",),
    # The report's figures and tables; the examples predict with the models, as evaluation does.
    "report": ("plots.py", "report_data.py", "examples.py", "report_cli.py", "pseudo.py", "h5io.py",
               "pseudo_images.py", "inference.py", *_MODELS, *_READERS),
}


def prepare_modules(dataset: str) -> tuple[str, ...]:
    """Sources of a data set's preparation: its own module and the prepared-folder helpers."""
    from dmt.data.registry import dataset_info

    module = dataset_info(dataset).prepare.partition(":")[0]
    return (module.removeprefix("dmt.").replace(".", "/") + ".py", "data/prepared.py", "data/voc.py",
            "data/images.py")


@lru_cache(maxsize=None)
def _digest_files(files: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in sorted(set(files)):
        path = PACKAGE / name
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def code_digest(stage: str) -> str:
    """Digest of the sources of ``stage`` (a key of STAGE_MODULES, or ``prepare:<data set>``)."""
    if stage.startswith("prepare:"):
        return _digest_files(prepare_modules(stage.partition(":")[2]))
    if stage not in STAGE_MODULES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGE_MODULES)}, prepare:<data set>")
    return _digest_files(STAGE_MODULES[stage])


def input_digest(path) -> str:
    """Digest of a job's input (``dmt.integrity.file_digest``); a prepared data folder is
    represented by its completion marker, which records the parameters and counts it was made from."""
    from dmt.integrity import file_digest

    path = Path(path)
    if path.is_dir():
        from dmt.data.prepared import MARKER

        path = path / MARKER
    return file_digest(path)
