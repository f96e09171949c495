"""The experiment plan (dmt/plan.py): the paper's formulas, who labels whom, what each training
starts from, and the checks that stop a configuration before any job."""

import copy
from fractions import Fraction

import pytest
import yaml
from helpers import REPO

from dmt.plan import METHODS, Plan, PlanError, baseline_epochs, finetune_seed, flags

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def plan_with(**experiments) -> Plan:
    config = copy.deepcopy(CONFIG)
    config["experiments"] = experiments
    config["comparisons"] = None
    return Plan(config)


@pytest.fixture(scope="module")
def plan():
    return Plan(copy.deepcopy(CONFIG))


@pytest.mark.parametrize("exp, epochs", [("voc_1_20", 134), ("voc_1_50", 212), ("voc_1_106", 309),
                                         ("city_1_8", 170), ("cifar10_4000", 1061)])
def test_baseline_epochs_follow_appendix_b(plan, exp, epochs):
    # sqrt(1 / ratio) x the oracle's epochs: sqrt(20) * 30 = 134.2, sqrt(10582/100) * 30 = 308.6 ...
    assert plan.experiment(exp).baseline_epochs() == epochs
    assert plan.train_job(f"{exp}/iter0/A").hyper["epochs"] == epochs


def test_formulas_on_hand_values():
    assert baseline_epochs(Fraction(1, 20), 30) == 134
    assert baseline_epochs(Fraction(1, 4), 10) == 20
    assert baseline_epochs(Fraction(1, 2), 0.1) == 1  # never zero epochs
    assert finetune_seed(3, 2) == 3002


def test_segmentation_iterations_fine_tune_from_their_own_model_on_the_others_labels(plan):
    run = plan.run("voc_1_20")
    assert run.models == ("A", "B") and run.iterations == 5
    a1 = plan.train_job("voc_1_20/iter1/A")
    assert a1.init == {"from": "results/voc_1_20/iter0/A/model.pt"}
    assert a1.pseudo == "results/voc_1_20/iter1/pseudo_B.h5"
    b3 = plan.train_job("voc_1_20/iter3/B")
    assert b3.init == {"from": "results/voc_1_20/iter2/B/model.pt"}
    assert b3.pseudo == "results/voc_1_20/iter3/pseudo_A.h5"
    assert b3.hyper["seed"] == 3002  # 1000 i + model seed of B
    assert (b3.hyper["gamma1"], b3.hyper["lr"], b3.hyper["epochs"], b3.hyper["batch_size"],
            b3.hyper["pseudo_per_batch"], b3.hyper["loss_variant"]) == (5, 1e-3, 4, 8, 7, "dmt")
    p = run.pseudo_job(3, "A")
    assert p.teacher == "results/voc_1_20/iter2/A/model.pt" and p.alpha == 0.6
    assert p.pad_to == [321, 321] and p.unlabeled == "resources/splits/voc_1_20/unlabeled.txt"


def test_baselines_start_from_their_weights(plan):
    plan.config["imagenet_checkpoint"] = __file__  # any existing file stands for the state dict
    try:
        a, b = plan.train_job("voc_1_20/iter0/A"), plan.train_job("voc_1_20/iter0/B")
    finally:
        plan.config["imagenet_checkpoint"] = None
    assert a.init == {"model": "deeplab_v2", "seed": 1, "weights": "coco:resources/weights/deeplab_v2_coco.pt",
                      "options": {"aspp": "authors"}}  # the authors' head: the paper's numbers
    assert b.init["weights"] == f"imagenet:{__file__}" and b.init["seed"] == 2
    assert a.hyper["loss_variant"] == "ce" and "gamma1" not in a.hyper
    assert __file__ in b.inputs() and "resources/weights/deeplab_v2_coco.pt" in a.inputs()
    dms = plan.train_job("voc_1_106/iter0/B")
    assert dms.labeled == ["results/voc_1_106/dms/B.txt"]


def test_imagenet_weights_need_their_key(plan):
    with pytest.raises(PlanError, match="--config imagenet_checkpoint=/path"):
        plan.train_job("voc_1_20/iter0/B")


