"""The experiment plan: from the validated configuration, every job of every run and what it depends on.

Plain Python with no Snakemake import: the workflow's rules ask it for paths, specs and parameters,
and the tests check its formulas directly (``tests/test_plan.py``).

Vocabulary
- An *experiment* (``config["experiments"][name]``, merged over ``defaults``) is a data set, a split
  and hyper-parameters. Its split and its iteration-0 models (the baselines) belong to it:
  ``resources/splits/{exp}/``, ``results/{exp}/iter0/{A,B}/model.pt``, ``results/{exp}/oracle/``.
- A *method* says how the unlabeled images are used (``METHODS``): two models labelling each other
  (DMT and its loss variants), one model labelling itself (DST, CBST; Algorithm 1 for
  classification, whose "mutual" models are consecutive iterations), or online self-training.
- A *run* is an experiment trained with a method. The experiment's own ``method`` is the run named
  like the experiment (``results/{exp}/...``); the other methods of a comparison are runs named
  ``{exp}/{method}`` (``results/{exp}/{method}/...``). Every run of an experiment starts from the
  same baselines: the plan points the first iteration of each at ``results/{exp}/iter0/``.

Paths are a contract (users and tests target them):
    results/{run}/iter{i}/{m}/spec.json model.pt model.json metrics.json   i >= 1
    results/{run}/iter{i}/pseudo_{t}.spec.json pseudo_{t}.h5 pseudo_{t}.json   teacher t of i - 1
    results/{run}/final_miou.json | final_acc.json
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from fractions import Fraction

from dmt.data.registry import RAW_INPUTS, dataset_info, inspect_function
from dmt.data.splits import labeled_count
from dmt.errors import DMTError
from dmt.jobs import PseudoJob, TrainJob
from dmt.methods import METHODS, ROWS, Method
from dmt.tasks import task_of

COCO_WEIGHTS = "resources/weights/deeplab_v2_coco.pt"


def items(files: dict[str, str]) -> list[str]:
    """``KEY=FILE`` arguments of a command, one argv item each (the rules quote every item)."""
    return [f"{key}={path}" for key, path in files.items()]


class PlanError(ValueError):
    """A configuration that cannot be run, or a target that does not exist; the message says why."""


def merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, nested dicts merged key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def baseline_epochs(ratio: Fraction, oracle_epochs: float) -> int:
    """Paper Appendix B: a baseline on a fraction ``ratio`` of the labels trains
    sqrt(1 / ratio) times the fully supervised (oracle) epochs."""
    return max(1, round(math.sqrt(1 / ratio) * oracle_epochs))


def finetune_seed(iteration: int, model_seed: int) -> int:
    """A fresh data order (and, for classification, a previously unused init) per iteration."""
    return 1000 * iteration + model_seed


class Experiment:
    def __init__(self, name: str, cfg: dict, config: dict, inspected: dict | None = None):
        self.name, self.cfg, self._config = name, cfg, config
        # Raw-input summaries (``raw_summary``), shared by the experiments of one plan.
        self._inspected = {} if inspected is None else inspected
        self.dataset = cfg["dataset"]
        self.info = dataset_info(self.dataset)
        self.task = self.info.task
        self.strategy = task_of(self.info)  # what differs between segmentation and classification
        self.method = METHODS[cfg["method"]]
        self.iterations = len(cfg["dmt"]["alphas"])

    # -- data and split
    @property
    def data_root(self) -> str:
        """The prepared data set. One made from the user's own files (a folder data set) is
        addressed by their fingerprint, ``resources/data/folder-<16 hex>``: a failed preparation
        of an edited folder never removes the one trained models depend on, and putting the
        folder back as it was points the plan at that one again (nothing reruns)."""
        if self.info.inspect and self.has_raw_inputs():
            return f"resources/data/{self.dataset}-{self.raw_summary()['fingerprint'].removeprefix('sha256:')}"
        return f"resources/data/{self.dataset}"

    def split_file(self, kind: str) -> str:
        return f"resources/splits/{self.name}/{kind}.txt"

    def has_raw_inputs(self) -> bool:
        return all(self._config.get(k) for k in self.needs_raw())

    def raw_summary(self) -> dict | None:
        """What the data set's raw files say before preparation (``inspect`` of its registry entry:
        class names, list sizes, a fingerprint of the files); None for data sets without one. A
        broken folder stops the plan here, before any job, naming the file."""
        if not self.info.inspect:
            return None
        where = f"experiment {self.name} (dataset: {self.dataset})"
        kwargs = {k: raw_input(self._config, k, where) for k in self.info.raw_inputs}
        key = (self.dataset, *sorted(kwargs.items()))
        if key not in self._inspected:
            try:
                self._inspected[key] = inspect_function(self.dataset)(**kwargs)
            except DMTError as e:
                raise PlanError(f"{where}: {e}") from None
        return self._inspected[key]

    @property
    def train_size(self) -> int | None:
        """Images in the train list the split partitions, where known before preparation."""
        if "n_train" in self.info.options:
            return self._config["digits"]["n_train"]
        if self.info.inspect:
            return self.raw_summary()["train"]
        return self.info.train_size

    def labeled_list(self) -> str:
        """The fixed labeled list: the experiment's ``labeled_list``, else the data set's own
        (``data:labeled`` of a folder data set), else '' (the split draws the labeled ids)."""
        return self.fixed_list("labeled_list") or ""

    def fixed_labeled_count(self) -> int | None:
        """Size of the fixed labeled list where known before preparation (a file of the user's,
        or the data set's own list counted from its raw files)."""
        value = self.labeled_list()
        if self.info.labeled_split and value == f"data:{self.info.labeled_split}" and self.info.inspect:
            return self.raw_summary()[self.info.labeled_split]
        if value.startswith("published:"):
            from dmt.data.splits import read_published

            try:
                return len(read_published(value.removeprefix("published:")))
            except ValueError as e:
                raise PlanError(f"experiment {self.name}: labeled_list: {e}") from None
        if value and not value.startswith("data:"):
            from dmt.data.voc import read_id_file

            try:
                return len(read_id_file(value))
            except DMTError as e:
                raise PlanError(f"experiment {self.name}: labeled_list: {e}") from None
        return None

    def labeled_ratio(self) -> Fraction:
        labeled = self.cfg["labeled"]
        if labeled == "all":
            count = self.fixed_labeled_count()
            if count is None or self.train_size is None:
                raise PlanError(f"experiment {self.name}: labeled: all with labeled_list "
                                f"{self.labeled_list()}: its size is unknown before preparation; "
                                f"give labeled: <its number of ids>")
            return Fraction(count, self.train_size)
        if isinstance(labeled, str):
            return Fraction(labeled)
        if self.train_size is None:
            raise PlanError(f"experiment {self.name}: data set {self.dataset} has no known size; "
                            f"give `labeled` as a ratio like '1/20'")
        return Fraction(labeled, self.train_size)

    def baseline_epochs(self) -> int:
        return baseline_epochs(self.labeled_ratio(), self.cfg["baseline"]["oracle_epochs"])

    def fixed_list(self, key: str) -> str | None:
        """``labeled_list`` / ``valtiny_list`` with ``{split_seed}`` filled in: the published list
        k of the paper for split seed k, e.g. ``published:dst-cbc/voc/20_labeled_{split_seed}.txt``.
        A data set with its own labeled list (a folder's ``labeled``) uses it by default."""
        value = self.cfg.get(key)
        if not value and key == "labeled_list" and self.info.labeled_split:
            value = f"data:{self.info.labeled_split}"
        return value.format(split_seed=self.cfg["split_seed"]) if value else None

    def list_files(self) -> list[str]:
        """The fixed lists that are files (inputs: editing one reruns the split); ``data:NAME``
        lists live in the prepared data."""
        from dmt.data.splits import published_path

        files = []
        for key in ("labeled_list", "valtiny_list"):
            value = self.fixed_list(key)
            if value and value.startswith("published:"):
                files.append(str(published_path(value.removeprefix("published:"))))
            elif value and not value.startswith("data:"):
                files.append(value)
        return files

    def split_args(self) -> list[str]:
        """Argv of `python -m dmt split` for this experiment (the rule quotes every item)."""
        c = self.cfg
        args = ["--labeled", str(c["labeled"]), "--valtiny", str(c["valtiny"]), "--seed", str(c["split_seed"]),
                "--train-split", self.info.train_split, "--dataset", self.dataset]
        for key in ("labeled_list", "valtiny_list"):
            if self.fixed_list(key):
                args += [f"--{key.replace('_', '-')}", self.fixed_list(key)]
        return args + self.strategy.split_args()

    def evaluate_args(self) -> list[str]:
        """Argv of `python -m dmt evaluate` that changes its result."""
        args = ["--batch-size", str(self.cfg["inference_batch_size"])]
        args += self.strategy.pad_args(self.cfg)
        if not self.cfg["amp"]:
            args.append("--no-amp")
        return args

    def labeled_for(self, m: str) -> str:
        """Baseline training set of model ``m``: the labeled split, or its DMS sub-subset."""
        return f"results/{self.name}/dms/{m}.txt" if self.cfg["init"] == "dms" else self.split_file("labeled")

    # -- models
    def model_seed(self, m: str) -> int:
        return self.cfg["model_seeds"]["AB".index(m)]

    def baseline_path(self, m: str) -> str:
        return f"results/{self.name}/iter0/{m}/model.pt"

    def weights(self, m: str) -> str:
        """The init of model ``m`` as `dmt train` takes it: coco -> the converted file, imagenet ->
        the user's state dict, scratch and explicit KIND:/path as they are."""
        weights = self.cfg["weights"]["AB".index(m)]
        if weights == "coco":
            return f"coco:{COCO_WEIGHTS}"
        if weights == "imagenet":
            where = f"experiment {self.name} (weights: imagenet)"
            return f"imagenet:{raw_input(self._config, 'imagenet_checkpoint', where)}"
        return weights

    def predict_images(self) -> str:
        """The experiment's ``predict_images`` folder (or list file), checked to exist."""
        path = self.cfg.get("predict_images")
        if not path:
            raise PlanError(f"experiment {self.name} has no predict_images: set it to a folder of images "
                            f"(or a file listing them) to predict them with its final model")
        if not os.path.exists(path):
            raise PlanError(f"predict_images: {path} (experiment {self.name}) does not exist")
        return path

    def needs_raw(self) -> list[str]:
        """Config keys of the local files this experiment reads."""
        checkpoints = [f"{w}_checkpoint" for w in self.cfg["weights"] if w in ("coco", "imagenet")]
        return list(self.info.raw_inputs) + checkpoints

    def hyper(self, stage: str, seed: int, loss_variant: str = "ce") -> dict:
        """``TrainSpec`` fields of a baseline (``stage="baseline"``), the oracle, or an iteration."""
        c = self.cfg
        out = {"optimizer": c["optimizer"], "momentum": c["momentum"], "weight_decay": c["weight_decay"],
               "head_lr_mult": c["head_lr_mult"], "amp": c["amp"], "seed": seed}
        out.update(self.strategy.augment_fields(c))
        if stage in ("baseline", "oracle"):
            b = c["baseline"]
            epochs = self.baseline_epochs() if stage == "baseline" else round(b["oracle_epochs"])
            out.update(epochs=epochs, lr=b["lr"], batch_size=b["batch_size"], loss_variant="ce")
            return out
        d = c["dmt"]
        out.update(epochs=d["epochs"], lr=d["lr"], batch_size=d["batch_size"],
                   pseudo_per_batch=d["pseudo_per_batch"], loss_variant=loss_variant)
        if stage == "online":  # one run as long as all iterations together (Section 5.4)
            out.update(epochs=d["epochs"] * self.iterations, online_threshold=d["online_threshold"])
        if loss_variant != "ce":  # plain CE has no gammas: changing them must not rerun it
            out.update(gamma1=d["gamma1"], gamma2=d["gamma2"])
        out.update(self.strategy.iteration_fields(c, loss_variant))
        return out

    def fresh_init(self, seed: int, weights: str) -> dict:
        """A new model: name, seed, init weights, and the architecture options it takes."""
        from dmt.models import OPTIONS

        init = {"model": self.cfg["model"], "seed": seed, "weights": weights}
        options = {key: self.cfg[key] for key in OPTIONS.get(self.cfg["model"], {})}
        return {**init, "options": options} if options else init

    def baseline_job(self, m: str) -> TrainJob:
        seed = self.model_seed(m)
        return TrainJob(dataset=self.dataset, data=self.data_root, labeled=[self.labeled_for(m)],
                        valtiny=self.split_file("valtiny"), hyper=self.hyper("baseline", seed),
                        init=self.fresh_init(seed, self.weights(m)))

    def oracle_job(self) -> TrainJob:
        """Fully supervised reference: every train id labeled (labeled + unlabeled lists)."""
        if not self.info.unlabeled_masks:
            raise PlanError(f"results/{self.name}/oracle is not part of experiment {self.name}: data set "
                            f"{self.dataset} has no masks for its unlabeled images, so there is no fully "
                            f"supervised reference")
        seed = self.model_seed("A")
        return TrainJob(dataset=self.dataset, data=self.data_root,
                        labeled=[self.split_file("labeled"), self.split_file("unlabeled")],
                        valtiny=self.split_file("valtiny"), hyper=self.hyper("oracle", seed),
                        init=self.fresh_init(seed, self.weights("A")))

    # -- checks that need no data
    def validate(self) -> None:
        c, where = self.cfg, f"experiment {self.name}"
        if self.task not in self.method.tasks:
            ok = [n for n, m in METHODS.items() if self.task in m.tasks]
            raise PlanError(f"{where}: method {self.method.name} does not apply to {self.task} "
                            f"(data set {self.dataset}); use one of {', '.join(ok)}")
        labeled = c["labeled"]
        if labeled == "all" and not self.labeled_list():
            raise PlanError(f"{where}: labeled: all takes every id of a fixed labeled list, and there is "
                            f"none: set labeled_list (data:NAME or a file), or labeled to a count or ratio")
        if self.info.labeled_split and isinstance(labeled, str) and labeled != "all":
            raise PlanError(f"{where}: data set {self.dataset} has its own labeled images (those with "
                            f"masks): labeled must be all (or their number), not the ratio {labeled!r}")
        if isinstance(labeled, str) and labeled != "all":
            ratio = Fraction(labeled)
            if not 0 < ratio < 1:
                raise PlanError(f"{where}: labeled: {labeled!r} must be a ratio between 0 and 1 "
                                f"(exclusive): some train images must stay unlabeled")
        self._check_published_lists()
        for weights in c["weights"]:
            kind, _, path = weights.partition(":")
            if path and not os.path.isfile(path):
                raise PlanError(f"{where}: weights {weights!r}: {path} is not a file; give a local "
                                f"{kind} weights file (nothing is downloaded)")
        if self.info.inspect and self.has_raw_inputs():
            # The user's files, read now: a bad classes.yaml or a missing mask stops the run before
            # any job; a count that is not the labeled list's is caught before the split.
            count = self.fixed_labeled_count()
            if isinstance(labeled, int) and count is not None and labeled != count:
                raise PlanError(f"{where}: labeled: {labeled}, but the labeled list {self.labeled_list()} "
                                f"has {count} ids; use labeled: all")
        size = None if self.labeled_list() else self.train_size  # a fixed list is checked by the split
        if size is not None:
            pool = self.strategy.labeled_pool(size, c["valtiny"])
            try:
                count = labeled_count(pool, labeled)
            except ValueError as e:
                raise PlanError(f"{where}: labeled: {labeled!r} does not fit data set {self.dataset} "
                                f"({pool} train images): {e}") from None
            if count >= pool:
                raise PlanError(f"{where}: labeled: {labeled!r} labels all {pool} train images of "
                                f"{self.dataset}; DMT needs unlabeled ones")
        d = c["dmt"]
        if d["pseudo_per_batch"] >= d["batch_size"]:
            raise PlanError(f"{where}: dmt.pseudo_per_batch ({d['pseudo_per_batch']}) must leave at "
                            f"least one labeled image in dmt.batch_size ({d['batch_size']})")
        if len(self.strategy.models(self.method)) == 2 and c["init"] == "seeds" \
                and len(set(c["model_seeds"])) == 1 and c["weights"][0] == c["weights"][1]:
            raise PlanError(f"{where}: models A and B would be identical (same weights and model_seeds "
                            f"with init: seeds); give them different seeds or weights, or init: dms")


    def _check_published_lists(self) -> None:
        """A published list must exist and hold as many ids as the experiment asks for."""
        from dmt.data.splits import published_path

        for key, count in (("labeled_list", None), ("valtiny_list", self.cfg["valtiny"])):
            value = self.fixed_list(key)
            if not value or not value.startswith("published:"):
                continue
            try:
                n = len(published_path(value.removeprefix("published:")).read_text().split())
            except ValueError as e:
                raise PlanError(f"experiment {self.name}: {key}: {e}") from None
            if count is None and self.train_size is not None:
                count = labeled_count(self.train_size, self.cfg["labeled"])
            if count is not None and n != count:
                raise PlanError(f"experiment {self.name}: {key} {value} has {n} ids, but the "
                                f"experiment asks for {count} ({key.split('_')[0]}: "
                                f"{self.cfg[key.split('_')[0]]})")


class Run:
    """An experiment trained with one method."""

    def __init__(self, name: str, exp: Experiment, method: Method):
        self.name, self.exp, self.method = name, exp, method
        self.task, self.strategy = exp.task, exp.strategy
        self.models = exp.strategy.models(method)
        self.iterations = 1 if method.online else exp.iterations
        self.metric = exp.strategy.final_metric

    @property
    def is_base(self) -> bool:
        return self.name == self.exp.name

    # -- paths
    def model_path(self, i: int, m: str) -> str:
        return self.exp.baseline_path(m) if i == 0 else f"results/{self.name}/iter{i}/{m}/model.pt"

    def metrics_path(self, i: int, m: str) -> str:
        return self.model_path(i, m).replace("/model.pt", "/metrics.json")

    def pseudo_path(self, i: int, t: str) -> str:
        return f"results/{self.name}/iter{i}/pseudo_{t}.h5"

    @property
    def final_path(self) -> str:
        return f"results/{self.name}/final_{self.metric}.json"

    @property
    def final_model_path(self) -> str:
        return f"results/{self.name}/final_model.pt"

    @property
    def predictions_path(self) -> str:
        return f"results/{self.name}/predictions"

    def final_candidates(self) -> dict[str, str]:
        """The models `final` may select, by the name it gives them (``selected`` of
        dmt.evaluation.final): the last iteration's A / B (segmentation), iterations 1..N (classification)."""
        return self.strategy.final_candidates(self)

    def export_args(self) -> list[str]:
        """Argv of `python -m dmt export`: the candidates and what the exported model records."""
        e = self.exp
        args = ["--dataset", e.dataset, "--experiment", e.name, "--run", self.name,
                "--method", self.method.name]
        for label, path in self.final_candidates().items():
            args += ["--candidate", f"{label}={path}"]
        return args + self.strategy.pad_args(e.cfg)  # predictions pad as pseudo-labelling does

    def teacher(self, m: str) -> str:
        """The model whose previous iteration labels for student ``m``."""
        return {"A": "B", "B": "A"}[m] if len(self.models) == 2 else m

    def deliverables(self) -> list[str]:
        """What the run is for (the workflow's default targets): its final summary, its exported
        model and, where the experiment sets predict_images, the predictions."""
        out = [self.final_path, self.final_model_path]
        return out + [self.predictions_path] if self.exp.cfg.get("predict_images") else out

    def targets(self) -> list[str]:
        out = self.deliverables()
        last = self.iterations
        out += [f"results/{self.name}/iter{{1..{last}}}/{m}/model.pt" for m in self.models]
        if not self.method.online:
            out += [f"results/{self.name}/iter{{1..{last}}}/pseudo_{self.teacher(m)}.h5" for m in self.models]
        if self.is_base:
            out += [self.exp.baseline_path(m) for m in self.models]
            if self.exp.info.unlabeled_masks:
                out.append(f"results/{self.name}/oracle/metrics.json")
        return out

    def _no_such(self, what: str) -> PlanError:
        return PlanError(f"{what} is not part of run {self.name} ({self.task}, method "
                         f"{self.method.name}, models {'/'.join(self.models)}, iterations 1..{self.iterations}); "
                         f"its targets are: {', '.join(self.targets())}")

    def check(self, i: int, m: str, what: str) -> None:
        if m not in self.models or not 0 <= i <= self.iterations or (i == 0 and not self.is_base):
            raise self._no_such(what)

    def check_final(self, metric: str) -> None:
        if metric != self.metric:
            raise self._no_such(f"results/{self.name}/final_{metric}.json")

    # -- jobs
    def train_job(self, i: int, m: str) -> TrainJob:
        """Iteration ``i`` >= 1 of student ``m``: its teacher's pseudo labels of iteration ``i``."""
        self.check(i, m, f"results/{self.name}/iter{i}/{m}/model.pt")
        if i == 0:
            raise self._no_such(f"results/{self.name}/iter0/{m}/model.pt")  # the experiment's baseline
        e = self.exp
        seed = finetune_seed(i, e.model_seed(m))
        if self.method.online:
            return TrainJob(dataset=e.dataset, data=e.data_root, labeled=[e.split_file("labeled")],
                            valtiny=e.split_file("valtiny"), hyper=e.hyper("online", seed),
                            init={"from": self.model_path(0, m)}, unlabeled=e.split_file("unlabeled"))
        hyper = e.hyper("dmt", seed, self.method.loss_variant)
        init = self.strategy.iteration_init(e, self, i, m, seed)
        return TrainJob(dataset=e.dataset, data=e.data_root, labeled=[e.split_file("labeled")],
                        valtiny=e.split_file("valtiny"), hyper=hyper, init=init,
                        pseudo=self.pseudo_path(i, self.teacher(m)), unlabeled=e.split_file("unlabeled"))

    def pseudo_job(self, i: int, t: str) -> PseudoJob:
        """Teacher ``t`` of iteration ``i`` - 1 labels the unlabeled set at alpha_i."""
        students = [m for m in self.models if self.teacher(m) == t]
        if not students or not 1 <= i <= self.iterations or self.method.online:
            raise self._no_such(self.pseudo_path(i, t))
        e = self.exp
        return PseudoJob(dataset=e.dataset, data=e.data_root, teacher=self.model_path(i - 1, t),
                         unlabeled=e.split_file("unlabeled"), alpha=e.cfg["dmt"]["alphas"][i - 1],
                         batch_size=e.cfg["inference_batch_size"], **e.strategy.pseudo_fields(e.cfg),
                         amp=e.cfg["amp"], with_truth=e.info.unlabeled_masks)

    def final_metrics(self) -> dict[str, str]:
        """``"{i}:{m}"`` -> metrics file of every model of the run, iteration 0 included."""
        return {f"{i}:{m}": self.metrics_path(i, m) for i in range(self.iterations + 1) for m in self.models}


def raw_input(config: dict, key: str, needed_by: str) -> str:
    """A local path from config (checked to exist), or a clear error naming the key to set."""
    path = config.get(key)
    if not path:
        raise PlanError(f"{needed_by} needs {RAW_INPUTS[key]}: set it with --config {key}=/path "
                        f"(or `{key}:` in config/config.yaml)")
    if not os.path.exists(path):
        raise PlanError(f"{key}={path} (needed by {needed_by}) does not exist; expected {RAW_INPUTS[key]}")
    return path


@dataclass(frozen=True)
class Comparison:
    """Methods side by side on the same splits (one experiment per split seed), every method of
    an experiment starting from that experiment's baselines: ``results/tables/{name}.csv``."""

    name: str
    experiments: tuple[str, ...]
    methods: tuple[str, ...]  # names of METHODS, and the rows baseline / oracle

    def run_name(self, exp: Experiment, method: str) -> str:
        """The experiment's own method is the experiment's run; any other is ``{exp}/{method}``."""
        return exp.name if method == exp.method.name else f"{exp.name}/{method}"

    @property
    def oracle_experiment(self) -> str:
        """The oracle (every train image labeled) does not depend on the split: trained once, for
        the first experiment."""
        return self.experiments[0]


class Plan:
    """Every experiment, run and comparison of a (schema-validated) configuration."""

    def __init__(self, config: dict):
        self.config = config
        inspected: dict = {}
        self.experiments = {name: Experiment(name, merge(config["defaults"], exp or {}), config, inspected)
                            for name, exp in config["experiments"].items()}
        self.runs: dict[str, Run] = {}
        for exp in self.experiments.values():
            exp.validate()
            self.runs[exp.name] = Run(exp.name, exp, exp.method)
        self.comparisons: dict[str, Comparison] = {}
        for name, c in (config.get("comparisons") or {}).items():
            comparison = Comparison(name, tuple(c["experiments"]), tuple(c["methods"]))
            self._add_comparison(comparison)

    def _add_comparison(self, c: Comparison) -> None:
        where = f"comparison {c.name}"
        unknown = [e for e in c.experiments if e not in self.experiments]
        if unknown:
            raise PlanError(f"{where}: no experiment {', '.join(unknown)}; experiments: "
                            f"{', '.join(sorted(self.experiments))}")
        tasks = {self.experiments[e].task for e in c.experiments}
        if len(tasks) > 1:
            raise PlanError(f"{where} mixes {' and '.join(sorted(tasks))} experiments; their scores "
                            f"are not comparable")
        for method in c.methods:
            if method in ROWS:
                continue
            if method not in METHODS:
                raise PlanError(f"{where}: unknown method {method!r}; methods: "
                                f"{', '.join([*METHODS, *ROWS])}")
            for name in c.experiments:
                exp = self.experiments[name]
                if exp.task not in METHODS[method].tasks:
                    raise PlanError(f"{where}: method {method} does not apply to {exp.task} "
                                    f"(experiment {name})")
                run = c.run_name(exp, method)
                self.runs.setdefault(run, Run(run, exp, METHODS[method]))
        self.comparisons[c.name] = c

    def comparison(self, name: str) -> Comparison:
        if name not in self.comparisons:
            raise PlanError(f"no comparison {name!r}; comparisons: {', '.join(sorted(self.comparisons)) or 'none'}"
                            f" (config/config.yaml `comparisons:`)")
        return self.comparisons[name]

    def comparison_task(self, name: str) -> str:
        """The task of a comparison's experiments (one: _add_comparison checks it)."""
        return self.experiments[self.comparison(name).experiments[0]].task

    def comparison_runs(self, name: str, exp: str) -> list[str]:
        """The runs of a comparison on one of its experiments, in its order of methods."""
        c = self.comparison(name)
        if exp not in c.experiments:
            raise PlanError(f"comparison {name} has no experiment {exp}; its experiments: "
                            f"{', '.join(c.experiments)}")
        e = self.experiments[exp]
        return [c.run_name(e, m) for m in c.methods if m not in ROWS]

    def comparison_inputs(self, name: str) -> dict[str, str]:
        """What the tables of a comparison read: ``"{method}:{exp}"`` -> the run's final JSON (the
        baseline row reads the experiment's own run), ``"oracle:{exp}"`` -> the oracle's metrics."""
        c = self.comparison(name)
        out = {}
        for method in c.methods:
            if method == "oracle":
                out[f"oracle:{c.oracle_experiment}"] = f"results/{c.oracle_experiment}/oracle/metrics.json"
                continue
            for e in c.experiments:
                exp = self.experiments[e]
                run = exp.name if method == "baseline" else c.run_name(exp, method)
                out[f"{method}:{e}"] = self.runs[run].final_path
        return out

    def run(self, name: str) -> Run:
        if name not in self.runs:
            raise PlanError(f"no run {name!r}; runs: {', '.join(sorted(self.runs))}")
        return self.runs[name]

    def unknown_run_message(self, name: str) -> str:
        """Why ``results/{name}/...`` is no target: the run it names is not configured."""
        exp = name.split("/")[0]
        if exp in self.experiments:
            others = sorted(r for r in self.runs if r.startswith(f"{exp}/"))
            return (f"experiment {exp} has no run {name!r} (its runs: {', '.join([exp, *others])}; "
                    f"another method's run is made by listing it in a comparison)")
        return (f"no run {name!r} in this configuration; runs: {', '.join(sorted(self.runs))} "
                f"(config/config.yaml `experiments:`)")

    def experiment(self, name: str) -> Experiment:
        if name not in self.experiments:
            raise PlanError(f"no experiment {name!r}; experiments: {', '.join(sorted(self.experiments))}")
        return self.experiments[name]

    def baseline_models(self, exp: str) -> tuple[str, ...]:
        """The iteration-0 models an experiment trains: every model any of its runs starts from."""
        needed = {m for run in self.runs.values() if run.exp.name == exp for m in run.models}
        return tuple(sorted(needed))

    def check_baseline(self, exp: str, m: str) -> None:
        if m not in self.baseline_models(exp):
            raise PlanError(f"results/{exp}/iter0/{m}/model.pt is not part of experiment {exp}: its "
                            f"runs use models {'/'.join(self.baseline_models(exp))}")

    def locate(self, job: str) -> tuple[Experiment, Run | None, int | None, str | None]:
        """A model folder under results/ (``{run}/iter{i}/{m}`` or ``{exp}/oracle``) ->
        (experiment, run, iteration, model); run, iteration and model are None for the oracle."""
        if job.endswith("/oracle"):
            return self.experiment(job[: -len("/oracle")]), None, None, None
        head, it, m = job.rsplit("/", 2)
        i = int(it.removeprefix("iter"))
        if i == 0:
            self.experiment(head)
            self.check_baseline(head, m)
            return self.experiments[head], self.runs[head], 0, m
        run = self.run(head)
        run.check(i, m, f"results/{job}/model.pt")
        return run.exp, run, i, m

    def train_job(self, job: str) -> TrainJob:
        """The spec of the training that makes ``results/{job}/model.pt``."""
        exp, run, i, m = self.locate(job)
        if run is None:
            return exp.oracle_job()
        return exp.baseline_job(m) if i == 0 else run.train_job(i, m)

    def final_metrics(self, run: str, metric: str) -> dict[str, str]:
        """The metrics files `final` reads for ``results/{run}/final_{metric}.json``."""
        r = self.run(run)
        r.check_final(metric)
        return r.final_metrics()

    def runs_json(self, runs) -> str:
        """JSON for `dmt summary`: each run's final result, its experiment's facts, and the
        experiment's oracle metrics where they exist (an oracle is trained only on request)."""
        import json

        out = {}
        for run in runs:
            oracle = f"results/{run.exp.name}/oracle/metrics.json"
            out[run.name] = {"final": run.final_path, "experiment": run.exp.name, "dataset": run.exp.dataset,
                             "labeled": str(run.exp.cfg["labeled"]), "method": run.method.name,
                             "oracle": oracle if os.path.exists(oracle) else None}
        return json.dumps(out, sort_keys=True)

    def with_results(self) -> list[Run]:
        """The runs whose final result exists (those that were run)."""
        return [run for run in self.runs.values() if os.path.exists(run.final_path)]

    def experiment_runs(self, exp: str) -> list[Run]:
        """An experiment's own run, and the other methods' runs of it that were run."""
        base = self.run(exp)
        return [base] + [r for r in self.with_results() if r.exp.name == exp and r is not base]

    @staticmethod
    def runs_inputs(runs_json: str) -> list[str]:
        import json

        runs = json.loads(runs_json).values()
        return sorted({p for r in runs for p in (r["final"], r["oracle"]) if p})

    def has_raw_inputs(self, exp: str) -> bool:
        return self.experiment(exp).has_raw_inputs()

    def raw_fingerprint(self, dataset: str) -> str:
        """For data sets the plan inspects (the user's folder): the digest of their raw files'
        names, sizes and times ('' for the others)."""
        users = [e for e in self.experiments.values() if e.dataset == dataset and e.info.inspect]
        return users[0].raw_summary()["fingerprint"] if users else ""

    def prepared_dataset(self, prepared: str) -> str:
        """The data set of ``resources/data/{prepared}`` (``digits``, ``folder-<fingerprint>``)."""
        dataset = prepared.split("-")[0]
        users = [e for e in self.experiments.values() if e.dataset == dataset]
        if users and dataset_info(dataset).inspect and f"resources/data/{prepared}" != users[0].data_root:
            raise PlanError(f"resources/data/{prepared} was prepared from other files than "
                            f"{dataset}_root holds now (that is {users[0].data_root}); target that one")
        return dataset

    def prepare_args(self, prepared: str) -> list[str]:
        """Argv of `python -m dmt prepare DATASET` for ``resources/data/{prepared}``: the raw inputs
        (checked to exist) and options."""
        dataset = self.prepared_dataset(prepared)
        info = dataset_info(dataset)
        args = []
        for key in info.raw_inputs:
            args += [f"--{key.replace('_', '-')}", raw_input(self.config, key, f"data set {dataset}")]
        for key in info.options:
            args += [f"--{key.replace('_', '-')}", str(self.config["digits"][key])]
        if info.inspect:
            # The command checks that the folder still is what was planned (and addressed).
            args += ["--fingerprint", self.raw_fingerprint(dataset)]
        return args

    def datasets(self) -> list[str]:
        return sorted({e.dataset for e in self.experiments.values()})
