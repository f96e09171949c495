"""The package's rooms: no import cycle inside dmt/, the DAG is built without matplotlib or torch,
and the public import paths of ../shared/DESIGN.md stay valid."""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path

from helpers import REPO
from helpers.workflow import TINY, write_config
from PIL import Image

PACKAGE = REPO / "dmt"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The dmt module ``name`` is (``from dmt.x import y``: y may be a module or a name in x)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """dmt module -> the dmt modules it imports anywhere in its source (function-level imports too).
    A package's own ``__init__`` importing its submodules is how re-exports work, not a cycle."""
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {}
    for module, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            found |= {m for n in names if n.startswith("dmt") and (m := _resolve(n, modules))}
        graph[module] = found - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_dmt():
    graph = import_graph()
    assert "dmt.training.job" in graph and "dmt.training.loop" in graph["dmt.training.job"]
    # A package __init__ that re-exports its submodules is allowed to be imported by them.
    for package in [m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").is_file()]:
        for sub in [m for m in graph if m.startswith(package + ".")]:
            graph[package].discard(sub)
    assert cycles(graph) == []


# Snakemake run in this interpreter, then the heavy modules that planning left in sys.modules.
_DRY_RUN = """
import sys
from snakemake.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
print(sorted(m for m in ('matplotlib', 'torch', 'torchvision', 'h5py') if m in sys.modules))
"""


def test_building_the_dag_imports_neither_matplotlib_nor_torch(tmp_path):
    # A real dry run: the Snakefile, the plan of every job (a training job's init options read the
    # model catalog) and predict's fingerprint of its images. Importing torch would add about 3 s
    # to every snakemake call; the old check imported the workflow's modules only and missed both.
    images = tmp_path / "new_images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.png")
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"]["predict_images"] = str(images)
    write_config(tmp_path, config)
    proc = subprocess.run([sys.executable, "-c", _DRY_RUN, "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "-n", "results/tiny/final_miou.json",
                           "results/tiny/predictions"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_the_public_import_paths_stay():
    from dmt.data import sampling
    from dmt.losses import dynamic_loss, dynamic_weights
    from dmt.pseudo import apply_thresholds, class_thresholds, thresholds
    from dmt.sampling import difference_maximized
    from dmt.training import losses

    assert (dynamic_loss, dynamic_weights) == (losses.dynamic_loss, losses.dynamic_weights)
    assert (apply_thresholds, class_thresholds) == (thresholds.apply_thresholds, thresholds.class_thresholds)
    assert difference_maximized is sampling.difference_maximized


def test_the_jobs_that_run_no_model_import_no_torch():
    # split, dms, prepare, final, agreement and the tables: importing torch and torchvision costs
    # about 5 s a job here, more than such a job's own work.
    modules = ("dmt.data.job", "dmt.data.prepare.job", "dmt.evaluation.job", "dmt.pseudo.job",
               "dmt.report.table_job", "dmt.report.rounds")
    code = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
