"""Segmentation or classification: what differs between the two tasks, in one strategy object per
task (``TASKS``), as USB keeps one class per algorithm. A data set's registry entry names its task
(``DatasetInfo.task``); the plan and every stage ask ``task_of`` instead of comparing names.

A Task knows its metric (the key metrics files and final JSONs use, the final JSON's name), what
the plan gives its jobs, and how to read its final JSON. Its operations on data and models
(``OPS``: building data sets, pseudo-label stores and their generation, evaluation, the valtiny
score in training, the final selection, export, prediction, the report's figures) stay in the
stage packages that run them and are named here as ``"module:function"``, as the data set
registry names its preparation, imported only when called. So this module imports no torch,
h5py or stage package: the plan reads it while building the DAG, and no stage's import closure
reaches another stage's code through it (tests/store/test_provenance.py follows these names from every
call of an operation, as it follows imports).
"""

from __future__ import annotations

import importlib

from dmt.errors import DMTError


def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


class Task:
    name: str
    metric: str  # the key of the score in metrics files and final JSONs
    final_metric: str  # results/{run}/final_{final_metric}.json
    scored_on: str  # the split a run is reported on (valtiny selects)
    metric_label: str
    selection_metric: str  # the valtiny score the final selection maximises first
    selection_label: str
    labeled_unit: str  # what a class needs in the labeled set to be learnt
    kept_meaning: str  # what the pseudo-label figure's per-class share is a share of
    element: str  # what one pseudo label labels (pixel, image): the collapse check's messages
    kept_key: str  # the pseudo-label summary's count of kept labels per class
    OPS: dict[str, str]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def op(self, name: str):
        """The stage function behind operation ``name`` (``OPS``), imported now."""
        return _resolve(self.OPS[name])

    # -- operations: the stage's own functions, shared signature per task
    def build_dataset(self, name: str, root, ids, info, **kwargs):
        return self.op("build_dataset")(name, root, ids, info, **kwargs)

    def write_pseudo_labels(self, job, model, meta, dataset, out, device, keep) -> None:
        """The labels at ``out``; ``keep(summary)`` writes their summary."""
        self.op("write_pseudo_labels")(job, model, meta, dataset, out, device, keep)

    def evaluate_model(self, args, model, info, device) -> dict:
        """The scores of ``evaluate`` (its metrics.json, beside the model's name and digest)."""
        return self.op("evaluate_model")(args, model, info, device)

    def valtiny_score(self, model, valtiny, device, spec, eval_batch_size: int, world) -> dict:
        """``world`` (dmt.training.distributed): each rank scores its share; the counts are summed."""
        return self.op("valtiny_score")(model, valtiny, device, spec, eval_batch_size, world)

    def select_final(self, metrics) -> dict:
        """The final JSON, recording its task: the tables read it from there, guessing nothing."""
        return {**self.op("select_final")(metrics), "task": self.name}

    def export_fields(self, info, data_root, pad_to, window=None) -> dict:
        return self.op("export_fields")(info, data_root, pad_to, window)

    def pseudo_set(self, args, info, i: int, t: str, h5, summary):
        return self.op("pseudo_set")(args, info, i, t, h5, summary)

    def pseudo_agreement(self, sets: dict, ids, data=None) -> dict:
        """How often the teachers of two pseudo-label sets of the same images predict the same class
        (and, given the prepared ``data`` with the images' ground truth, how their errors overlap)."""
        if "pseudo_agreement" not in self.OPS:
            raise DMTError(f"{self.name} runs train one model per iteration and their pseudo-label sets keep "
                           f"only some images: there are no two teachers' predictions of every image to compare")
        return self.op("pseudo_agreement")(sets, ids, data)

    def plot_examples(self, args, info) -> None:
        return self.op("plot_examples")(args, info)

    def example_inputs(self, run) -> dict[str, list[str]]:
        return self.op("example_inputs")(run)

    def example_options(self, run) -> dict:
        return self.op("example_options")(run)

    # -- results: a final JSON of this task, a metrics file (the oracle's)
    def score(self, final: dict) -> float:
        """The selected model's score, in percent."""
        return 100 * final[self.metric]

    def own_baseline(self, final: dict) -> tuple[float, str]:
        """The run's baseline as its final JSON reports it (in percent) and which model it is."""
        return 100 * final[f"baseline_{self.metric}"], self.baseline_label(final)

    def oracle_score(self, metrics: dict) -> float:
        """The score of a metrics file (not in percent)."""
        return metrics[self.scored_on][self.metric]

    def last_models(self, final: dict) -> list[tuple[str, float, float]]:
        """(model, its valtiny score that selects, its reported score), in percent, of every model
        of the last iteration, as the final JSON sets them side by side (KeyError: an older one)."""
        return [(m, 100 * s[f"valtiny_{self.selection_metric}"], 100 * s[f"{self.scored_on}_{self.metric}"])
                for m, s in final["last_models"].items()]

    def oracle_choice(self, final: dict) -> str:
        """The candidate a look at the reported split picks: no valid selection, for reference."""
        return final["oracle_choice"]["model"]

    def kept_per_class(self, summary: dict) -> list[int]:
        """Kept pseudo labels per class, from a pseudo-label set's summary."""
        return summary[self.kept_key]


