"""The configuration as the workflow reads it: strict YAML, the JSON schema, one-line messages.

Snakemake loads ``config/config.yaml`` (and every ``--configfile``) itself, with a YAML reader
that keeps the last of two equal keys and expands aliases without limit. ``check_files`` reads the
same files again, strictly, before anything uses the configuration: a key given twice in one
mapping is an error naming both lines, and aliases (``&name`` / ``*name``, ``<<: *name`` merges)
may expand to at most ``MAX_EXPANDED_NODES`` values, so that a "billion laughs" file is refused in
milliseconds instead of filling the memory of whatever walks it. ``validate`` checks the merged
configuration against ``workflow/schemas/config.schema.yaml`` and reports the first problem as one
line naming the key path and what it accepts; it never prints the configuration or the schema.

Runtime knobs (``RUNTIME_KNOBS``: where jobs run, not what they compute) may also be given at the
top level, e.g. ``--config device=cuda``; ``apply_runtime_knobs`` moves them onto every experiment.
"""

from __future__ import annotations

import re
import reprlib
from pathlib import Path

import yaml

from dmt.errors import DMTError

# Values (scalars, list items, mapping entries) a file's aliases may expand to. The repository's
# config.yaml expands to ~1,500; nine nested anchors of nine aliases each expand to 9^9.
MAX_EXPANDED_NODES = 200_000
# Top-level keys that apply to every experiment: they choose where and how fast jobs run.
RUNTIME_KNOBS = ("device", "threads", "num_workers")


class ConfigError(DMTError):
    """A configuration file or value that cannot be used; the message names the file or key."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (merges excepted)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: PyYAML's own error says so
                break
            if first != key_node.start_mark.line + 1:
                raise ConfigError(f"{self.name}: key {key!r} is given twice in one mapping (lines {first} "
                                  f"and {key_node.start_mark.line + 1}); keep one")
        return super().construct_mapping(node, deep)


def _expanded_size(node, sizes: dict) -> int:
    """Values ``node`` stands for once every alias is expanded, counted once per distinct node."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once, not forever
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def load_yaml(path) -> object:
    """The YAML (or JSON) file at ``path``, strictly: duplicate keys and alias bombs are errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not readable ({e})") from None
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_EXPANDED_NODES:
            raise ConfigError(f"{path}: its aliases (&name / *name) expand to {size:,} values, more than "
                              f"{MAX_EXPANDED_NODES:,}; write the values out or use fewer nested aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    finally:
        loader.dispose()


def check_files(paths) -> None:
    """Read every configuration file strictly (see ``load_yaml``); the first problem is raised."""
    for path in paths:
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys at its top level")


def apply_runtime_knobs(config: dict) -> dict:
    """Top-level runtime knobs (``--config device=cpu``) set on ``defaults`` and every experiment."""
    knobs = {k: config.pop(k) for k in RUNTIME_KNOBS if k in config}
    if knobs:
        if isinstance(config.get("defaults"), dict):
            config["defaults"].update(knobs)
        for exp in (config.get("experiments") or {}).values():
            if isinstance(exp, dict):
                exp.update(knobs)
    return config


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _short(value) -> str:
    """A value as it would be written, cut short: a bad value may be huge (expanded aliases)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlist = short.maxdict = 4
    short.maxlevel = 2
    return short.repr(value)


def _allowed(error) -> str:
    """What the failing schema rule accepts, in words."""
    schema = error.schema
    rule, value = error.validator, error.validator_value
    if rule in ("enum", "const", "pattern"):
        return _describe(schema)
    if rule == "type":
        return " or ".join(value) if isinstance(value, list) else value
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"a number {words[rule]} {value}"
    if rule in ("minItems", "maxItems"):
        return f"a list of {'at least' if rule == 'minItems' else 'at most'} {value} items"
    if rule in ("anyOf", "oneOf"):
        return schema.get("description") or "; or ".join(_describe(s) for s in value)
    return schema.get("description") or error.message[:200]


def _describe(schema: dict) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "const" in schema:
        return repr(schema["const"])
    if "pattern" in schema:
        return schema.get("description") or f"a string matching {schema['pattern']}"
    kind = schema.get("type", "a value")
    return schema.get("description") or (" or ".join(kind) if isinstance(kind, list) else str(kind))


def format_error(error, where: str) -> str:
    """One line for a jsonschema ValidationError: the key path, the value (shortened), what is accepted."""
    path = _key_path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        patterns = sorted(error.schema.get("patternProperties", {}))
        unknown = [k for k in extra if not any(re.search(p, str(k)) for p in patterns)]
        hint = f"; keys here: {', '.join(allowed)}" if allowed else ""
        if path == "(top level)" and any(k in RUNTIME_KNOBS for k in unknown):
            hint += f"; runtime knobs ({', '.join(RUNTIME_KNOBS)}) may be given at the top level"
        return f"{where}: unknown key {', '.join(map(repr, unknown or extra))} at {path}{hint}"
    if error.validator == "required":
        return f"{where}: {path} is missing {error.message.split(' is a required')[0]}"
    if error.validator == "propertyNames":
        return f"{where}: name {_short(error.instance)} at {path} is not allowed: {_allowed(error)}"
    return f"{where}: {path} = {_short(error.instance)} is not valid; expected {_allowed(error)}"


def validate(config: dict, schema_path, where: str = "config") -> None:
    """``config`` against the schema at ``schema_path``; the first problem as one ConfigError line."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(format_error(error, where))
