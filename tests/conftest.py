"""pytest fixtures that test modules in different folders share; plain helper functions and
constants are in helpers/ (imported, not injected)."""

import pytest

# The helpers assert (a child process's exit status, a checkpoint a test waits for): rewritten
# as in a test module, so that a failure there shows its values, as it did when they lived in one.
pytest.register_assert_rewrite("helpers")

from helpers.files import make_mini_folder  # noqa: E402 - after the rewrite hook above


@pytest.fixture
def folder(tmp_path):
    """Your own data in the folder layout (helpers.files.make_mini_folder): 3 labeled, 4 unlabeled,
    2 val images."""
    return make_mini_folder(tmp_path / "mine")


# The longest files first (CI, 2 cores, seconds: the demo 706, the classification demo 433, SLURM
# ~510), so that `make test`'s workers (pytest-xdist, --dist loadfile: a file stays on one worker;
# --no-loadscope-reorder: in this order, not by test count, which put both demos last, on one
# worker: 38 minutes instead of about 30) start them at once; the rest keeps its order.
LONGEST_FIRST = ("workflow/test_demo.py", "workflow/test_demo_classification.py", "workflow/test_slurm.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable
