"""The collapse check in the real DAG: its margins are the final rule's params alone, so changing
one reruns only the final job (a DAG marked as run, so no training is needed to see it)."""

from __future__ import annotations

import copy

import pytest
from helpers.workflow import TINY, planned, touched, write_config

TARGET = "results/tiny/final_miou.json"


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("collapse")
    write_config(workdir, TINY)
    touched(workdir, TARGET)
    assert planned(workdir, TARGET) == {}
    return workdir


def with_collapse(**collapse) -> dict:
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"]["collapse"] = collapse
    return config


@pytest.mark.parametrize("collapse", [{"valtiny_drop": 0.5}, {"agreement": 0.5}])
def test_a_new_margin_reruns_only_the_final_job(marked, collapse):
    write_config(marked, with_collapse(**collapse))
    try:
        assert planned(marked, TARGET) == {"final": 1}
        # the record is the final job's second output: targeting it plans the same one job
        assert planned(marked, "results/tiny/rounds_miou.json") == {"final": 1}
    finally:
        write_config(marked, TINY)
    assert planned(marked, TARGET) == {}


def test_the_check_reads_each_iterations_agreement_of_the_two_teachers(marked):
    # an iteration's new pseudo labels recompute its agreement, which the final job reads
    changed = copy.deepcopy(TINY)
    changed["experiments"]["tiny"]["dmt"]["alphas"] = [0.5, 0.9]
    write_config(marked, changed)
    try:
        jobs = planned(marked, TARGET)
    finally:
        write_config(marked, TINY)
    assert jobs == {"pseudo_spec": 2, "pseudo_label": 2, "agreement": 1, "finetune": 2, "evaluate": 2, "final": 1}
