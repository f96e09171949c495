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
