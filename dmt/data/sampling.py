"""Difference-maximised sampling (paper Eq. 11): two equal sub-subsets with the least overlap."""

from __future__ import annotations

import random
from collections.abc import Sequence


def difference_maximized(ids: Sequence[str], alpha: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle ``ids`` with ``seed`` into R, then A = R[0 : alpha L], B = R[(1 - alpha) L : L].

    Both take round(alpha L) ids, so they share round((2 alpha - 1) L) of them (60% at 0.8).
    """
    if not 0.5 < alpha < 1:
        raise ValueError(f"difference-maximised sampling needs 0.5 < alpha < 1, got {alpha}")
    shuffled = list(ids)
    if len(set(shuffled)) != len(shuffled):
        raise ValueError("ids for difference-maximised sampling must be unique")
    random.Random(seed).shuffle(shuffled)
    size = round(alpha * len(shuffled))
    return shuffled[:size], shuffled[len(shuffled) - size:]