def test_classification_retrains_from_scratch_with_a_new_seed_and_labels_itself(plan):
    run = plan.run("digits_cls_100")
    assert run.models == ("A",) and run.teacher("A") == "A"
    base, it2 = plan.train_job("digits_cls_100/iter0/A"), plan.train_job("digits_cls_100/iter2/A")
    assert base.init == {"model": "wrn_10_2", "seed": 1, "weights": "scratch"}
    assert it2.init == {"model": "wrn_10_2", "seed": 2001, "weights": "scratch"}
    assert it2.pseudo == "results/digits_cls_100/iter2/pseudo_A.h5"
    assert it2.hyper["gamma_ramp"] and it2.hyper["mixup_alpha"] == 0.75
    # crop and scale do not act on classification: they are not in its spec
    assert "crop_size" not in it2.hyper and run.pseudo_job(2, "A").pad_to == [0, 0]
    assert plan.experiment("cifar10_4000").baseline_epochs() == 1061
    assert plan.train_job("cifar10_1000/iter1/A").hyper["pseudo_per_batch"] == 496


@pytest.mark.parametrize("method, models, teacher_of_a, loss",
                         [("dmt", ("A", "B"), "B", "dmt"), ("dmt_naive", ("A", "B"), "B", "naive"),
                          ("dmt_flip", ("A", "B"), "B", "flip"), ("dst", ("A",), "A", "dmt"),
                          ("cbst", ("A",), "A", "ce")])
def test_methods_decide_models_teachers_and_loss(method, models, teacher_of_a, loss):
    plan = plan_with(x={"dataset": "digits", "method": method})
    run = plan.run("x")
    assert run.models == models and run.teacher("A") == teacher_of_a
    job = plan.train_job("x/iter2/A")
    assert job.pseudo == f"results/x/iter2/pseudo_{teacher_of_a}.h5"
    assert job.hyper["loss_variant"] == loss
    assert ("gamma1" in job.hyper) == (loss != "ce")  # CE's spec does not change with gamma
    assert plan.baseline_models("x") == models


def test_targets_outside_a_run_are_errors_that_list_its_targets(plan):
    with pytest.raises(PlanError, match=r"final_miou.json is not part of run digits_cls_100 .*"
                                        r"results/digits_cls_100/final_acc.json"):
        plan.final_metrics("digits_cls_100", "miou")
    with pytest.raises(PlanError, match="not part of run digits_cls_100"):
        plan.train_job("digits_cls_100/iter1/B")
    with pytest.raises(PlanError, match="iterations 1..5"):
        plan.train_job("digits_1_20/iter6/A")
    with pytest.raises(PlanError, match="no run"):
        plan.run("nope")
    one = plan_with(x={"dataset": "digits", "method": "dst"})
    with pytest.raises(PlanError, match="models A"):
        one.train_job("x/iter0/B")


def test_final_reads_every_model_after_every_iteration(plan):
    files = plan.final_metrics("digits_1_20", "miou")
    assert len(files) == 12 and files["0:B"] == "results/digits_1_20/iter0/B/metrics.json"
    assert files["5:A"] == "results/digits_1_20/iter5/A/metrics.json"
    assert list(plan.final_metrics("digits_cls_100", "acc")) == [f"{i}:A" for i in range(6)]


@pytest.mark.parametrize("method, teachers, agreements", [("dmt", ["A", "B"], 5), ("dmt_flip", ["A", "B"], 5),
                                                         ("cbst", ["A"], 0), ("online", [], 0)])
