"""What the plan reads from outside the configuration, and its error: the user's local files
(checked to exist; a missing one is one line naming its config key) and the converted COCO init."""

from __future__ import annotations

import copy
import os

from dmt.data.registry import RAW_INPUTS

COCO_WEIGHTS = "resources/weights/deeplab_v2_coco.pt"


class PlanError(ValueError):
    """A configuration that cannot be run, or a target that does not exist; the message says why."""


def raw_input(config: dict, key: str, needed_by: str) -> str:
    """A local path from config (checked to exist), or a clear error naming the key to set."""
    path = config.get(key)
    if not path:
        raise PlanError(f"{needed_by} needs {RAW_INPUTS[key]}: set it with --config {key}=/path "
                        f"(or `{key}:` in config/config.yaml)")
    if not os.path.exists(path):
        raise PlanError(f"{key}={path} (needed by {needed_by}) does not exist; expected {RAW_INPUTS[key]}")
    return path


def merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, nested dicts merged key by key (an experiment's or a
    pre-training's keys over the configuration's ``defaults``)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
