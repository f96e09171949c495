"""The one exception type the CLI turns into a clear message and a non-zero exit."""


class DMTError(Exception):
    """A bad input or state the user can fix; the message says what and where."""
