"""A run: an experiment trained with one method; its iterations, pseudo-label sets and final selection."""

from __future__ import annotations

from dmt.jobs import PseudoJob, TrainJob
from dmt.methods import Method
from dmt.plan.experiment import Experiment, finetune_seed
from dmt.plan.inputs import PlanError


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

    def agreement_path(self, i: int) -> str:
        return f"results/{self.name}/iter{i}/agreement.json"

    @property
    def final_path(self) -> str:
        return f"results/{self.name}/final_{self.metric}.json"

    @property
    def rounds_path(self) -> str:
        """The collapse check's per-round record, written by the final job beside the final JSON."""
        return f"results/{self.name}/rounds_{self.metric}.json"

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

    def export_options(self) -> dict:
        """Options of `python -m dmt export`: the candidates and what the exported model records."""
        e = self.exp
        return {"dataset": e.dataset, "experiment": e.name, "run": self.name, "method": self.method.name,
                "candidate": self.final_candidates(),
                **self.strategy.pad_options(e.cfg)}  # predictions pad as pseudo-labelling does

    def predict_options(self) -> dict:
        """Options of `python -m dmt predict` besides its files and runtime (the exported model
        holds the rest: classes, normalisation, padding)."""
        return self.exp.inference_options()

    def final_options(self, metric: str) -> dict:
        """Options of `python -m dmt final` for ``results/{run}/final_{metric}.json``, and for its
        collapse check (``rounds_path``): the pseudo-label summaries, the agreement files and the
        margins (params of the final rule alone: a new margin reruns only that job)."""
        self.check_final(metric)
        collapse = self.exp.cfg["collapse"]
        return {"dataset": self.exp.dataset, "metrics": self.final_metrics(),
                "pseudo": self.pseudo_summaries() or None, "agreement": self.agreement_files() or None,
                "valtiny_drop": collapse["valtiny_drop"], "agreement_level": collapse["agreement"]}

    def final_inputs(self) -> list[str]:
        """Every file `python -m dmt final` reads (final_options)."""
        return [*self.final_metrics().values(), *self.pseudo_summaries().values(), *self.agreement_files().values()]

    def teacher(self, m: str) -> str:
        """The model whose previous iteration labels for student ``m``."""
        return {"A": "B", "B": "A"}[m] if len(self.models) == 2 else m

    @property
    def teachers(self) -> list[str]:
        """The models whose pseudo-label sets the run makes each iteration (none for online self-training)."""
        return [] if self.method.online else sorted({self.teacher(m) for m in self.models})

    @property
    def compares_teachers(self) -> bool:
        """Whether each iteration has two teachers whose predictions can be compared (two models)."""
        return len(self.teachers) == 2

    def deliverables(self) -> list[str]:
        """What the run is for (the workflow's default targets): its final summary, its exported
        model and, where the experiment sets predict_images, the predictions."""
        out = [self.final_path, self.final_model_path]
        return out + [self.predictions_path] if self.exp.cfg.get("predict_images") else out

    def targets(self) -> list[str]:
        out = [*self.deliverables(), self.rounds_path]
        last = self.iterations
        out += [f"results/{self.name}/iter{{1..{last}}}/{m}/model.pt" for m in self.models]
        out += [f"results/{self.name}/iter{{1..{last}}}/pseudo_{t}.h5" for t in self.teachers]
        if self.compares_teachers:
            out.append(f"results/{self.name}/iter{{1..{last}}}/agreement.json")
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

    def agreement_options(self, i: int) -> dict:
        """Options of `python -m dmt agreement` for iteration ``i``: the two teachers' sets of the
        unlabeled images (the models of iteration ``i`` - 1)."""
        if not self.compares_teachers or not 1 <= i <= self.iterations:
            raise self._no_such(self.agreement_path(i))
        e = self.exp
        options = {"dataset": e.dataset, "sets": {t: self.pseudo_path(i, t) for t in self.teachers},
                   "unlabeled": e.split_file("unlabeled")}
        # With ground truth for the unlabeled images, the two teachers' errors are compared too.
        return {**options, "data": e.data_root} if e.info.unlabeled_masks else options

    def agreement_inputs(self, i: int) -> list[str]:
        """The sets, their summaries (which hold the digests `agreement` checks) and the id list."""
        options = self.agreement_options(i)
        sets = list(options["sets"].values())
        return [*sets, *(p.replace(".h5", ".json") for p in sets), options["unlabeled"],
                *([options["data"]] if "data" in options else [])]

    def pseudo_summaries(self) -> dict[str, str]:
        """``"{i}:{t}"`` -> the summary of every pseudo-label set of the run (teacher t of iteration i - 1)."""
        return {f"{i}:{t}": self.pseudo_path(i, t).replace(".h5", ".json")
                for i in range(1, self.iterations + 1) for t in self.teachers}

    def agreement_files(self) -> dict[str, str]:
        """``"{i}"`` -> the agreement file of every iteration with two teachers (none otherwise)."""
        if not self.compares_teachers:
            return {}
        return {str(i): self.agreement_path(i) for i in range(1, self.iterations + 1)}

    def final_metrics(self) -> dict[str, str]:
        """``"{i}:{m}"`` -> metrics file of every model of the run, iteration 0 included."""
        return {f"{i}:{m}": self.metrics_path(i, m) for i in range(self.iterations + 1) for m in self.models}
