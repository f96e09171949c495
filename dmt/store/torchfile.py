"""The one way this package reads a torch file (a model, a checkpoint, pretrained weights):
``torch.load(weights_only=True)`` on the CPU, so a pickle naming code is refused before any of it
runs, and every failure is one DMTError naming the file.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from dmt.errors import DMTError, UnsafeFile


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def read_torch_file(path, what: str, *, zip_only: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure one DMTError naming
    ``path``: UnsafeFile where the pickle names code. ``zip_only``: refuse anything but the zip
    format torch.save has written since 1.6 (this package's own files), e.g. a text file."""
    path = Path(path)
    if not path.is_file():
        raise DMTError(f"{what} {path} does not exist")
    if zip_only and not zipfile.is_zipfile(path):
        raise DMTError(f"{path} is not a {what}: not a file written by torch.save (a text file, "
                       f"another format, or truncated)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's remark on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only stops at the first thing that is not plain data: a global (a function or
        # class, which is how a pickle runs code) or an opcode it does not take (other bytes).
        named = re.search(r"GLOBAL ([\w.]+)", str(e))
        if named is None:
            raise DMTError(f"cannot read {what} {path}: not a file torch.load can read without "
                           f"running code (corrupt, or another format)") from None
        raise UnsafeFile(f"{path} is refused: it holds objects other than tensors and plain data "
                         f"({named.group(1)}), and loading them could run code; use only files "
                         f"made by dmt or by people you trust") from None
    except Exception as e:  # noqa: BLE001 - the zip and pickle readers raise anything on a damaged file
        raise DMTError(f"cannot read {what} {path}: {_first_line(e)} (truncated, corrupt, or not a "
                       f"torch file)") from None
