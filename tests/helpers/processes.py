"""Child Python processes for what could crash or hang the process that runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO


def run_python(script: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    """``script`` in a child Python that imports this checkout's dmt and the tests' helpers: for
    what could crash or hang the process that runs it (a timeout fails the test)."""
    path = os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": path})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc
