"""Effect sizes printed beside the p-value: P(a run of A beats one of B) and Hedges' g."""

from __future__ import annotations

import math

from numpy.typing import ArrayLike

from labbook.core.stats.common import Floats, flat_values


def superiority(a: ArrayLike, b: ArrayLike, higher_is_better: bool = True) -> float:
    """P(a random value of A beats one of B) by the goal, ties counted half: the
    Mann-Whitney U of A (of B, when lower is better) over na * nb."""
    x, y = flat_values(a), flat_values(b)
    wins = x[:, None] > y[None, :] if higher_is_better else x[:, None] < y[None, :]
    eq = (x[:, None] == y[None, :]).sum()
    return float((wins.sum() + 0.5 * eq) / (len(x) * len(y)))


def hedges_g(a: ArrayLike, b: ArrayLike) -> float:
    """Hedges' g: Cohen's d (pooled SD) times the small-sample correction 1 - 3/(4(na+nb)-9)."""
    x, y = flat_values(a), flat_values(b)
    pooled = _pooled_sd(x, y)
    if not pooled > 0:
        return math.nan
    d = (x.mean() - y.mean()) / pooled
    na, nb = len(x), len(y)
    return float(d * (1 - 3 / (4 * (na + nb) - 9)))


def _pooled_sd(x: Floats, y: Floats) -> float:
    na, nb = len(x), len(y)
    if na + nb < 3:
        return math.nan
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return math.sqrt(ss / (na + nb - 2))
