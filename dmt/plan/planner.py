"""The plan of a whole (schema-validated) configuration: its experiments, the runs of every method
they are trained with, the comparisons, and the data preparations."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dmt.data.registry import dataset_info
from dmt.jobs import TrainJob
from dmt.methods import METHODS, ROWS
from dmt.plan.experiment import Experiment
from dmt.plan.inputs import PlanError, merge, raw_input
from dmt.plan.pretraining import Pretraining, pretrainings
from dmt.plan.run import Run


@dataclass(frozen=True)
class Comparison:
    """Methods side by side on the same splits (one experiment per split seed), every method of
    an experiment starting from that experiment's baselines: ``results/tables/{name}.csv``."""

    name: str
    experiments: tuple[str, ...]
    methods: tuple[str, ...]  # names of METHODS, and the rows baseline / oracle
    # Published results shown beside this pipeline's in results/tables/protocol_{name}.csv
    # (dmt.report.protocol.REFERENCES); '' for none.
    references: str = ""

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
        self.pretrainings = pretrainings(config)
        self.comparisons: dict[str, Comparison] = {}
        for name, c in (config.get("comparisons") or {}).items():
            comparison = Comparison(name, tuple(c["experiments"]), tuple(c["methods"]), c.get("references") or "")
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

    def protocol_runs(self, name: str) -> dict[str, dict[str, str | None]]:
        """A protocol table's cells: each experiment's labeled count -> method -> the final JSON of
        its run where it exists (None: not run yet, an empty cell). Rows: baseline and the methods."""
        c = self.comparison(name)
        out = {}
        for e in c.experiments:
            exp = self.experiments[e]
            cells = {}
            for method in c.methods:
                if method == "oracle":
                    continue
                run = self.runs[exp.name if method == "baseline" else c.run_name(exp, method)]
                cells[method] = run.final_path if os.path.exists(run.final_path) else None
            out[str(exp.cfg["labeled"])] = cells
        return out

    def protocol_options(self, name: str) -> dict:
        """Options of `python -m dmt protocol-table` for ``results/tables/protocol_{name}.csv``."""
        import json

        c = self.comparison(name)
        return {"runs": json.dumps(self.protocol_runs(name)), "references": c.references or None,
                "model": self.experiments[c.experiments[0]].cfg["model"]}

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

    def pretraining(self, name: str) -> Pretraining:
        if name not in self.pretrainings:
            raise PlanError(f"no pre-training {name!r}; configured: {', '.join(sorted(self.pretrainings)) or 'none'} "
                            f"(config/config.yaml `pretrainings:`)")
        return self.pretrainings[name]

    def pretrain_job(self, name: str) -> TrainJob:
        """The spec of the training that makes ``resources/pretrained/{name}/model.pt``."""
        return self.pretraining(name).job()

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

    def final_inputs(self, run: str, metric: str) -> list[str]:
        """Every file `final` reads for ``results/{run}/final_{metric}.json`` and its collapse check."""
        r = self.run(run)
        r.check_final(metric)
        return r.final_inputs()

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

    def prepare_options(self, prepared: str) -> dict:
        """Options of `python -m dmt prepare DATASET` for ``resources/data/{prepared}``: the raw
        inputs (checked to exist) and the data set's options."""
        dataset = self.prepared_dataset(prepared)
        info = dataset_info(dataset)
        options = {key: raw_input(self.config, key, f"data set {dataset}") for key in info.raw_inputs}
        options.update({key: self.config["digits"][key] for key in info.options})
        if info.inspect:
            # The command checks that the folder still is what was planned (and addressed).
            options["fingerprint"] = self.raw_fingerprint(dataset)
        return options

    def datasets(self) -> list[str]:
        return sorted({e.dataset for e in self.experiments.values()})
