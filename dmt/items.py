"""``KEY=FILE`` command-line items: the one renderer (the plan's argv lists) and the one parser
(the commands that take them).
"""

from __future__ import annotations

from pathlib import Path

from dmt.errors import DMTError


def items(files: dict[str, str]) -> list[str]:
    """``KEY=FILE`` arguments of a command, one argv item each (the rules quote every item)."""
    return [f"{key}={path}" for key, path in files.items()]


def named_files(items: list[str], option: str, form: str, example: str) -> list[tuple[str, Path]]:
    """``KEY=FILE`` items of an option, in order."""
    out = []
    for item in items:
        key, sep, path = item.partition("=")
        if not (sep and key and path):
            raise DMTError(f"{option} takes {form} items, e.g. {example}; got {item!r}")
        out.append((key, Path(path)))
    return out


def iteration_files(items: list[str], option: str, example: str) -> dict[tuple[int, str], Path]:
    """``ITERATION:MODEL=FILE`` items -> ``{(iteration, model): file}``."""
    out = {}
    for key, path in named_files(items, option, "ITERATION:MODEL=FILE", example):
        i, colon, m = key.partition(":")
        if not (colon and i.isdigit() and m):
            raise DMTError(f"{option} takes ITERATION:MODEL=FILE items, e.g. {example}; got {key}={path}")
        out[int(i), m] = path
    return out
