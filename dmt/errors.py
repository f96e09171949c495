"""The one exception type the CLI turns into a clear message and a non-zero exit."""

from __future__ import annotations

import contextlib
import re

# torch re-raises an exception of a DataLoader worker process (or of its pin-memory thread) in the
# main process as the same type built from one string, the worker's whole traceback
# (torch.utils._utils.ExceptionWrapper.reraise): "Caught DMTError in DataLoader worker process 0.
# \nOriginal Traceback (most recent call last):\n ... \ndmt.errors.DMTError: <the message>\n".
_RERAISED = re.compile(r"Caught \w+ in [^\n]*\.\nOriginal Traceback \(most recent call last\):\n")


def unwrapped(message: str, kind: type) -> str | None:
    """The original message of an exception of type ``kind`` that torch re-raised from a worker
    with ``message``; None where ``message`` is not in that form."""
    if not _RERAISED.match(message):
        return None
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):  # as the traceback module names the type
        name = f"{kind.__module__}.{name}"
    _, found, original = message.rpartition(f"\n{name}: ")  # the last: chained causes come first
    return original.rstrip("\n") if found else None


class DMTError(Exception):
    """A bad input or state the user can fix; the message says what and where."""

    def __init__(self, *args):
        # Raised in a DataLoader worker, the error reaches the main process as DMTError(<the
        # worker's traceback>): keep the worker's own message, the one line the user must see,
        # whoever catches it (the CLI, a caller that names the model's file, a test).
        if len(args) == 1 and isinstance(args[0], str):
            args = (unwrapped(args[0], type(self)) or args[0],)
        super().__init__(*args)


class UnsafeFile(DMTError):
    """A file refused because loading it could run code (a pickle that is more than tensors and
    plain data); never ignored, unlike a merely unreadable checkpoint."""


class NonFiniteOutput(DMTError):
    """A model produced NaN or inf logits; the caller, who knows the model's file, names it."""


@contextlib.contextmanager
def blame_model(model_path):
    """A model's NaN or infinite output is an error naming its file, never a score or labels."""
    try:
        yield
    except NonFiniteOutput as e:
        raise DMTError(f"{model_path}: {e}; retrain it: snakemake --forcerun {model_path}") from None
