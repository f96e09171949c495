"""The README's demo end to end: `snakemake --cores 2 results/digits_1_20/final_miou.json` (the
classification demo: test_demo_classification.py, a file of its own so that the two, the longest
tests, run side by side under `make test`'s two workers)."""

import sys

import pytest
from helpers.workflow import run_demo

# The demo's A baseline is at 81% of the oracle (the paper's setting: 83%), so DMT has less to
# gain than from the weak baselines of before: +3.94 val mIoU on split 0 here, +4.25 and +1.77 on
# splits 1 and 2 (README: The demo's two pre-trainings). Other CPUs round differently and end
# elsewhere (the old demo: +6.59 on one machine, +5.61 on another), so the bar is a point, not the
# figure measured: what it guards is that both chains learn from each other's labels.
MIN_GAIN = 0.01


@pytest.mark.slow
def test_demo_dmt_beats_its_baseline(tmp_path):
    final, minutes = run_demo(tmp_path, "digits_1_20", "results/digits_1_20/final_miou.json")
    curves = final["val_miou_by_iteration"]
    print(f"demo: {minutes:.1f} min, baseline {final['baseline_miou']:.4f} -> DMT {final['miou']:.4f} "
          f"({final['selected']}); A {curves['A'][0]:.4f} -> {curves['A'][-1]:.4f}, "
          f"B {curves['B'][0]:.4f} -> {curves['B'][-1]:.4f}", file=sys.stderr)
    assert final["miou"] - final["baseline_miou"] >= MIN_GAIN
    assert all(chain[-1] - chain[0] >= MIN_GAIN for chain in curves.values())