class SegmentationTask(Task):
    name, metric, final_metric, scored_on = "segmentation", "miou", "miou", "val"
    metric_label, labeled_unit = "val mIoU", "labeled pixel"
    selection_metric, selection_label = "miou", "valtiny mIoU"
    kept_meaning = "share of the pixels predicted as the class"
    element, kept_key = "pixel", "kept_counts"
    OPS = {
        "build_dataset": "dmt.data.datasets:segmentation_dataset",
        "write_pseudo_labels": "dmt.pseudo.job:segmentation_labels",
        "evaluate_model": "dmt.evaluation.job:segmentation_scores",
        "valtiny_score": "dmt.training.job:valtiny_miou",
        "select_final": "dmt.evaluation.final:select_final",
        "export_fields": "dmt.deliver.export:segmentation_fields",
        "predict_images": "dmt.deliver.predict:predict_masks",
        "prediction_files": "dmt.deliver.predict:mask_files",
        "pseudo_store": "dmt.pseudo.segmentation:PseudoLabelStore",
        "pseudo_set": "dmt.report.job:segmentation_set",
        "pseudo_agreement": "dmt.pseudo.agreement:pixel_agreement",
        "plot_examples": "dmt.report.job:segmentation_example_figure",
        "example_inputs": "dmt.report.plan:segmentation_example_inputs",
        "example_options": "dmt.report.plan:segmentation_example_options",
    }

    def pseudo_store(self, path, ids):
        return self.op("pseudo_store")(path, expected_ids=ids)

    def prediction_files(self, items, confidence: bool, overlay: bool) -> list[str]:
        return self.op("prediction_files")(items, confidence, overlay)

    def check_predict_options(self, confidence: bool, overlay: bool, pad_to, window=None) -> None:
        """Every option of predict applies to masks."""

    def predict_images(self, model, meta, items, sizes, out, device, *, pad_to, confidence, overlay, window=None,
                       **common):
        """Masks, batched in order of size so that a batch pads little."""
        by_size = sorted(items, key=lambda item: (sizes[item[0]], item[0]))
        return self.op("predict_images")(model, meta, by_size, out, device, pad_to=pad_to, confidence=confidence,
                                         overlay=overlay, window=window, **common)

    # -- results
    def baseline_label(self, final: dict) -> str:
        return final["baseline_selected"]

    def baseline_score(self, final: dict) -> float:
        """Iteration 0 of model A, where every method of the experiment starts, in percent."""
        return 100 * final["val_miou_by_iteration"]["A"][0]

    def iteration_scores(self, final: dict) -> list[tuple[str, int, float]]:
        """(model, iteration, score in percent) of every model after every iteration of a run."""
        return [(m, i, 100 * v) for m, scores in final["val_miou_by_iteration"].items()
                for i, v in enumerate(scores)]

    def curve(self, final: dict) -> tuple[dict, tuple[str, int], float, str]:
        """(values per model, selected (model, iteration), baseline, baseline model) of a run."""
        selected = final["selected"]
        return (final["val_miou_by_iteration"], (selected[0], int(selected[1:])), final["baseline_miou"],
                final["baseline_selected"])

    # -- the plan's hooks
    def prepared_list(self, root: str, split: str) -> str:
        """The id list of ``split`` in a prepared folder of this task's layout."""
        return f"{root}/ImageSets/Segmentation/{split}.txt"

    def split_options(self) -> dict:
        return {}

    def pad_options(self, cfg: dict) -> dict:
        """Zero-padded to at least the training crop, as in training (evaluation, export); where
        the experiment sets a sliding window, evaluated (and exported to predict) in its windows."""
        window = cfg.get("sliding_window") or {}
        return {"pad_to": cfg["crop_size"], "window": window.get("size"), "stride": window.get("stride")}

    def augment_fields(self, cfg: dict) -> dict:
        return {"crop_size": cfg["crop_size"], "scale_range": cfg["scale_range"]}

    def iteration_fields(self, cfg: dict, loss_variant: str) -> dict:
        return {}

    def labeled_pool(self, train_size: int, valtiny: int) -> int:
        """Train images the labeled set is drawn from (valtiny comes from val)."""
        return train_size

    def models(self, method) -> tuple[str, ...]:
        return ("A", "B") if method.mutual else ("A",)

    def iteration_init(self, exp, run, i: int, m: str, seed: int) -> dict:
        """Iteration ``i`` fine-tunes the model of iteration ``i`` - 1."""
        return {"from": run.model_path(i - 1, m)}

    def final_candidates(self, run) -> dict[str, str]:
        """The last iteration's models, named as ``selected`` of dmt.evaluation.final."""
        return {f"{m}{run.iterations}": run.model_path(run.iterations, m) for m in run.models}

    def pseudo_fields(self, cfg: dict) -> dict:
        window = cfg.get("sliding_window") or {}
        return {"pad_to": list(cfg["crop_size"]), "classwise": False, "window": window.get("size"),
                "stride": window.get("stride")}


