"""Code-change tracking: each stage's rules carry the digest of the sources its command runs."""

import ast

import pytest

from dmt.provenance import GLUE, PACKAGE, STAGE_MODULES, code_digest, input_digest

# The modules each stage's command imports (dmt/cli.py's cmd_*); their import closure within the
# package must be listed for the stage, or be glue.
ENTRIES = {
    "train": ["dmt.train", "dmt.jobs", "dmt.pseudo", "dmt.pseudo_images", "dmt.models", "dmt.inference",
              "dmt.data.voc", "dmt.data.transforms", "dmt.data.classification"],
    "pseudo": ["dmt.pseudo", "dmt.pseudo_images", "dmt.jobs", "dmt.models", "dmt.inference",
               "dmt.data.voc", "dmt.data.classification"],
    "evaluate": ["dmt.evaluate", "dmt.models", "dmt.inference", "dmt.data.voc", "dmt.data.classification"],
    "final": ["dmt.final"],
    "tables": ["dmt.tables", "dmt.methods"],
    "export": ["dmt.final_model", "dmt.models"],
    "predict": ["dmt.predict", "dmt.final_model", "dmt.inference", "dmt.models"],
    "split": ["dmt.data.splits", "dmt.sampling", "dmt.data.voc", "dmt.data.classification"],
    # dmt.report_cli, like dmt.cli, reaches every command's imports; its digest covers it directly.
    "report": ["dmt.plots", "dmt.report_data", "dmt.examples", "dmt.models",
               "dmt.inference", "dmt.pseudo", "dmt.pseudo_images", "dmt.data.voc", "dmt.data.classification"],
}


def _imports(module: str) -> set[str]:
    """dmt modules ``module`` imports anywhere in its source (function-level imports included)."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == "dmt" and _file(m)}


def _file(module: str) -> str | None:
    base = PACKAGE.parent / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return str(path.relative_to(PACKAGE))
    return None


@pytest.mark.parametrize("stage", sorted(ENTRIES))
def test_every_module_a_stage_imports_is_tracked(stage):
    seen, todo = set(), list(ENTRIES[stage])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _imports(module)
    untracked = {_file(m) for m in seen} - set(STAGE_MODULES[stage]) - set(GLUE)
    assert not untracked, f"{stage} runs {sorted(untracked)} but its digest does not cover them"


def test_listed_modules_exist_and_digests_differ_by_stage():
    for stage, modules in STAGE_MODULES.items():
        for name in modules:
            assert (PACKAGE / name).is_file(), f"{stage}: {name} does not exist"
    digests = {stage: code_digest(stage) for stage in STAGE_MODULES}
    assert len(set(digests.values())) == len(digests)
    assert code_digest("prepare:digits") != code_digest("prepare:voc")
    assert "evaluate.py" not in STAGE_MODULES["train"] + STAGE_MODULES["pseudo"] + STAGE_MODULES["final"]
    with pytest.raises(ValueError, match="unknown stage"):
        code_digest("nope")


def test_input_digest_of_a_prepared_folder_is_its_marker(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".complete.json").write_text("{}")
    (tmp_path / "f").write_text("{}")
    assert input_digest(tmp_path / "d") == input_digest(tmp_path / "f")
    assert input_digest(tmp_path / "f").startswith("sha256:")