def test_the_collapse_check_reads_what_applies_to_the_method(method, teachers, agreements):
    plan = plan_with(x={"dataset": "digits", "method": method, "collapse": {"agreement": 0.9}})
    run = plan.run("x")
    options = run.final_options("miou")
    # the margins: the experiment's own over the defaults, key by key
    default = CONFIG["defaults"]["collapse"]["valtiny_drop"]
    assert (options["valtiny_drop"], options["agreement_level"]) == (default, 0.9)
    iterations = run.iterations
    assert list(options["pseudo"] or {}) == [f"{i}:{t}" for i in range(1, iterations + 1) for t in teachers]
    assert len(options["agreement"] or {}) == agreements
    assert plan.final_inputs("x", "miou") == [*run.final_metrics().values(), *(options["pseudo"] or {}).values(),
                                              *(options["agreement"] or {}).values()]
    assert ("--agreement" in flags(options)) == bool(agreements)
    assert ("--pseudo" in flags(options)) == bool(teachers)  # an empty option would be a bare flag
    if agreements:
        assert options["pseudo"]["2:B"] == "results/x/iter2/pseudo_B.json"
        sets = {"A": "results/x/iter2/pseudo_A.h5", "B": "results/x/iter2/pseudo_B.h5"}
        assert run.agreement_options(2)["sets"] == sets
        assert "results/x/iter2/pseudo_B.json" in run.agreement_inputs(2)
        # digits has ground truth for its unlabeled canvases: the teachers' errors are compared too
        assert run.agreement_options(2)["data"] == "resources/data/digits"
        assert "resources/data/digits" in run.agreement_inputs(2)
    else:
        with pytest.raises(PlanError, match="agreement.json is not part of run x"):
            run.agreement_options(1)


def test_classification_has_no_agreement_to_check(plan):
    options = plan.run("digits_cls_100").final_options("acc")
    assert options["agreement"] is None and list(options["pseudo"]) == [f"{i}:A" for i in range(1, 6)]


@pytest.mark.parametrize("override, message", [
    ({"labeled": "1/1"}, "between 0 and 1"),
    ({"labeled": "3/2"}, "between 0 and 1"),
    ({"labeled": CONFIG["digits"]["n_train"]}, f"labels all {CONFIG['digits']['n_train']} train images"),
    ({"labeled": 5000}, "does not fit data set digits"),
    ({"dmt": {"batch_size": 8, "pseudo_per_batch": 8}}, "at least one labeled image"),
    ({"method": "cl"}, "method cl does not apply to segmentation"),
    ({"model_seeds": [3, 3]}, "A and B would be identical"),
])
def test_impossible_configurations_fail_before_any_job(override, message):
    with pytest.raises(PlanError, match=message):
        plan_with(x={"dataset": "digits", **override})


def test_classification_counts_leave_room_for_valtiny():
    with pytest.raises(PlanError, match="labels all 1200 train images"):
        plan_with(x={"dataset": "digits_cls", "labeled": 1200, "valtiny": 100})
    assert plan_with(x={"dataset": "digits_cls", "labeled": 1199, "valtiny": 100}).run("x")


def test_methods_know_their_tasks():
    assert {m for m, method in METHODS.items() if "classification" in method.tasks} == {"dmt", "cl"}
    with pytest.raises(PlanError, match="method dst does not apply to classification"):
        plan_with(x={"dataset": "digits_cls", "labeled": 100, "method": "dst"})


def test_split_and_evaluation_flags(plan):
    assert flags(plan.experiment("voc_1464").split_options()) == [
        "--labeled", "1464", "--valtiny", "20", "--seed", "0", "--train-split", "train_aug", "--dataset", "voc",
        "--labeled-list", "data:train", "--valtiny-list", "published:dst-cbc/voc/valtiny.txt"]
    # the published lists, split seed k -> list k
    assert "published:dst-cbc/voc/20_labeled_2.txt" in flags(plan.experiment("voc_1_20_s2").split_options())
    assert "published:dst-cbc/cityscapes/30_labeled_1.txt" in flags(plan.experiment("city_1_30_s1").split_options())
    assert "--valtiny-from-train" in flags(plan.experiment("digits_cls_100").split_options())
    assert flags(plan.experiment("city_1_8").evaluate_options()) == [
        "--dataset", "cityscapes", "--batch-size", "8", "--pad-to", "256", "512"]
    assert flags(plan.experiment("digits_cls_100").evaluate_options()) == [
        "--dataset", "digits_cls", "--batch-size", "256"]


def test_the_workflow_holds_no_paper_formula():
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for formula in ("sqrt", "math.", "Fraction", "1000 *", "alphas"):
        assert formula not in rules


def test_published_lists_must_fit_the_experiment():
    with pytest.raises(PlanError, match="has 530 ids, but the experiment asks for 211"):
        plan_with(x={"dataset": "voc", "labeled": "1/50", "labeled_list": "published:dst-cbc/voc/20_labeled_0.txt"})
    with pytest.raises(PlanError, match="no published list"):
        plan_with(x={"dataset": "voc", "labeled": "1/20", "labeled_list": "published:dst-cbc/voc/20_labeled_9.txt"})


