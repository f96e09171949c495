"""An experiment: a data set, a split and hyper-parameters, and the jobs that belong to it (its
split, its baselines, its oracle)."""

from __future__ import annotations

import math
import os
from fractions import Fraction

from dmt.data.registry import dataset_info, inspect_function
from dmt.data.splits import labeled_count
from dmt.errors import DMTError
from dmt.jobs import TrainJob
from dmt.methods import METHODS
from dmt.plan.inputs import COCO_WEIGHTS, PlanError, raw_input
from dmt.plan.pretraining import PREFIX as PRETRAINED
from dmt.plan.pretraining import Pretraining, common_hyper, named, ranks_of, training_options
from dmt.tasks import task_of


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

    def split_options(self) -> dict:
        """Options of `python -m dmt split` for this experiment (dmt.plan.argv.flags renders them)."""
        c = self.cfg
        return {"labeled": c["labeled"], "valtiny": c["valtiny"], "seed": c["split_seed"],
                "train_split": self.info.train_split, "dataset": self.dataset,
                "labeled_list": self.fixed_list("labeled_list"), "valtiny_list": self.fixed_list("valtiny_list"),
                **self.strategy.split_options()}

    def dms_options(self) -> dict:
        """Options of `python -m dmt dms`: the share of the labeled set each model gets, and the draw."""
        return {"alpha": self.cfg["dms_alpha"], "seed": self.cfg["split_seed"]}

    def training_options(self, folder: str) -> dict:
        """Options of `python -m dmt train` outside its spec, for the model in ``folder``: how
        fast it loads and how often it checkpoints and scores valtiny (none changes the weights)."""
        return training_options(self.cfg, folder)

    def inference_options(self) -> dict:
        """How a model of this experiment predicts (evaluation, the examples, predictions): batch
        and precision."""
        return {"batch_size": self.cfg["inference_batch_size"], "no_amp": not self.cfg["amp"]}

    def evaluate_options(self) -> dict:
        """Options of `python -m dmt evaluate` that change its result: where the task pads, to the
        training crop."""
        return {"dataset": self.dataset, **self.inference_options(), **self.strategy.pad_options(self.cfg)}

    def labeled_for(self, m: str) -> str:
        """Baseline training set of model ``m``: the labeled split, or its DMS sub-subset."""
        return f"results/{self.name}/dms/{m}.txt" if self.cfg["init"] == "dms" else self.split_file("labeled")

    # -- models
    def model_seeds(self) -> tuple[int, int]:
        """Init and data-order seeds of A and B. ``auto``: 2k+1 and 2k+2 for split seed k, so that
        every split draws new inits; fixed seeds repeat one init (a lucky or unlucky one) on every
        split, which a mean over split seeds then hides."""
        seeds = self.cfg["model_seeds"]
        if seeds == "auto":
            k = self.cfg["split_seed"]
            return 2 * k + 1, 2 * k + 2
        return seeds[0], seeds[1]

    def model_seed(self, m: str) -> int:
        return self.model_seeds()["AB".index(m)]

    def baseline_path(self, m: str) -> str:
        return f"results/{self.name}/iter0/{m}/model.pt"

    def weights(self, m: str) -> str:
        """The init of model ``m`` as `dmt train` takes it: deeplab_v2's coco -> the converted file;
        another bare kind (imagenet, torchvision_coco, timm) -> the user's file of its top-level key
        (``WEIGHT_KEYS``, checked to exist); scratch and explicit KIND:/path as they are."""
        from dmt.models.catalog import WEIGHT_KEYS

        weights = self.cfg["weights"]["AB".index(m)]
        if weights == "coco" and self.cfg["model"] == "deeplab_v2":
            return f"coco:{COCO_WEIGHTS}"
        if weights in WEIGHT_KEYS:
            where = f"experiment {self.name} (weights: {weights})"
            return f"{weights}:{raw_input(self._config, WEIGHT_KEYS[weights], where)}"
        if weights.startswith(PRETRAINED):
            return self.pretraining(m).weights()
        return weights

    def pretraining(self, m: str) -> Pretraining | None:
        """The pre-training model ``m`` starts from (``weights: pretrained:NAME``), if any."""
        weights = self.cfg["weights"]["AB".index(m)]
        if not weights.startswith(PRETRAINED):
            return None
        return named(self._config, weights, f"experiment {self.name} (model {m})")

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
        from dmt.models.catalog import WEIGHT_KEYS

        checkpoints = [WEIGHT_KEYS[w] for w in self.cfg["weights"] if w in WEIGHT_KEYS]
        return list(self.info.raw_inputs) + checkpoints

    def hyper(self, stage: str, seed: int, loss_variant: str = "ce") -> dict:
        """``TrainSpec`` fields of a baseline (``stage="baseline"``), the oracle, or an iteration."""
        c = self.cfg
        out = common_hyper(c, self.strategy, seed)
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
        from dmt.models.catalog import OPTIONS

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
        self._check_model()
        self._check_window()
        for m, weights in zip("AB", c["weights"], strict=True):
            kind, _, path = weights.partition(":")
            if weights.startswith(PRETRAINED):  # made by the pretrain rule: named, and fit for this model
                self.pretraining(m).check_student(f"{where} (model {m})", c["model"], self.dataset)
            elif path and not os.path.isfile(path):
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
                and len(set(self.model_seeds())) == 1 and c["weights"][0] == c["weights"][1]:
            raise PlanError(f"{where}: models A and B would be identical (same weights and model_seeds "
                            f"with init: seeds); give them different seeds or weights, or init: dms")
        self._check_ranks(where)

    def _check_ranks(self, where: str) -> None:
        try:
            ranks = ranks_of(self.cfg)
        except PlanError as e:
            raise PlanError(f"{where}: {e}") from None
        world = (ranks["ranks"] or 1) * (ranks["nodes"] or 1)
        batches = [self.cfg["baseline"]["batch_size"], self.cfg["dmt"]["batch_size"]]
        if world > 1 and min(batches) < world:
            raise PlanError(f"{where}: resources.train asks {world} ranks but a batch holds {min(batches)} "
                            "images: every rank takes a share of each batch; use fewer ranks")
        if world > 1 and self.task == "classification" and self.cfg["classification"]["mixup_alpha"]:
            raise PlanError(f"{where}: resources.train asks {world} ranks; classification's mixup mixes "
                            "images across the whole batch, which no rank holds: train it on one (ranks: 1)")


    def _check_model(self) -> None:
        """The model's options and the kinds of its inits, from the torch-free catalog (the files
        themselves: ``weights``; whether timm has an encoder: when it is built)."""
        from dmt.models.catalog import OPTIONS, TRANSFER, check_options
        from dmt.models.catalog import PRETRAINED as INITS

        c, where = self.cfg, f"experiment {self.name}"
        try:
            check_options(c["model"], {key: c.get(key) for key in OPTIONS.get(c["model"], {})})
        except ValueError as e:
            raise PlanError(f"{where}: {e}") from None
        accepted = INITS.get(c["model"], ())
        for weights in c["weights"]:
            kind = weights.partition(":")[0]
            if kind not in ("scratch", "pretrained", *TRANSFER, *accepted):
                raise PlanError(f"{where}: model {c['model']} takes no {kind} weights; weights: "
                                f"scratch{''.join(', ' + k for k in accepted)}, pretrained:NAME (or KIND:/path)")

    def _check_window(self) -> None:
        """A sliding window is segmentation's, and its stride must reach every pixel."""
        window = self.cfg.get("sliding_window")
        if not window:
            return
        where = f"experiment {self.name}: sliding_window"
        if self.task != "segmentation":
            raise PlanError(f"{where} is for segmentation; data set {self.dataset} is {self.task}: set it to null")
        from dmt.models.windows import Window

        try:
            Window(tuple(window["size"]), tuple(window["stride"]))
        except DMTError as e:
            raise PlanError(f"{where}: {e}") from None

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
