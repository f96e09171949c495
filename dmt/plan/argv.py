"""Options -> argv: the plan and the report's plan return a command's options as a dict, and the
rules render it here, so that every option name is spelt once (``--batch-size`` is the key
``batch_size``) and every value becomes separate, quoted argv items."""

from __future__ import annotations

from dmt.items import items


def option(name: str) -> str:
    """The command-line spelling of an option key: ``pad_to`` -> ``--pad-to``."""
    return "--" + name.replace("_", "-")


def flags(options: dict) -> list[str]:
    """``{"batch_size": 8, "pad_to": [321, 321], "no_amp": True, "models": {"5:A": "m.pt"}}`` ->
    ``["--batch-size", "8", "--pad-to", "321", "321", "--no-amp", "--models", "5:A=m.pt"]``.

    True is a bare switch; False and None leave the option out (an unset list, a switch that is
    off); a list or tuple gives its items after the option (``nargs``), a dict its ``KEY=FILE``
    items. Every item is a str: the rules quote each one, so no value reaches a shell unquoted."""
    out: list[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        out.append(option(name))
        if value is True:
            continue
        if isinstance(value, dict):
            out += items(value)
        elif isinstance(value, (list, tuple)):
            out += [str(v) for v in value]
        else:
            out.append(str(value))
    return out
