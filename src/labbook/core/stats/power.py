"""How many seeds a difference needs: power of the t tests from the noncentral t.

For the smallest difference that matters (``detect``), the seeds per side the deciding
test (Welch's t, or the paired t) needs for 80% power, as a range from the SD estimate to
its one-sided 80% upper bound: a handful of seeds estimates the SD too roughly for one
number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from labbook.core.stats.common import ALPHA, Floats, float_or_array

POWER = 0.80
SD_UPPER = 0.80  # the one-sided level of the SD upper bound behind the seeds-needed range
SEEDS_CAP = 100_000


def _t_power(nc: Floats | float, df: Floats | float, alpha: float) -> Floats:
    """Power of a two-sided t test: P(|T| > crit) for T noncentral t (scipy.stats.nct's cdf)."""
    from scipy import special

    with np.errstate(invalid="ignore", divide="ignore"):
        crit = special.stdtrit(df, 1 - alpha / 2)
        out: Floats = 1 - special.nctdtr(df, nc, crit) + special.nctdtr(df, nc, -crit)  # type: ignore[assignment]
    return out


def power(effect: float, n: ArrayLike, alpha: float = ALPHA) -> Floats | float:
    """Power of a two-sided two-sample t test with n per side at standardised ``effect``."""
    ns = np.asarray(n, dtype=float)
    out = np.where(ns >= 2, _t_power(abs(effect) * np.sqrt(ns / 2), 2 * ns - 2, alpha), np.nan)
    return float_or_array(out)


def welch_df(var_a: float, var_b: float, n: ArrayLike) -> Floats | float:
    """Welch-Satterthwaite df with these variances and n values per side."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float_or_array((var_a + var_b) ** 2 * (ns - 1) / (var_a**2 + var_b**2))


def welch_power(
    diff: float, var_a: float, var_b: float, n: ArrayLike, alpha: float = ALPHA
) -> Floats | float:
    """Power of Welch's two-sided t test with n per side, at a true difference ``diff`` and
    these variances, Welch-Satterthwaite df included (equal variances: the pooled t's)."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = abs(diff) / np.sqrt((var_a + var_b) / ns)
    return float_or_array(np.where(ns >= 2, _t_power(nc, welch_df(var_a, var_b, ns), alpha), np.nan))


def paired_power(diff: float, sd: float, n: ArrayLike, alpha: float = ALPHA) -> Floats | float:
    """Power of the two-sided paired t test with n pairs whose differences have SD ``sd``."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = abs(diff) * np.sqrt(ns) / sd
    return float_or_array(np.where(ns >= 2, _t_power(nc, ns - 1, alpha), np.nan))


def _smallest_n(
    power_at: Callable[[Floats], Floats | float], start: float, target: float, cap: int
) -> int | None:
    """The smallest n ≥ ``start`` whose power reaches ``target``, scanning blocks of n
    (power grows with n); None past ``cap``."""
    if not math.isfinite(start):
        return None
    n = max(2, int(start))
    while n <= cap:
        ns = np.arange(n, min(cap, n + 7) + 1, dtype=float)
        reached = np.nonzero(np.asarray(power_at(ns)) >= target)[0]
        if len(reached):
            return int(ns[reached[0]])
        n = int(ns[-1]) + 1
    return None


def _z2(alpha: float, target: float) -> float:
    from scipy import special

    return float((special.ndtri(1 - alpha / 2) + special.ndtri(target)) ** 2)


def seeds_needed(
    effect: float, target: float = POWER, alpha: float = ALPHA, cap: int = SEEDS_CAP
) -> int | None:
    """Smallest n per side reaching ``target`` power at standardised ``effect`` (None past ``cap``)."""
    if not math.isfinite(effect) or effect == 0:
        return None
    # The normal approximation never asks for more than the t test needs: start just below it.
    start = 2 * _z2(alpha, target) / effect**2 - 1
    return _smallest_n(lambda ns: power(effect, ns, alpha), start, target, cap)


def welch_seeds_needed(
    diff: float, var_a: float, var_b: float, target: float = POWER, alpha: float = ALPHA, cap: int = SEEDS_CAP
) -> int | None:
    """Smallest n per side at which Welch's t test reaches ``target`` power (None past ``cap``)."""
    if not (math.isfinite(diff) and diff != 0 and var_a + var_b > 0):
        return None
    start = _z2(alpha, target) * (var_a + var_b) / diff**2 - 1
    return _smallest_n(lambda ns: welch_power(diff, var_a, var_b, ns, alpha), start, target, cap)


def pairs_needed(
    diff: float, sd: float, target: float = POWER, alpha: float = ALPHA, cap: int = SEEDS_CAP
) -> int | None:
    """Smallest number of pairs at which the paired t test reaches ``target`` power."""
    if not (math.isfinite(diff) and diff != 0 and sd > 0):
        return None
    start = _z2(alpha, target) * sd**2 / diff**2 - 1
    return _smallest_n(lambda ns: paired_power(diff, sd, ns, alpha), start, target, cap)


def sd_upper_factor(df: float, level: float = SD_UPPER) -> float:
    """sqrt(df / chi2.ppf(1 - level, df)): times a sample SD with ``df`` degrees of freedom,
    the one-sided ``level`` upper confidence bound of the true SD (normal noise)."""
    from scipy import special

    if not df > 0:
        return math.nan
    return math.sqrt(df / float(special.chdtri(df, level)))


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds per side (pairs, when paired) for 80% power to detect ``detect``: ``low`` at the
    SD estimate, ``high`` at its 80% upper bound (None: beyond the cap, 100,000)."""

    low: int | None
    high: int | None
    detect: float
    kind: str  # "detect" (the difference the user named) or "observed"


def seeds_needed_range(
    x: Floats, y: Floats, detect: float, kind: str, paired: bool = False, alpha: float = ALPHA
) -> SeedsNeeded | None:
    """The seeds per side the deciding test needs to detect ``detect`` at 80% power.

    Unpaired: Welch's t (the test that decides at 3 and from 10 runs; the permutation test
    between has nearly its power) with the two sample variances, Welch-Satterthwaite df at
    the planned n; the high end scales both variances by the 80% upper bound of the pooled
    variance (chi-square, na + nb - 2 df): sd * sqrt(df / chi2.ppf(0.2, df)). Paired: the
    paired t with the SD of the differences and its bound on n - 1 df. None when the values
    do not vary.
    """
    if paired:
        d = x - y
        if len(d) < 2 or not float(d.std(ddof=1)) > 0:
            return None
        sd = float(d.std(ddof=1))
        k = sd_upper_factor(len(d) - 1)
        low, high = pairs_needed(detect, sd, alpha=alpha), pairs_needed(detect, sd * k, alpha=alpha)
    else:
        if len(x) < 2 or len(y) < 2:
            return None
        va, vb = float(x.var(ddof=1)), float(y.var(ddof=1))
        if not va + vb > 0:
            return None
        k2 = sd_upper_factor(len(x) + len(y) - 2) ** 2
        low = welch_seeds_needed(detect, va, vb, alpha=alpha)
        high = welch_seeds_needed(detect, va * k2, vb * k2, alpha=alpha)
    return SeedsNeeded(low, high if low is not None else None, float(detect), kind)