def test_comparisons_add_runs_that_start_from_the_experiments_baselines(plan):
    c = plan.comparison("digits_1_20")
    assert c.experiments == ("digits_1_20", "digits_1_20_seed1", "digits_1_20_seed2")
    cbst = plan.run("digits_1_20_seed1/cbst")
    assert cbst.models == ("A",) and cbst.exp.name == "digits_1_20_seed1"
    job = plan.train_job("digits_1_20_seed1/cbst/iter1/A")
    assert job.init == {"from": "results/digits_1_20_seed1/iter0/A/model.pt"}  # the shared baseline
    assert job.pseudo == "results/digits_1_20_seed1/cbst/iter1/pseudo_A.h5"
    online = plan.run("digits_1_20/online")
    assert online.iterations == 1 and plan.train_job("digits_1_20/online/iter1/A").hyper["epochs"] == 20
    with pytest.raises(PlanError, match="not part of run digits_1_20/online"):
        online.pseudo_job(1, "A")
    inputs = plan.comparison_inputs("digits_1_20")
    assert inputs["baseline:digits_1_20_seed2"] == "results/digits_1_20_seed2/final_miou.json"
    assert inputs["dmt:digits_1_20"] == "results/digits_1_20/final_miou.json"  # the experiment's own run
    assert inputs["dst:digits_1_20"] == "results/digits_1_20/dst/final_miou.json"
    assert inputs["oracle:digits_1_20"] == "results/digits_1_20/oracle/metrics.json"
    assert list(inputs)[0] == "baseline:digits_1_20" and list(inputs)[-1] == "oracle:digits_1_20"
    assert plan.baseline_models("digits_1_20") == ("A", "B")
    # Table 7's VOC comparisons and Table 2's classification counterpart are planned too
    assert plan.run("voc_1_50/dmt_flip").models == ("A", "B")
    assert plan.run("digits_cls_100_seed2/cl").train_job(3, "A").hyper["loss_variant"] == "ce"


def test_bad_comparisons_are_named():
    config = copy.deepcopy(CONFIG)
    config["comparisons"] = {"c": {"experiments": ["digits_1_20", "digits_cls_100"], "methods": ["dmt"]}}
    with pytest.raises(PlanError, match="comparison c mixes classification and segmentation"):
        Plan(config)
    config["comparisons"] = {"c": {"experiments": ["digits_cls_100"], "methods": ["dst"]}}
    with pytest.raises(PlanError, match="method dst does not apply to classification"):
        Plan(config)
    config["comparisons"] = {"c": {"experiments": ["nope"], "methods": ["dmt"]}}
    with pytest.raises(PlanError, match="no experiment nope"):
        Plan(config)


def test_model_seeds_follow_the_split_seed_unless_set():
    # auto: 2k+1, 2k+2 for split seed k; k = 0 keeps the seeds the demo always had (1, 2)
    plan = plan_with(s0={"dataset": "digits", "split_seed": 0}, s2={"dataset": "digits", "split_seed": 2},
                     fixed={"dataset": "digits", "split_seed": 2, "model_seeds": [7, 9]})
    assert plan.experiment("s0").model_seeds() == (1, 2)
    assert plan.experiment("s2").model_seeds() == (5, 6)
    assert plan.experiment("fixed").model_seeds() == (7, 9)
    assert plan.train_job("s2/iter0/B").init["seed"] == 6
    assert plan.train_job("s2/iter3/A").hyper["seed"] == finetune_seed(3, 5) == 3005
    assert CONFIG["defaults"]["model_seeds"] == "auto"


def test_model_seeds_accept_auto_or_two_seeds_only():
    from dmt.configuration import ConfigError, validate

    for bad in ("random", [1], [1, -2]):
        config = copy.deepcopy(CONFIG)
        config["experiments"]["digits_1_20"]["model_seeds"] = bad
        with pytest.raises(ConfigError, match=r"^config: experiments\.digits_1_20\.model_seeds"):
            validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