class ClassificationTask(Task):
    name, metric, final_metric, scored_on = "classification", "accuracy", "acc", "test"
    metric_label, labeled_unit = "test accuracy", "labeled image"
    selection_metric, selection_label = "fine_grained_accuracy", "valtiny fine-grained accuracy"
    kept_meaning = "share of the kept images with the label"
    element, kept_key = "image", "kept_per_class"
    OPS = {
        "build_dataset": "dmt.data.datasets:classification_dataset",
        "write_pseudo_labels": "dmt.pseudo.job:image_labels",
        "evaluate_model": "dmt.evaluation.job:classification_scores",
        "valtiny_score": "dmt.training.job:valtiny_accuracy",
        "select_final": "dmt.evaluation.final:select_final_classification",
        "export_fields": "dmt.deliver.export:classification_fields",
        "predict_images": "dmt.deliver.predict:predict_classes",
        "pseudo_store": "dmt.pseudo.images:ImagePseudoLabels",
        "pseudo_set": "dmt.report.job:classification_set",
        "plot_examples": "dmt.report.job:classification_example_figure",
        "example_inputs": "dmt.report.plan:classification_example_inputs",
        "example_options": "dmt.report.plan:classification_example_options",
    }

    def pseudo_store(self, path, ids):
        return self.op("pseudo_store")(path, unlabeled_ids=ids)

    def prediction_files(self, items, confidence: bool, overlay: bool) -> list[str]:
        return ["predictions.csv"]

    def check_predict_options(self, confidence: bool, overlay: bool, pad_to, window=None) -> None:
        if confidence or overlay or pad_to is not None or window is not None:
            raise DMTError("--confidence, --overlay, --pad-to and --window are for segmentation models; this one "
                           "classifies whole images (predictions.csv holds each one's probability)")

    def predict_images(self, model, meta, items, sizes, out, device, *, pad_to, confidence, overlay, window=None,
                       **common):
        return self.op("predict_images")(model, meta, items, out, device, **common)

    # -- results
    def baseline_label(self, final: dict) -> str:
        return "iter0"

    def baseline_score(self, final: dict) -> float:
        return 100 * final["baseline_accuracy"]

    def iteration_scores(self, final: dict) -> list[tuple[str, int, float]]:
        return [("A", h["iteration"], 100 * h["test_accuracy"]) for h in final["history"]]

    def curve(self, final: dict) -> tuple[dict, tuple[str, int], float, str]:
        values = [h["test_accuracy"] for h in final["history"]]
        return {"A": values}, ("A", int(final["selected"].removeprefix("iter"))), final["baseline_accuracy"], "A0"

    # -- the plan's hooks
    def prepared_list(self, root: str, split: str) -> str:
        return f"{root}/lists/{split}.txt"

    def split_options(self) -> dict:
        return {"valtiny_from_train": True}  # the test set is never used for selection

    def pad_options(self, cfg: dict) -> dict:
        return {}  # whole images at the prepared size

    def augment_fields(self, cfg: dict) -> dict:
        k = cfg["classification"]
        return {"schedule": k["schedule"], "mixup_alpha": k["mixup_alpha"], "ema_decay": k["ema_decay"]}

    def iteration_fields(self, cfg: dict, loss_variant: str) -> dict:
        return {"gamma_ramp": cfg["classification"]["gamma_ramp"] and loss_variant != "ce"}

    def labeled_pool(self, train_size: int, valtiny: int) -> int:
        """Classification draws valtiny from train first."""
        return train_size - valtiny

    def models(self, method) -> tuple[str, ...]:
        return ("A",)  # Algorithm 1: the "mutual" models are consecutive iterations

    def iteration_init(self, exp, run, i: int, m: str, seed: int) -> dict:
        """Algorithm 1: F_i is re-initialised from scratch with a previously unused seed."""
        return exp.fresh_init(seed, "scratch")

    def final_candidates(self, run) -> dict[str, str]:
        """Iterations 1..N of the one model."""
        return {f"iter{i}": run.model_path(i, "A") for i in range(1, run.iterations + 1)}

    def pseudo_fields(self, cfg: dict) -> dict:
        return {"pad_to": [0, 0], "classwise": cfg["classification"]["selection"] == "classwise"}


TASKS: dict[str, Task] = {t.name: t for t in (SegmentationTask(), ClassificationTask())}


def task_of(what) -> Task:
    """The Task of a task name, or of anything with a ``task`` name (a DatasetInfo, an experiment)."""
    name = what if isinstance(what, str) else what.task
    if name not in TASKS:
        raise DMTError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def recorded_task(result: dict, where) -> Task:
    """The Task a final JSON records (``task``); one without it is older than this dmt."""
    name = result.get("task") if isinstance(result, dict) else None
    if name not in TASKS:
        raise DMTError(f"{where} records no task (segmentation or classification): it was written by an "
                       f"older dmt; rerun the final rule that makes it (snakemake --forcerun {where})")
    return TASKS[name]
