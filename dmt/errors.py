"""The one exception type the CLI turns into a clear message and a non-zero exit."""


class DMTError(Exception):
    """A bad input or state the user can fix; the message says what and where."""


class UnsafeFile(DMTError):
    """A file refused because loading it could run code (a pickle that is more than tensors and
    plain data); never ignored, unlike a merely unreadable checkpoint."""


class NonFiniteOutput(DMTError):
    """A model produced NaN or inf logits; the caller, who knows the model's file, names it."""
