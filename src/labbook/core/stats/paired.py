"""Aligned values (the same seeds, or the same example ids, on both sides).

The paired t interval of the mean difference and the paired t p-value (a BCa bootstrap
covers only 86-93% below 40 pairs on normal data); McNemar's test for 0/1 scores, an
exact binomial below 25 discordant pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labbook.core.stats.common import LEVEL, Floats, flat_values
from labbook.core.stats.intervals import t_interval
from labbook.core.stats.tests import Tested

EXACT_MCNEMAR = 25  # below this many discordant pairs, McNemar is an exact binomial test


def paired_t(d: ArrayLike, level: float = LEVEL) -> Tested:
    """The paired t test and interval of the mean difference, per row of differences ``d``.

    The t interval, not a bootstrap: on normal differences a BCa bootstrap covers 86% at
    6 pairs and 93% at 20-40, the t interval 95% at every n. Its p-value is the t test's,
    so that test and interval always agree. Differences that do not vary give p = 1 (all
    zero) or 0, and the interval [mean, mean].
    """
    from scipy import special

    x = np.asarray(d, dtype=float)
    n = x.shape[-1]
    mean = x.mean(axis=-1)
    low, high = t_interval(x, level)
    sd = x.std(axis=-1, ddof=1) if n > 1 else np.full_like(mean, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / math.sqrt(n))
        p = 2 * special.stdtr(n - 1, -np.abs(t)) if n > 1 else np.full_like(mean, np.nan)
    flat = (sd == 0) & (n > 1)
    p = np.where(flat, np.where(mean == 0, 1.0, 0.0), p)
    low, high = np.where(flat, mean, low), np.where(flat, mean, high)
    test = np.full(mean.shape, "paired t")
    return Tested(mean, low, high, p, test, test)


def paired_t_p(d: Floats) -> float:
    """Two-sided p of the paired t test on differences ``d`` (1 or 0 when they do not vary)."""
    return float(paired_t(flat_values(d)).p)


@dataclass(frozen=True)
class McNemar:
    a_only: int  # A right, B wrong
    b_only: int
    p: float
    exact: bool


def mcnemar(a: ArrayLike, b: ArrayLike) -> McNemar:
    """McNemar's test on paired 0/1 scores: exact binomial below 25 discordant pairs,
    else the chi-square with continuity correction."""
    from labbook.core import failstats

    x, y = flat_values(a).astype(bool), flat_values(b).astype(bool)
    a_only = int(np.sum(x & ~y))
    b_only = int(np.sum(~x & y))
    test = failstats.mcnemar(b_only, a_only)
    exact = a_only + b_only < EXACT_MCNEMAR
    return McNemar(a_only, b_only, test.p_exact if exact else test.p_asymptotic, exact)
