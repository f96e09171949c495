"""Code-change tracking: each stage's rules carry the digest of the sources its command runs."""

import ast

import pytest

from dmt.store.provenance import (
    PACKAGE,
    STAGE_PACKAGES,
    code_digest,
    glue,
    input_digest,
    progress_only,
    stage_modules,
)

# The module of each stage's commands (the `func` of its `python -m dmt` subcommands); its import
# closure within the package must be in the stage's digest, or be glue.
ENTRIES = {
    "train": ["dmt.training.job"],
    "pseudo": ["dmt.pseudo.job"],
    "evaluate": ["dmt.evaluation.job"],
    "tables": ["dmt.report.table_job"],
    "report": ["dmt.report.job"],
    "deliver": ["dmt.deliver.job"],
    "split": ["dmt.data.job"],
    "convert_coco": ["dmt.models.job"],
}


def _operations() -> dict[str, set[str]]:
    """A Task operation's name -> the modules its ``"module:function"`` names, over every task."""
    from dmt.tasks import TASKS

    out: dict[str, set[str]] = {}
    for task in TASKS.values():
        for name, ref in task.OPS.items():
            out.setdefault(name, set()).add(ref.partition(":")[0])
    return out


def _imports(module: str) -> set[str]:
    """dmt modules ``module`` imports anywhere in its source (function-level imports included),
    and those a Task operation it calls (``task.build_dataset(...)``) runs, whichever the task."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    found, operations = set(), _operations()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute) and node.attr in operations:
            found |= operations[node.attr]
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
    untracked = {_file(m) for m in seen} - set(stage_modules(stage)) - set(glue()) - set(progress_only(stage))
    assert not untracked, f"{stage} runs {sorted(untracked)} but its digest does not cover them"


def test_task_operations_name_functions_that_exist():
    from dmt.tasks import TASKS, Task, _resolve

    for task in TASKS.values():
        for name, ref in task.OPS.items():
            assert hasattr(Task, name) or hasattr(type(task), name), f"{task.name}: no method {name}"
            assert callable(_resolve(ref)), f"{task.name}.{name}: {ref}"


def test_a_stage_calling_a_task_operation_runs_its_module():
    # The pseudo stage builds its data set through the Task: the walk reaches the data set code.
    seen, todo = set(), ["dmt.data.datasets"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _imports(module)
    assert "dmt.data.datasets" in _imports("dmt.data.datasets")
    assert "dmt.evaluation.final" in _imports("dmt.evaluation.job")
    assert "dmt.tasks" in seen


def test_listed_modules_exist_and_digests_differ_by_stage():
    for stage, entries in STAGE_PACKAGES.items():
        for entry in entries:
            assert (PACKAGE / entry).exists(), f"{stage}: {entry} does not exist"
    digests = {stage: code_digest(stage) for stage in STAGE_PACKAGES}
    assert len(set(digests.values())) == len(digests)
    assert code_digest("prepare:digits") != code_digest("prepare:voc")
    assert "evaluation/metrics.py" not in stage_modules("train") + stage_modules("pseudo")
    with pytest.raises(ValueError, match="unknown stage"):
        code_digest("nope")


def test_input_digest_of_a_prepared_folder_is_its_marker(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".complete.json").write_text("{}")
    (tmp_path / "f").write_text("{}")
    assert input_digest(tmp_path / "d") == input_digest(tmp_path / "f")
    assert input_digest(tmp_path / "f").startswith("sha256:")


def test_glue_is_the_cli_the_store_and_the_device_helpers():
    from dmt.store.provenance import GLUE_MODULES, GLUE_PACKAGES

    assert GLUE_PACKAGES == ("cli", "store")
    assert set(GLUE_MODULES) == {"__init__.py", "__main__.py", "devices.py", "errors.py", "items.py",
                                 "losses.py", "sampling.py"}
    # The two re-exports hold no code: what they name lives in a stage's package.
    for shim in ("losses.py", "sampling.py"):
        tree = ast.parse((PACKAGE / shim).read_text())
        assert all(isinstance(n, (ast.Expr, ast.ImportFrom, ast.Assign)) for n in tree.body), shim


def test_every_module_is_glue_planner_preparation_or_in_a_stage():
    from dmt.data.registry import DATASETS
    from dmt.store.provenance import planner, prepare_modules

    covered = set(glue()) | set(planner()) | {f for s in STAGE_PACKAGES for f in stage_modules(s)}
    covered |= {f for d in DATASETS for f in prepare_modules(d)} | {"data/prepare/__init__.py"}
    files = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert files - covered == set()


@pytest.mark.parametrize("dataset", ["digits", "voc", "cityscapes", "cifar10", "digits_cls", "folder",
                                     "digits_style", "digits_glyphs"])
def test_a_preparation_runs_only_what_its_digest_covers(dataset):
    from dmt.data.registry import dataset_info
    from dmt.store.provenance import prepare_modules

    seen, todo = set(), [dataset_info(dataset).prepare.partition(":")[0], "dmt.data.prepare.job"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _imports(module)
    assert {_file(m) for m in seen} - set(prepare_modules(dataset)) - set(glue()) == set()
    assert not any(f.startswith("data/prepare/") for f in stage_modules("train") + stage_modules("split"))


def test_editing_the_id_selection_of_evaluation_changes_the_evaluate_digest(tmp_path, monkeypatch):
    import shutil

    from dmt.store import provenance

    copy = tmp_path / "dmt"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = {stage: code_digest(stage) for stage in STAGE_PACKAGES}
    job = copy / "evaluation" / "job.py"
    text = job.read_text()
    selection = 'ids = list(dict.fromkeys(subsets["val"] + subsets["valtiny"]))'
    assert selection in text
    job.write_text(text.replace(selection, 'ids = list(dict.fromkeys(subsets["val"]))'))
    monkeypatch.setattr(provenance, "PACKAGE", copy)
    provenance._digest_files.cache_clear()
    try:
        after = {stage: code_digest(stage) for stage in STAGE_PACKAGES}
    finally:
        monkeypatch.undo()
        provenance._digest_files.cache_clear()
    assert after["evaluate"] != before["evaluate"]
    assert {s for s in STAGE_PACKAGES if after[s] != before[s]} == {"evaluate"}
