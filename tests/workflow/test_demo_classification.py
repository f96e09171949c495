"""The classification demo end to end: `snakemake --cores 2 results/digits_cls_100/final_acc.json`."""

import sys

import pytest
from helpers.workflow import run_demo


@pytest.mark.slow
def test_classification_demo_dmt_beats_its_baseline(tmp_path):
    """`snakemake --cores 2 results/digits_cls_100/final_acc.json`: Algorithm 1 on real digits."""
    final, minutes = run_demo(tmp_path, "digits_cls_100", "results/digits_cls_100/final_acc.json")
    print(f"classification demo: {minutes:.1f} min, baseline {final['baseline_accuracy']:.4f} -> "
          f"DMT {final['accuracy']:.4f} ({final['selected']})", file=sys.stderr)
    assert final["accuracy"] > final["baseline_accuracy"]
