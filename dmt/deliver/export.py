"""A run's deliverable: its selected model as one self-describing file, ``results/{run}/final_model.pt``.

Stored as every model the pipeline writes, ``{"model": state dict, "meta": {...}}`` (so the one
model loader reads it), with ``meta`` extended by what using the model needs without the
pipeline's folders around it: the task, class names, the palette of predicted masks, the input
normalisation the model applies itself, how to feed it (zero-padding to the training crop, or the
classification image size), and where it came from (experiment, run, method, the selected model
and iteration, the digest of its training file, its score). Tensors and plain data only:
``torch.load(path, weights_only=True)`` reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from dmt import IGNORE_INDEX, __version__
from dmt.errors import DMTError
from dmt.tasks import task_of

FORMAT = "dmt-final-model/1"


def parse_selected(label: str) -> tuple[int, str]:
    """(iteration, model) of a ``selected`` value of dmt.evaluation.final: ``B5`` (segmentation: model and
    iteration) or ``iter3`` (classification: one model, A, per iteration)."""
    m = re.fullmatch(r"([AB])(\d+)|iter(\d+)", label)
    if m is None:
        raise DMTError(f"selected model {label!r} is neither MODEL+ITERATION (B5) nor iterN")
    return (int(m.group(2)), m.group(1)) if m.group(1) else (int(m.group(3)), "A")


def palette(class_colors, num_classes: int) -> list[list[int]]:
    """RGB per class: the data set's colour where it defines one, else VOC's for that index."""
    from dmt.data.voc import VOC_PALETTE

    colors = list(class_colors) + [None] * (num_classes - len(class_colors))
    return [list(c) if c else VOC_PALETTE[3 * k: 3 * k + 3] for k, c in enumerate(colors[:num_classes])]


def flat_palette(colors: list[list[int]]) -> list[int]:
    """A PNG palette of 256 entries: ``colors`` first, VOC's for the other indices (255 included)."""
    from dmt.data.voc import VOC_PALETTE

    return [v for c in colors for v in c] + VOC_PALETTE[3 * len(colors):]


def segmentation_fields(info, data_root, pad_to, window=None) -> dict:
    """What predicting masks needs: the palette, the ignore index, the zero-padding of training,
    and where evaluation slid windows, the same window (predict slides it too)."""
    fields = {"palette": palette(info.class_colors, info.num_classes), "ignore_index": IGNORE_INDEX,
              "pad_to": [int(v) for v in pad_to]}
    if window is not None:
        fields.update(window=list(window.size), stride=list(window.stride))
    return fields


def classification_fields(info, data_root, pad_to, window=None) -> dict:
    """What classifying needs: the image size of the prepared data."""
    if window is not None:
        raise DMTError("--window is sliding-window segmentation; a classifier sees whole images")
    return {"image_size": _classification_image_size(data_root)}


def _classification_image_size(data_root) -> list[int]:
    from dmt.data.prepared import MARKER

    marker = Path(data_root) / MARKER
    try:
        return list(json.loads(marker.read_text())["image_size"])
    except (OSError, ValueError, KeyError) as e:
        raise DMTError(f"{marker} does not record the image size of the prepared data ({e}); "
                       f"prepare the data set again") from None


def export(final_json, candidates: dict[str, str], load: Callable, *, dataset: str, data_root,
           experiment: str, run: str, method: str, pad_to=(0, 0), window=None, out) -> dict:
    """Write ``out`` from the model that ``final_json`` (final_miou.json / final_acc.json)
    selected among ``candidates`` (its ``selected`` names -> model files); ``load(path, device)``
    reads a trained model (dmt.models.files.load_model). Returns the meta written. Saved as every
    model is (dmt.models.files.save_model: tensors and plain data, a sidecar .json with its digest)."""
    from dmt.data.registry import dataset_info
    from dmt.models import input_normalization
    from dmt.models.files import save_model
    from dmt.store.integrity import file_digest

    try:
        final = json.loads(Path(final_json).read_text())
        selected = final["selected"]
    except (OSError, ValueError, KeyError) as e:
        raise DMTError(f"{final_json} is not a final summary with a selected model ({e})") from None
    if selected not in candidates:
        raise DMTError(f"{final_json} selected {selected!r}, which is not among the candidates "
                       f"{', '.join(sorted(candidates))}")
    iteration, model_name = parse_selected(selected)
    source = candidates[selected]
    model, meta = load(source, "cpu")
    info = dataset_info(dataset, data_root)
    if meta.get("dataset", dataset) != dataset or meta["num_classes"] != info.num_classes:
        raise DMTError(f"{source} is a model of {meta.get('dataset')!r} with {meta['num_classes']} classes, "
                       f"not of data set {dataset} ({info.num_classes} classes)")
    task = task_of(info)
    metric = task.metric
    meta = {
        **meta,
        "format": FORMAT,
        "dataset": dataset,
        "task": info.task,
        "class_names": list(info.class_names),
        "normalization": input_normalization(model),
        "origin": {"experiment": experiment, "run": run, "method": method, "selected": selected,
                   "iteration": iteration, "model": model_name, "source": str(source),
                   "source_digest": file_digest(source), "metric": metric,
                   "score": final.get(metric), "baseline_score": final.get(f"baseline_{metric}"),
                   "scored_on": task.scored_on},
        "exported_by": f"dmt {__version__}",
    }
    meta.update(task.export_fields(info, data_root, pad_to, window))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_model(out, state, meta)
    return meta


def check_exported(meta: dict, path) -> dict:
    """``meta`` of a model file, checked to be an exported final model (not a training output)."""
    if meta.get("format") != FORMAT:
        raise DMTError(f"{path} is a model from training, not an exported final model: use "
                       f"results/<run>/final_model.pt (the final_model rule writes it)")
    return meta
