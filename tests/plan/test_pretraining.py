"""The plan of a pre-training (dmt/plan/pretraining.py): its job, the init its students take, and
the configurations it cannot serve, refused before any job."""

import copy

import pytest
import yaml
from helpers import REPO

from dmt.configuration import ConfigError, validate
from dmt.plan import Plan, PlanError

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PRETRAININGS = {
    "seg": {"dataset": "digits", "model": "small_deeplab", "seed": 11, "epochs": 3, "lr": 0.01,
            "batch_size": 8, "transfer": "model"},
    "glyph": {"dataset": "digits_cls", "model": "small_classifier", "seed": 12, "epochs": 2, "lr": 0.05,
              "batch_size": 32, "transfer": "backbone"},
}


def config_with(**changes) -> dict:
    config = copy.deepcopy(CONFIG)
    config["pretrainings"] = copy.deepcopy(PRETRAININGS)
    config["experiments"] = {f"s{k}": {"dataset": "digits", "split_seed": k,
                                       "weights": ["pretrained:seg", "pretrained:glyph"]} for k in (0, 1)}
    config["comparisons"] = None
    for change in changes.values():
        change(config)
    return config


def test_the_job_trains_from_scratch_on_the_whole_train_list():
    job = Plan(config_with()).pretrain_job("glyph")
    assert job.init == {"model": "small_classifier", "seed": 12, "weights": "scratch"}
    assert job.labeled == ["resources/data/digits_cls/lists/train.txt"]
    assert job.valtiny == "resources/data/digits_cls/lists/test.txt"
    assert (job.hyper["epochs"], job.hyper["lr"], job.hyper["batch_size"], job.hyper["loss_variant"]) == \
        (2, 0.05, 32, "ce")
    seg = Plan(config_with()).pretrain_job("seg")
    assert seg.labeled == ["resources/data/digits/ImageSets/Segmentation/train.txt"]
    assert seg.hyper["crop_size"] == CONFIG["defaults"]["crop_size"]  # the defaults under its own keys


def test_every_split_seed_starts_from_the_same_files():
    plan = Plan(config_with())
    for exp in ("s0", "s1"):
        a, b = plan.train_job(f"{exp}/iter0/A"), plan.train_job(f"{exp}/iter0/B")
        assert a.init["weights"] == "model:resources/pretrained/seg/model.pt"
        assert b.init["weights"] == "backbone:resources/pretrained/glyph/model.pt"
        assert "resources/pretrained/glyph/model.pt" in b.inputs()  # the rule waits for it
    assert plan.train_job("s1/iter0/B").init["seed"] == 4  # the student's own seed draws the head


@pytest.mark.parametrize("change, message", [
    (lambda c: c["experiments"]["s0"].update(weights=["pretrained:nosuch", "scratch"]),
     "experiment s0 (model A): weights pretrained:nosuch names no pre-training; configured: glyph, seg"),
    (lambda c: c["pretrainings"]["glyph"].update(transfer="model"),
     "pretrained:glyph is a small_classifier; transfer: model initialises the same model only"),
    (lambda c: c["pretrainings"]["seg"].update(dataset="digits_cls"),
     "pretrained:seg has the classes of digits_cls, not those of digits"),
    (lambda c: (c["pretrainings"]["seg"].update(dataset="digits_style"), c["digits"].update(pretrain_share=0)),
     "pretrainings.seg: data set digits_style needs digits.pretrain_share above 0 (it is 0)"),
])
def test_a_pretraining_that_cannot_serve_is_refused(change, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Plan(config_with(x=change))


def test_the_schema_names_a_bad_pretraining_key():
    config = config_with(x=lambda c: c["pretrainings"]["seg"].update(transfer="head"))
    with pytest.raises(ConfigError, match=r"pretrainings\.seg\.transfer = 'head' is not valid"):
        validate(config, SCHEMA)
    config = config_with(x=lambda c: c["pretrainings"]["seg"].pop("epochs"))
    with pytest.raises(ConfigError, match="pretrainings.seg"):
        validate(config, SCHEMA)
    validate(config_with(), SCHEMA)


def test_the_demo_pretraining_sets_plan_once_their_pool_is_set():
    config = config_with(x=lambda c: c["pretrainings"]["seg"].update(dataset="digits_style"),
                         y=lambda c: c["pretrainings"]["glyph"].update(dataset="digits_glyphs"),
                         z=lambda c: c["digits"].update(pretrain_share=0.2))
    plan = Plan(config)
    assert plan.pretrain_job("seg").labeled == ["resources/data/digits_style/ImageSets/Segmentation/train.txt"]
    assert plan.pretrain_job("glyph").valtiny == "resources/data/digits_glyphs/lists/test.txt"
    assert plan.prepare_options("digits_style")["pretrain_share"] == 0.2


def test_the_demo_starts_from_the_two_pretrainings_and_its_scratch_twin_only_differs_in_init():
    """digits_1_20 (every split seed) trains A from the style segmenter whole and B from the glyph
    classifier's backbone; digits_1_20_scratch is the same experiment from random inits: same split,
    seeds and schedule, so the two comparisons differ in the init alone."""
    plan = Plan(copy.deepcopy(CONFIG))
    inits = {"A": "model:resources/pretrained/digits_style_seg/model.pt",
             "B": "backbone:resources/pretrained/digits_glyphs_cls/model.pt"}
    for suffix in ("", "_seed1", "_seed2"):
        pre, scratch = f"digits_1_20{suffix}", f"digits_1_20_scratch{suffix}"
        assert plan.experiment(pre).split_options() == plan.experiment(scratch).split_options()
        for m in "AB":
            job, twin = plan.train_job(f"{pre}/iter0/{m}"), plan.train_job(f"{scratch}/iter0/{m}")
            assert job.init["weights"] == inits[m] and twin.init["weights"] == "scratch"
            assert job.hyper == twin.hyper and job.init["seed"] == twin.init["seed"]
    assert set(plan.pretrainings) == {"digits_style_seg", "digits_glyphs_cls"}
