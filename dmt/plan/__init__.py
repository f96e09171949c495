"""The experiment plan: from the validated configuration, every job of every run and what it depends on.

Plain Python with no Snakemake import: the workflow's rules ask it for paths, specs and option dicts
(rendered to argv by ``flags``, the one place option names are spelt), and the tests check its
formulas directly.

Modules: ``experiment`` (data, split, baselines, hyper-parameters), ``run`` (an experiment trained
with a method: iterations, pseudo labels, final selection), ``planner`` (the whole configuration:
experiments, runs, comparisons, preparations), ``inputs`` (the user's local files, the plan's
error), ``argv`` (options -> argv).

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

from dmt.methods import METHODS
from dmt.plan.argv import flags, items
from dmt.plan.experiment import Experiment, baseline_epochs, finetune_seed
from dmt.plan.inputs import COCO_WEIGHTS, PlanError, raw_input
from dmt.plan.planner import Comparison, Plan, merge
from dmt.plan.run import Run

__all__ = ["COCO_WEIGHTS", "METHODS", "Comparison", "Experiment", "Plan", "PlanError", "Run", "baseline_epochs",
           "finetune_seed", "flags", "items", "merge", "raw_input"]
