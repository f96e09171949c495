"""The README's demo end to end: `snakemake --cores 2 results/digits_1_20/final_miou.json`."""

import json
import subprocess
import sys
import time  # reported, not asserted: timings belong in benchmarks

import pytest
import yaml
from helpers.workflow import REPO, SNAKEMAKE


def run_demo(tmp_path, exp: str, target: str) -> tuple[dict, float]:
    """The repository's config reduced to ``exp``, run as the README says; (result, minutes)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["experiments"] = {exp: config["experiments"][exp]}
    config["comparisons"] = None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.time()
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", target],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / target).read_text()), (time.time() - start) / 60


@pytest.mark.slow
def test_demo_dmt_beats_its_baseline(tmp_path):
    final, minutes = run_demo(tmp_path, "digits_1_20", "results/digits_1_20/final_miou.json")
    print(f"demo: {minutes:.1f} min, baseline {final['baseline_miou']:.4f} -> DMT {final['miou']:.4f}",
          file=sys.stderr)
    assert final["miou"] - final["baseline_miou"] >= 0.05


@pytest.mark.slow
def test_classification_demo_dmt_beats_its_baseline(tmp_path):
    """`snakemake --cores 2 results/digits_cls_100/final_acc.json`: Algorithm 1 on real digits."""
    final, minutes = run_demo(tmp_path, "digits_cls_100", "results/digits_cls_100/final_acc.json")
    print(f"classification demo: {minutes:.1f} min, baseline {final['baseline_accuracy']:.4f} -> "
          f"DMT {final['accuracy']:.4f} ({final['selected']})", file=sys.stderr)
    assert final["accuracy"] > final["baseline_accuracy"]
