"""A pre-training: a model trained from scratch on another labeled data set, whose weights then
initialise experiments' models (``weights: pretrained:NAME``) as COCO or ImageNet files do.

A configured pre-training (``pretrainings: NAME:`` in the configuration) names its data set, model,
seed, schedule and what a student takes (``transfer``: ``model``, every weight, as the paper's COCO
init; ``backbone``, the backbone only, the head drawn from the student's seed, as its ImageNet
init). It trains once into ``resources/pretrained/NAME/model.pt``: every split seed and method of
every experiment that names it starts from that one file.
"""

from __future__ import annotations

from dmt.data.registry import dataset_info
from dmt.jobs import TrainJob
from dmt.plan.inputs import PlanError, merge
from dmt.tasks import task_of

FOLDER = "resources/pretrained"
PREFIX = "pretrained:"


def common_hyper(cfg: dict, strategy, seed: int) -> dict:
    """The ``TrainSpec`` fields every training of a configuration shares: optimiser, precision,
    seed and the task's augmentation."""
    return {"optimizer": cfg["optimizer"], "momentum": cfg["momentum"], "weight_decay": cfg["weight_decay"],
            "head_lr_mult": cfg["head_lr_mult"], "amp": cfg["amp"], "seed": seed, **strategy.augment_fields(cfg)}


def training_options(cfg: dict, folder: str) -> dict:
    """Options of `python -m dmt train` outside its spec, for the model in ``folder``: how fast it
    loads, how often it checkpoints and scores its held-out list, on how many ranks it runs (none
    changes the weights; ``per_rank_bn`` does, and enters the job's fingerprint)."""
    return {"num_workers": cfg["num_workers"], "checkpoint_every": cfg["checkpoint_every"],
            "eval_every": cfg["eval_every"], "tensorboard": f"{folder}/tensorboard", **ranks_of(cfg)}


def ranks_of(cfg: dict) -> dict:
    """``resources.train``'s ranks as options: ``gpu: N`` above 1 is N ranks (one a GPU), else
    ``ranks: N`` (gloo on the CPU); one process, the options absent, otherwise."""
    train = cfg["resources"]["train"]
    ranks, gpu, nodes = train.get("ranks"), train["gpu"], train.get("nodes", 1)
    if gpu > 1 and ranks not in (None, gpu):
        raise PlanError(f"resources.train: ranks {ranks} with gpu {gpu}: a job on GPUs runs one rank a GPU; "
                        "leave ranks out (or make it equal to gpu)")
    per_node = gpu if gpu > 1 else ranks or 1
    several = per_node * nodes > 1
    return {"ranks": per_node if several else None, "nodes": nodes if nodes > 1 else None,
            "per_rank_bn": several and train.get("per_rank_bn", False)}



class Pretraining:
    def __init__(self, name: str, cfg: dict):
        """``cfg``: the configuration's ``defaults`` with the pre-training's own keys over them."""
        self.name, self.cfg = name, cfg
        self.dataset = cfg["dataset"]
        self.info = dataset_info(self.dataset)
        self.strategy = task_of(self.info)

    @property
    def folder(self) -> str:
        return f"{FOLDER}/{self.name}"

    @property
    def model_path(self) -> str:
        return f"{self.folder}/model.pt"

    @property
    def data_root(self) -> str:
        return f"resources/data/{self.dataset}"

    def weights(self) -> str:
        """The init a student takes from it, as `dmt train` reads it: ``KIND:FILE``."""
        return f"{self.cfg['transfer']}:{self.model_path}"

    def job(self) -> TrainJob:
        """Supervised training from scratch on every train image, scored on the held-out list (for
        its log only: the last epoch's weights are the result, nothing is selected)."""
        c = self.cfg
        hyper = {**common_hyper(c, self.strategy, c["seed"]), "epochs": c["epochs"], "lr": c["lr"],
                 "batch_size": c["batch_size"], "loss_variant": "ce"}
        root = self.data_root
        return TrainJob(dataset=self.dataset, data=root, hyper=hyper,
                        labeled=[self.strategy.prepared_list(root, self.info.train_split)],
                        valtiny=self.strategy.prepared_list(root, self.info.test_split),
                        init={"model": c["model"], "seed": c["seed"], "weights": "scratch"})

    def rule_inputs(self) -> list[str]:
        """What the rule waits for: the prepared folder (the lists inside it come with it)."""
        return [self.data_root]

    def training_options(self) -> dict:
        return training_options(self.cfg, self.folder)

    def check_student(self, where: str, model: str, dataset: str) -> None:
        """A student of ``model`` on ``dataset`` can take this pre-training's weights."""
        if self.cfg["transfer"] == "model":
            if self.cfg["model"] != model:
                raise PlanError(f"{where}: pretrained:{self.name} is a {self.cfg['model']}; transfer: model "
                                f"initialises the same model only (here {model}); use transfer: backbone")
            if self.info.class_names != dataset_info(dataset).class_names:
                raise PlanError(f"{where}: pretrained:{self.name} has the classes of {self.dataset}, not those "
                                f"of {dataset}; transfer: model keeps the head, so they must be the same "
                                f"(or use transfer: backbone)")


def pretrainings(config: dict) -> dict[str, Pretraining]:
    """Every configured pre-training, its data set checked to hold something."""
    out = {}
    for name, entry in (config.get("pretrainings") or {}).items():
        out[name] = Pretraining(name, merge(config["defaults"], entry))
        empty = [k for k in out[name].info.positive_options if not config["digits"][k] > 0]
        if empty:
            raise PlanError(f"pretrainings.{name}: data set {out[name].dataset} needs digits.{empty[0]} above 0 "
                            f"(it is {config['digits'][empty[0]]}): set it in config/config.yaml's digits: section")
    return out


def named(config: dict, weights: str, where: str) -> Pretraining:
    """The pre-training that ``weights`` (``pretrained:NAME``) names."""
    name = weights.removeprefix(PREFIX)
    known = pretrainings(config)
    if name not in known:
        raise PlanError(f"{where}: weights {weights} names no pre-training; configured: "
                        f"{', '.join(sorted(known)) or 'none'} (config/config.yaml `pretrainings:`)")
    return known[name]
