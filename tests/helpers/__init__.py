"""What several test modules share, so that no test module imports another: builders of data
sets and files in their real on-disk formats (files), the real Snakemake DAG in a scratch folder
and the tiny configuration (workflow), a toy training set and a code-carrying model file
(models), child Python processes (processes) and a one-node SLURM cluster (slurm_local).
pyproject's pytest ``pythonpath`` puts tests/ on sys.path, so ``from helpers.files import ...``
works from every test folder; pytest fixtures shared across folders are in tests/conftest.py."""

from pathlib import Path

# The checkout's root: the Snakefile, config/, dmt/ and benchmarks/.
REPO = Path(__file__).resolve().parents[2]
