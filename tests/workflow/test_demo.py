"""The README's demo end to end: `snakemake --cores 2 results/digits_1_20/final_miou.json` (the
classification demo: test_demo_classification.py, a file of its own so that the two, the longest
tests, run side by side under `make test`'s two workers)."""

import sys

import pytest
from helpers.workflow import run_demo


@pytest.mark.slow
def test_demo_dmt_beats_its_baseline(tmp_path):
    final, minutes = run_demo(tmp_path, "digits_1_20", "results/digits_1_20/final_miou.json")
    print(f"demo: {minutes:.1f} min, baseline {final['baseline_miou']:.4f} -> DMT {final['miou']:.4f}",
          file=sys.stderr)
    assert final["miou"] - final["baseline_miou"] >= 0.05
