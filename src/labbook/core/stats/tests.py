"""Two independent samples: Welch's interval of the difference, and the test that decides.

The p-value comes from Welch's t when both sides have at least ``SMALL_N`` values and
look normal, else from a permutation test (exact when the splits are few), except when
the runs are too few for any permutation p-value to reach the level it must reach
(alpha, or alpha / m under Holm's adjustment over m tests): then Welch's t again, and
``verdict.py`` notes that it assumes normal noise. Vectorised over rows, for simulation.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.core.stats.common import ALPHA, LEVEL, Floats, float_or_array
from labbook.core.stats.shape import NON_NORMAL_P, shapiro_p

SMALL_N = 10  # below this many values on a side, p-values come from a permutation test
RESAMPLES = 9999
SEED = 0  # resampling is seeded: the same runs always give the same numbers


@dataclass(frozen=True)
class Welch:
    diff: Floats | float
    low: Floats | float
    high: Floats | float
    t: Floats | float
    df: Floats | float
    p: Floats | float


def welch(a: ArrayLike, b: ArrayLike, level: float = LEVEL, axis: int = -1) -> Welch:
    """Welch's t test of mean(a) - mean(b) and its CI; vectorised along ``axis``."""
    from scipy import special

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = x.shape[axis], y.shape[axis]
    va, vb = x.var(axis=axis, ddof=1) / na, y.var(axis=axis, ddof=1) / nb
    se = np.sqrt(va + vb)
    diff = x.mean(axis=axis) - y.mean(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        t = diff / se
        p = 2 * special.stdtr(df, -np.abs(t))
        half = special.stdtrit(df, 0.5 + level / 2) * se
    if np.ndim(diff) == 0:
        return Welch(float(diff), float(diff - half), float(diff + half), float(t), float(df), float(p))
    return Welch(diff, diff - half, diff + half, t, df, p)


def _mean_diff(x: Floats, y: Floats, axis: int = -1) -> Floats:
    out: Floats = np.mean(x, axis=axis) - np.mean(y, axis=axis)
    return out


@functools.cache
def _splits(na: int, nb: int) -> NDArray[np.bool_]:
    """Every way to choose which of na + nb pooled values form side A, as a boolean mask."""
    combos = np.array(list(itertools.combinations(range(na + nb), na)), dtype=np.intp)
    mask = np.zeros((len(combos), na + nb), dtype=bool)
    mask[np.arange(len(combos))[:, None], combos] = True
    return mask


def permutation_p(a: ArrayLike, b: ArrayLike, axis: int = -1) -> Floats | float:
    """Two-sided permutation p-value of the difference of means; vectorised along ``axis``.

    Exact (every split of the pooled values) when there are at most 9999 splits, computed
    here over all rows at once with scipy's own two-sided rule; else scipy's seeded
    Monte Carlo ``permutation_test``.
    """
    x = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    y = np.moveaxis(np.asarray(b, dtype=float), axis, -1)
    na, nb = x.shape[-1], y.shape[-1]
    if math.comb(na + nb, na) > RESAMPLES:
        from scipy import stats

        res = stats.permutation_test(
            (x, y), _mean_diff, vectorized=True, n_resamples=RESAMPLES, axis=-1, random_state=SEED
        )
        return float_or_array(np.asarray(res.pvalue, dtype=float))
    mask = _splits(na, nb).astype(float)
    pooled = np.concatenate([x, y], axis=-1)
    total = pooled.sum(axis=-1, keepdims=True)
    in_a = pooled @ mask.T  # sum of the values put on side A, per split
    null = in_a / na - (total - in_a) / nb
    observed = x.mean(axis=-1) - y.mean(axis=-1)
    gamma = np.abs(np.finfo(float).eps * 100 * observed)[..., None]
    less = (null <= observed[..., None] + gamma).mean(axis=-1)
    greater = (null >= observed[..., None] - gamma).mean(axis=-1)
    return float_or_array(np.minimum(1.0, 2 * np.minimum(less, greater)))


def permutation_floor(na: int, nb: int) -> float:
    """The smallest two-sided p-value a permutation test of na vs nb values can give:
    2 / (number of splits) when exact, 2 / (resamples + 1) for the Monte Carlo one."""
    splits = math.comb(na + nb, na)
    return 2 / splits if splits <= RESAMPLES else 2 / (RESAMPLES + 1)


WELCH = "welch"
TOO_FEW = "welch (too few runs for a permutation test)"
PERMUTATION = "permutation"


def choose_tests(a: ArrayLike, b: ArrayLike, reach: float = ALPHA) -> NDArray[np.str_]:
    """Per row (the last axis holds the values): Welch's t for enough normal-looking values;
    a permutation test when n is small or the values are skewed.

    Except when the runs are so few that no split of them gives a permutation p-value
    below ``reach``, the level it must reach (alpha; alpha / m as the first step of Holm's
    adjustment over m tests): 3 vs 3 has 20 splits, so p ≥ 0.1; 5 vs 5 has 252, so
    p ≥ 0.0079, out of reach of Holm over 7 tests. That test could never find anything;
    Welch's t, which assumes normal noise between seeds, is used instead.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = x.shape[-1], y.shape[-1]
    shape = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    if min(na, nb) >= SMALL_N:
        skewed = (shapiro_p(x) < NON_NORMAL_P) | (shapiro_p(y) < NON_NORMAL_P)
        normal = np.broadcast_to(~np.asarray(skewed), shape)
    else:
        normal = np.zeros(shape, dtype=bool)
    fallback = TOO_FEW if permutation_floor(na, nb) >= reach else PERMUTATION
    return np.where(normal, WELCH, fallback)


def choose_test(a: Floats, b: Floats, alpha: float = ALPHA) -> str:
    """``choose_tests`` for one pair of samples; ``alpha`` is the level the p-value must reach."""
    return str(choose_tests(a, b, alpha))


@dataclass(frozen=True)
class Tested:
    """A test and its CI over many rows at once: what ``compare`` decides from."""

    diff: Floats
    low: Floats
    high: Floats
    p: Floats
    test: NDArray[np.str_]  # the name printed for each row
    choice: NDArray[np.str_]  # for unpaired rows: WELCH, TOO_FEW or PERMUTATION


def unpaired(a: ArrayLike, b: ArrayLike, reach: float = ALPHA, level: float = LEVEL) -> Tested:
    """Welch's CI and the chosen test's p of mean(a) - mean(b), per row (values on the last axis)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    shape = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    x, y = np.broadcast_to(x, (*shape, x.shape[-1])), np.broadcast_to(y, (*shape, y.shape[-1]))
    w = welch(x, y, level)
    diff = np.asarray(w.diff, dtype=float)
    choice = choose_tests(x, y, reach)
    p = np.array(w.p, dtype=float, copy=True)
    rows = choice == PERMUTATION
    if rows.any():
        p[rows] = permutation_p(x[rows], y[rows])
    flat = (np.ptp(x, axis=-1) == 0) & (np.ptp(y, axis=-1) == 0)
    test = np.where(rows, "permutation (difference of means)", "Welch's t")
    test = np.where(flat, "none (no variation on either side)", test)
    p = np.where(flat, np.where(diff == 0, 1.0, 0.0), p)
    low = np.where(flat, diff, np.asarray(w.low, dtype=float))
    high = np.where(flat, diff, np.asarray(w.high, dtype=float))
    return Tested(diff, low, high, p, test, choice)
