"""Honest statistics for a handful of seeds: pure functions on numpy arrays, no storage.

Researchers compare 3 to 10 runs per side, where normal approximations lie. So:

- the CI of a mean is Student's t (``t_interval``), whatever the shape: a BCa bootstrap
  was tried for clearly non-normal samples and covered no better on lognormal seeds
  (within a point) and far worse with an outlier (75% against the t's 99.8% at n = 10).
  Beside it: the median with a distribution-free interval (order statistics, with its
  exact coverage), and a *shape note* when a side looks skewed or holds an outlier
  (Shapiro-Wilk p < 0.05, from 3 values on), where the mean's CI covers less than it says;
- the difference of two means gets Welch's t interval (no equal-variance assumption);
  its p-value comes from Welch's t when both sides have at least ``SMALL_N`` values and
  look normal, else from a permutation test (exact when the permutations are few), except
  when the runs are too few for any permutation p-value to reach the level it must reach
  (alpha, or alpha / m under Holm's adjustment over m tests): then Welch's t again, with a
  note saying it assumes normal noise;
- aligned values (the same seeds, or the same example ids, on both sides) get the paired
  t interval of the mean difference and the paired t p-value (a BCa bootstrap covers only
  86-93% below 40 pairs on normal data); McNemar's test (exact binomial below 25
  discordant pairs) for 0/1 scores;
- "better" needs p < alpha *and* a CI that excludes 0; when they disagree, nothing is
  claimed and the verdict says which said what, and why they can differ;
- beside the p-value: the probability that a random run of A beats one of B by the goal
  (ties count half, the Mann-Whitney U over ``na * nb``), and Hedges' g;
- seeds needed: for the smallest difference that matters (``detect``), the seeds per side
  the deciding test (Welch's t, or the paired t) needs for 80% power, from the noncentral
  t, as a range from the SD estimate to its one-sided 80% upper bound;
- several metrics: one is primary, the others secondary (``family_calls``); many
  variants against one baseline: Holm (``holm_calls``).

scipy is imported inside the functions that need it. Every function is checked against
scipy or statsmodels on the same inputs, and its error rates by simulation, in
``tests/test_stats.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.errors import BadInput

LEVEL = 0.95
ALPHA = 0.05
POWER = 0.80
SMALL_N = 10  # below this many values on a side, p-values come from a permutation test
NORMAL_CHECK_N = 8  # Shapiro-Wilk moves a test from Welch to permutation only from this many values on
NON_NORMAL_P = 0.01
SHAPE_P = 0.05  # Shapiro-Wilk p below which a side gets a shape note (5% false alarms on normal data)
SD_UPPER = 0.80  # the one-sided level of the SD upper bound behind the seeds-needed range
EXACT_MCNEMAR = 25  # below this many discordant pairs, McNemar is an exact binomial test
RESAMPLES = 9999
SEED = 0  # resampling is seeded: the same runs always give the same numbers
SEEDS_CAP = 100_000

Floats = NDArray[np.float64]


def _values(x: ArrayLike, what: str = "values") -> Floats:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise BadInput(f"{what} must be a flat list of numbers")
    return a


def _out(x: Floats) -> Floats | float:
    """A 0-d result as a float, anything else as the array."""
    return x if np.ndim(x) else float(x)


# -- one sample ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """n, mean, std (n - 1) and a CI of the mean; ``method`` names how the CI was made.

    Also the median with its distribution-free interval (``median_level`` is its exact
    coverage), and ``shape_note`` when the values look skewed or hold an outlier.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    method: str  # "t", or "none" (n < 2)
    level: float = LEVEL
    median: float = math.nan
    median_low: float = math.nan
    median_high: float = math.nan
    median_level: float = math.nan
    shape_note: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_low": self.low,
            "ci_high": self.high,
            "ci_method": self.method,
            "level": self.level,
            "median": self.median,
            "median_ci": [self.median_low, self.median_high],
            "median_ci_level": self.median_level,
            "shape_note": self.shape_note,
        }


def t_interval(x: ArrayLike, level: float = LEVEL, axis: int = -1) -> tuple[Floats, Floats]:
    """Student-t CI of the mean along ``axis`` (NaN where n < 2); vectorised for simulation."""
    from scipy import special  # type: ignore[import-untyped,unused-ignore]

    a = np.asarray(x, dtype=float)
    n = a.shape[axis]
    mean = a.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return nan, nan
    sem = a.std(axis=axis, ddof=1) / math.sqrt(n)
    half = special.stdtrit(n - 1, 0.5 + level / 2) * sem
    return mean - half, mean + half


def _poly(c: tuple[float, ...], x: float) -> float:
    return sum(ci * x**i for i, ci in enumerate(c))


@functools.cache
def _swilk_weights(n: int) -> Floats:
    """The Shapiro-Wilk coefficients a (antisymmetric) by Royston's approximation (AS R94)."""
    from scipy import special

    if n == 3:
        return np.array([-math.sqrt(0.5), 0.0, math.sqrt(0.5)])
    m = np.asarray(special.ndtri((np.arange(1, n + 1) - 0.375) / (n + 0.25)), dtype=float)
    summ2 = float(np.sum(m**2))
    rsn = 1 / math.sqrt(n)
    a1 = _poly((0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056), rsn) - m[0] / math.sqrt(summ2)
    if n > 5:
        a2 = _poly((0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633), rsn) - m[1] / math.sqrt(summ2)
        fac = math.sqrt((summ2 - 2 * m[0] ** 2 - 2 * m[1] ** 2) / (1 - 2 * a1**2 - 2 * a2**2))
        a = m / fac
        a[0], a[1] = -a1, -a2
    else:
        fac = math.sqrt((summ2 - 2 * m[0] ** 2) / (1 - 2 * a1**2))
        a = m / fac
        a[0] = -a1
    half = n // 2
    a[n - half :] = -a[:half][::-1]
    if n % 2:
        a[half] = 0.0
    return a


def _swilk_p(w: Floats, n: int) -> Floats:
    """Royston's normalising transformation of W to a p-value (AS R94)."""
    from scipy import special

    if n == 3:  # exact
        out: Floats = np.clip((6 / math.pi) * (np.arcsin(np.sqrt(w)) - math.pi / 3), 0.0, 1.0)
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        w1 = np.log(1 - w)
        if n <= 11:
            gamma = _poly((-2.273, 0.459), n)
            y = -np.log(gamma - w1)
            mean, sd = (
                _poly((0.5440, -0.39978, 0.025054, -6.714e-4), n),
                math.exp(_poly((1.3822, -0.77857, 0.062767, -0.0020322), n)),
            )
            return np.where(w1 >= gamma, 1e-19, special.ndtr((mean - y) / sd))
        xx = math.log(n)
        mean = _poly((-1.5861, -0.31082, -0.083751, 0.0038915), xx)
        sd = math.exp(_poly((-0.4803, -0.082676, 0.0030302), xx))
        out = special.ndtr((mean - w1) / sd)
        return out


def shapiro_p(x: ArrayLike, axis: int = -1) -> Floats | float:
    """Shapiro-Wilk p along ``axis``; NaN below 3 values or when they are all equal.

    Royston's algorithm (AS R94, what scipy.stats.shapiro runs) in numpy, so that a
    comparison does not import scipy.stats (over a second on a slow machine); checked
    against scipy.stats.shapiro in the tests.
    """
    a = np.sort(np.moveaxis(np.asarray(x, dtype=float), axis, -1), axis=-1)
    n = a.shape[-1]
    if n < 3:
        return _out(np.full(a.shape[:-1], np.nan))
    ss = ((a - a.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    flat = np.ptp(a, axis=-1) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.minimum((a @ _swilk_weights(n)) ** 2 / ss, 1.0)
    return _out(np.where(flat, np.nan, _swilk_p(w, n)))


def looks_non_normal(x: ArrayLike) -> bool:
    """Clearly not normal: ≥ 8 values, not all equal, and Shapiro-Wilk p < 0.01."""
    a = _values(x)
    return len(a) >= NORMAL_CHECK_N and bool(shapiro_p(a) < NON_NORMAL_P)


def looks_misshapen(p_shapiro: ArrayLike) -> NDArray[np.bool_] | bool:
    """The shape-note rule: Shapiro-Wilk p < 0.05 (from 3 values on).

    Chosen by simulation over n = 3..10: it fires on 5% of normal samples whatever n
    (a robust z > 3.5 fires on 13-29% of them), on 86% of 5-seed samples with one seed
    10 SD off, and on 24% (n = 5) to 62% (n = 10) of lognormal ones
    (``benchmarks/bench_stats.py``).
    """
    out = np.asarray(p_shapiro, dtype=float) < SHAPE_P
    return out if out.ndim else bool(out)


@functools.cache
def median_ranks(n: int, level: float = LEVEL) -> tuple[int, float]:
    """(k, coverage): [x_(k), x_(n+1-k)] is the narrowest order-statistic interval of the
    median covering at least ``level``, with its exact coverage 1 - 2·P(Bin(n, ½) < k).

    When even [min, max] covers less (n ≤ 5 at 95%: 93.75% at n = 5), it is [min, max]
    with that coverage: the best the data can promise without assuming a shape.
    """
    from scipy import special

    if n < 2:
        return 1, math.nan
    best = 1
    for k in range(1, n // 2 + 1):
        if 1 - 2 * float(special.bdtr(k - 1, n, 0.5)) >= level:
            best = k
    return best, 1 - 2 * float(special.bdtr(best - 1, n, 0.5))


def median_interval(
    x: ArrayLike, level: float = LEVEL, axis: int = -1
) -> tuple[Floats, Floats, Floats, float]:
    """(median, low, high, exact coverage) of the distribution-free median CI; vectorised."""
    a = np.sort(np.moveaxis(np.asarray(x, dtype=float), axis, -1), axis=-1)
    n = a.shape[-1]
    med = np.median(a, axis=-1)
    k, coverage = median_ranks(n, level)
    if n < 2:
        nan = np.full_like(med, np.nan)
        return med, nan, nan, math.nan
    return med, a[..., k - 1], a[..., n - k], coverage


def _ci_name(method: str) -> str:
    return {"t": "t"}.get(method, method)


def shape_note(p_shapiro: float, method: str = "t", level: float = LEVEL) -> str | None:
    """The note beside a CI whose nominal coverage the values' shape puts in doubt."""
    if not looks_misshapen(p_shapiro):
        return None
    return (
        f"looks skewed or has an outlier (Shapiro-Wilk p = {p_shapiro:.2g} < {SHAPE_P:g}): "
        f"the {_ci_name(method)} CI's {level:.0%} coverage is doubtful"
    )


def describe(x: ArrayLike, level: float = LEVEL) -> Summary:
    """Mean, std and the CI that is right for this n, and the median with its interval
    (NaN values must be dropped first)."""
    a = _values(x)
    n = len(a)
    if n == 0:
        raise BadInput("no values to summarise")
    mean = float(a.mean())
    med, m_low, m_high, m_level = median_interval(a, level)
    robust = (float(med), float(m_low), float(m_high), m_level)
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan, "none", level, *robust)
    std = float(a.std(ddof=1))
    if std == 0:
        return Summary(n, mean, 0.0, mean, mean, "t", level, *robust)
    sw = float(shapiro_p(a))
    lo_, hi_ = t_interval(a, level)
    return Summary(n, mean, std, float(lo_), float(hi_), "t", level, *robust, shape_note(sw, "t", level))


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (stays inside [0, 1], honest for small n)."""
    if n <= 0 or not 0 <= k <= n:
        raise BadInput(f"a proportion needs 0 <= k <= n and n > 0, got {k}/{n}")
    from scipy import special

    from labbook.core import failstats

    return failstats.wilson(k, n, float(special.ndtri(0.5 + level / 2)))


# -- two samples -----------------------------------------------------------------------


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
        return _out(np.asarray(res.pvalue, dtype=float))
    mask = _splits(na, nb).astype(float)
    pooled = np.concatenate([x, y], axis=-1)
    total = pooled.sum(axis=-1, keepdims=True)
    in_a = pooled @ mask.T  # sum of the values put on side A, per split
    null = in_a / na - (total - in_a) / nb
    observed = x.mean(axis=-1) - y.mean(axis=-1)
    gamma = np.abs(np.finfo(float).eps * 100 * observed)[..., None]
    less = (null <= observed[..., None] + gamma).mean(axis=-1)
    greater = (null >= observed[..., None] - gamma).mean(axis=-1)
    return _out(np.minimum(1.0, 2 * np.minimum(less, greater)))


def permutation_floor(na: int, nb: int) -> float:
    """The smallest two-sided p-value a permutation test of na vs nb values can give:
    2 / (number of splits) when exact, 2 / (resamples + 1) for the Monte Carlo one."""
    splits = math.comb(na + nb, na)
    return 2 / splits if splits <= RESAMPLES else 2 / (RESAMPLES + 1)


def superiority(a: ArrayLike, b: ArrayLike, higher_is_better: bool = True) -> float:
    """P(a random value of A beats one of B) by the goal, ties counted half: the
    Mann-Whitney U of A (of B, when lower is better) over na * nb."""
    x, y = _values(a), _values(b)
    wins = x[:, None] > y[None, :] if higher_is_better else x[:, None] < y[None, :]
    eq = (x[:, None] == y[None, :]).sum()
    return float((wins.sum() + 0.5 * eq) / (len(x) * len(y)))


def hedges_g(a: ArrayLike, b: ArrayLike) -> float:
    """Hedges' g: Cohen's d (pooled SD) times the small-sample correction 1 - 3/(4(na+nb)-9)."""
    x, y = _values(a), _values(b)
    pooled = _pooled_sd(x, y)
    if not pooled > 0:
        return math.nan
    d = (x.mean() - y.mean()) / pooled
    na, nb = len(x), len(y)
    return float(d * (1 - 3 / (4 * (na + nb) - 9)))


# -- which test, vectorised ---------------------------------------------------------------

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
    return float(paired_t(_values(d)).p)


# -- paired ----------------------------------------------------------------------------


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

    x, y = _values(a).astype(bool), _values(b).astype(bool)
    a_only = int(np.sum(x & ~y))
    b_only = int(np.sum(~x & y))
    test = failstats.mcnemar(b_only, a_only)
    exact = a_only + b_only < EXACT_MCNEMAR
    return McNemar(a_only, b_only, test.p_exact if exact else test.p_asymptotic, exact)


# -- power -----------------------------------------------------------------------------


def _t_power(nc: ArrayLike, df: ArrayLike, alpha: float) -> Floats:
    """Power of a two-sided t test: P(|T| > crit) for T noncentral t (scipy.stats.nct's cdf)."""
    from scipy import special

    with np.errstate(invalid="ignore", divide="ignore"):
        crit = special.stdtrit(df, 1 - alpha / 2)
        out: Floats = 1 - special.nctdtr(df, nc, crit) + special.nctdtr(df, nc, -crit)
    return out


def power(effect: float, n: ArrayLike, alpha: float = ALPHA) -> Floats | float:
    """Power of a two-sided two-sample t test with n per side at standardised ``effect``."""
    ns = np.asarray(n, dtype=float)
    out = np.where(ns >= 2, _t_power(abs(effect) * np.sqrt(ns / 2), 2 * ns - 2, alpha), np.nan)
    return _out(out)


def welch_df(var_a: float, var_b: float, n: ArrayLike) -> Floats | float:
    """Welch-Satterthwaite df with these variances and n values per side."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out((var_a + var_b) ** 2 * (ns - 1) / (var_a**2 + var_b**2))


def welch_power(
    diff: float, var_a: float, var_b: float, n: ArrayLike, alpha: float = ALPHA
) -> Floats | float:
    """Power of Welch's two-sided t test with n per side, at a true difference ``diff`` and
    these variances, Welch-Satterthwaite df included (equal variances: the pooled t's)."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = abs(diff) / np.sqrt((var_a + var_b) / ns)
    return _out(np.where(ns >= 2, _t_power(nc, welch_df(var_a, var_b, ns), alpha), np.nan))


def paired_power(diff: float, sd: float, n: ArrayLike, alpha: float = ALPHA) -> Floats | float:
    """Power of the two-sided paired t test with n pairs whose differences have SD ``sd``."""
    ns = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = abs(diff) * np.sqrt(ns) / sd
    return _out(np.where(ns >= 2, _t_power(nc, ns - 1, alpha), np.nan))


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


# -- many comparisons ------------------------------------------------------------------


def holm(pvalues: ArrayLike, axis: int = -1) -> Floats:
    """Holm's step-down adjustment along ``axis`` (NaN p-values are left out of the family
    and stay NaN): controls the family-wise error, never less powerful than Bonferroni."""
    p = np.moveaxis(np.asarray(pvalues, dtype=float), axis, -1)
    if p.ndim == 0:
        raise BadInput("p-values must be a list of numbers")
    m = np.sum(~np.isnan(p), axis=-1, keepdims=True)
    order = np.argsort(p, axis=-1, kind="stable")  # NaN last
    ranked = np.take_along_axis(p, order, axis=-1)
    scaled = (m - np.arange(p.shape[-1])) * ranked
    stepped = np.minimum(np.fmax.accumulate(scaled, axis=-1), 1.0)
    stepped = np.where(np.isnan(ranked), np.nan, stepped)
    out = np.empty_like(p)
    np.put_along_axis(out, order, stepped, axis=-1)
    return np.moveaxis(out, -1, axis)


def _excludes_zero(low: ArrayLike, high: ArrayLike) -> NDArray[np.bool_]:
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return ~((lo <= 0) & (hi >= 0))


def calls(p_decide: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA) -> NDArray[np.bool_]:
    """The rule for claiming a difference: p < alpha *and* a CI that excludes 0."""
    return (np.asarray(p_decide, dtype=float) < alpha) & _excludes_zero(low, high)


def family_calls(
    p: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA
) -> tuple[Floats, NDArray[np.bool_]]:
    """(adjusted p, called) for metrics on the last axis, the first of them primary.

    The rule (a serial gatekeeper, which keeps the family-wise error over *all* the metrics
    at alpha): the primary metric is tested at alpha, as it is. The secondary ones are
    Holm-adjusted among themselves, and each adjusted p is raised to at least the
    primary's: p_adj[j] = max(p[0], holm(p[1:])[j]). A secondary metric is called only
    when the primary is called too, and its own p_adj < alpha with a CI excluding 0.
    Holm alone at alpha over the secondaries plus the primary at alpha would be
    family-wise 2·alpha over the whole table.
    """
    pv = np.asarray(p, dtype=float)
    adjusted = pv.copy()
    if pv.shape[-1] > 1:
        adjusted[..., 1:] = np.maximum(pv[..., :1], holm(pv[..., 1:]))
    called = calls(adjusted, low, high, alpha)
    called[..., 1:] &= called[..., :1]
    return adjusted, called


def holm_calls(
    p: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA
) -> tuple[Floats, NDArray[np.bool_]]:
    """(Holm-adjusted p, called) for comparisons on the last axis, none of them primary."""
    adjusted = holm(p)
    return adjusted, calls(adjusted, low, high, alpha)


def decide(
    p: ArrayLike, diff: ArrayLike, alpha: float = ALPHA, higher_is_better: bool = True
) -> NDArray[np.str_]:
    """ "better" / "worse" when p < alpha, by the sign of the difference; "none" otherwise."""
    p_, d_ = np.asarray(p, dtype=float), np.asarray(diff, dtype=float)
    good = d_ > 0 if higher_is_better else d_ < 0
    return np.where(p_ < alpha, np.where(good, "better", "worse"), "none")


# -- the comparison --------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A against B on one metric: what ``lab compare`` prints for it."""

    a: Summary
    b: Summary
    diff: float
    low: float
    high: float
    ci_method: str
    test: str
    p: float
    superiority: float  # P(a run of A beats one of B) by the goal
    effect: float  # Hedges' g
    verdict: str  # "better", "worse", "none"
    seeds_needed: int | None  # per side (pairs when paired), the low end of ``seeds_range``
    detect: float | None  # the difference the seeds estimate is for
    paired: bool = False
    notes: list[str] = field(default_factory=list)
    role: str = "primary"  # or "secondary" (see ``family_calls``), or "vs baseline"
    p_adjusted: float = math.nan  # the p the verdict uses
    seeds_range: tuple[int, int | None] | None = None
    seeds_for: str | None = None  # "detect", "observed", or None (no estimate)
    conflict: str | None = None  # why the test and the CI disagree, when they do
    higher_is_better: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "diff": self.diff,
            "ci_low": self.low,
            "ci_high": self.high,
            "ci_method": self.ci_method,
            "test": self.test,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "role": self.role,
            "p_a_beats_b": self.superiority,
            "hedges_g": self.effect,
            "verdict": self.verdict,
            "conflict": self.conflict,
            "seeds_needed": self.seeds_needed,
            "seeds_needed_range": list(self.seeds_range) if self.seeds_range else None,
            "seeds_needed_for": self.seeds_for,
            "detect": self.detect,
            "paired": self.paired,
            "notes": list(self.notes),
        }


def _is_binary(x: Floats, y: Floats) -> bool:
    return bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())


def _paired_test(x: Floats, y: Floats, notes: list[str]) -> tuple[Tested, str]:
    """McNemar for 0/1 scores, else the paired t; the CI is the paired t's either way."""
    if len(x) != len(y):
        raise BadInput("a paired comparison needs the same number of values on both sides")
    d = x - y
    tested = paired_t(d)
    if _is_binary(x, y) and len(x) > 1:
        m = mcnemar(x, y)
        name = (
            f"McNemar ({'exact binomial' if m.exact else 'chi-square'}; {m.a_only} vs {m.b_only} discordant)"
        )
        p = np.asarray(m.p, dtype=float)
        return dataclasses.replace(tested, p=p, test=np.asarray(name)), "paired t"
    sw = float(shapiro_p(d))
    if looks_misshapen(sw):
        notes.append(
            f"the differences look skewed or have an outlier (Shapiro-Wilk p = {sw:.2g} < {SHAPE_P:g}): "
            "the paired t CI's 95% coverage is doubtful"
        )
    return tested, "paired t"


def _unpaired_test(x: Floats, y: Floats, reach: float, alpha: float, notes: list[str]) -> Tested:
    tested = unpaired(x, y, reach)
    if str(tested.choice) == TOO_FEW and str(tested.test) != "none (no variation on either side)":
        floor = permutation_floor(len(x), len(y))
        needs = (
            "" if reach >= alpha else f", and the adjustment for several tests needs one below {reach:.2g}"
        )
        notes.append(
            f"with {len(x)} vs {len(y)} runs no permutation p-value can fall below {floor:.2g}{needs}, "
            "so Welch's t is used: it assumes the seed-to-seed noise is normal"
        )
    return tested


def compare(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alpha: float = ALPHA,
    higher_is_better: bool = True,
    detect: float | None = None,
    paired: bool = False,
    reach: float | None = None,
) -> Comparison:
    """Compare the values of A with those of B (aligned pair by pair when ``paired``).

    ``reach``: the level the p-value must be able to reach, alpha unless it will be
    adjusted for several tests (then alpha / m, the first step of Holm's). The verdict is
    that of a comparison on its own; ``adjust_family`` and ``adjust_holm`` settle it
    within a family.
    """
    x, y = _values(a, "A's values"), _values(b, "B's values")
    if len(x) == 0 or len(y) == 0:
        raise BadInput("each side needs at least one value to compare")
    sa, sb = describe(x), describe(y)
    notes: list[str] = []
    if paired:
        tested, ci_method = _paired_test(x, y, notes)
    elif len(x) < 2 or len(y) < 2:
        nan = np.asarray(math.nan)
        tested = Tested(
            np.asarray(sa.mean - sb.mean), nan, nan, nan, np.asarray("none (a single run on a side)"), nan
        )
        ci_method = "none"
    else:
        tested, ci_method = _unpaired_test(x, y, alpha if reach is None else reach, alpha, notes), "Welch t"
    diff, low, high, p = (float(v) for v in (tested.diff, tested.low, tested.high, tested.p))
    clear = math.isfinite(p) and (p < alpha or bool(_excludes_zero(low, high)))
    seeds = _seeds(x, y, detect, clear, diff, paired, alpha)
    c = Comparison(
        sa,
        sb,
        diff,
        low,
        high,
        ci_method,
        str(tested.test),
        p,
        superiority(x, y, higher_is_better),
        hedges_g(x, y),
        "none",
        seeds.low if seeds else None,
        seeds.detect if seeds else detect,
        paired,
        notes,
        seeds_range=(seeds.low, seeds.high) if seeds and seeds.low is not None else None,
        seeds_for=seeds.kind if seeds else None,
        higher_is_better=higher_is_better,
    )
    return settle(c, p, bool(calls(p, low, high, alpha)), alpha)


def _seeds(
    x: Floats, y: Floats, detect: float | None, clear: bool, diff: float, paired: bool, alpha: float
) -> SeedsNeeded | None:
    """For ``detect`` when given; else for the observed difference only when the data tell
    it from 0 (a difference indistinguishable from 0 is no basis for planning)."""
    if paired and _is_binary(x, y):
        return None  # McNemar's power is not the t test's
    if detect is not None:
        return seeds_needed_range(x, y, detect, "detect", paired, alpha)
    if clear and diff != 0:
        return seeds_needed_range(x, y, abs(diff), "observed", paired, alpha)
    return None


def _test_phrase(test: str) -> str:
    if test.startswith("permutation"):
        return "the permutation test"
    if test.startswith("McNemar"):
        return "McNemar's test"
    if test.startswith("paired t"):
        return "the paired t test"
    return f"{test} test" if test.endswith(" t") else test


def _why(test: str) -> str:
    if test.startswith("permutation"):
        return "the CI assumes normal noise; the permutation test does not"
    if test.startswith("McNemar"):
        return "McNemar's test counts only the pairs where A and B differ; the CI is of the mean difference"
    return "they are computed differently"


def _explain(c: Comparison, p_adj: float, alpha: float, family: str | None) -> str | None:
    """Why no difference is claimed although the test or the CI alone would claim one."""
    excludes = bool(_excludes_zero(c.low, c.high))
    if not math.isfinite(p_adj) or (p_adj < alpha) == excludes:
        return None
    ci = f"the {c.ci_method} CI"
    if p_adj < alpha:
        said = "p" if family is None else "the adjusted p"
        return (
            f"{_test_phrase(c.test)} gives {said} {_pv(p_adj)} but {ci} includes 0 ({_why(c.test)}); "
            "counted as no detectable difference: a difference is claimed only when both say so"
        )
    if family is not None and c.p < alpha:
        return (
            f"{ci} excludes 0 and the raw p is {_pv(c.p)}, but neither is adjusted for {family}: "
            f"the adjusted p {_pv(p_adj)} decides, counted as no detectable difference"
        )
    adjusted = "" if family is None else " (adjusted)"
    return (
        f"{ci} excludes 0 but {_test_phrase(c.test)} gives p{adjusted} {_pv(p_adj)} ({_why(c.test)}); "
        "counted as no detectable difference: a difference is claimed only when both say so"
    )


def _pv(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.2g}"


def settle(
    c: Comparison,
    p_adjusted: float,
    called: bool,
    alpha: float = ALPHA,
    *,
    role: str = "primary",
    family: str | None = None,
    gate: str | None = None,
    p_own: float | None = None,
) -> Comparison:
    """The comparison with the verdict a family's rule gave it (``called``) and the words
    for it: why the test and the CI disagree (judged at ``p_own``, the metric's own adjusted
    p, when given), or ``gate``: why a metric that would count on its own does not."""
    verdict = str(decide(0.0, c.diff, alpha, c.higher_is_better)) if called else "none"
    notes = [n for n in c.notes if not n.startswith("not called: ")]
    conflict = None
    if not called:
        conflict = _explain(c, p_adjusted if p_own is None else p_own, alpha, family)
        if gate is not None:
            notes.append(f"not called: {gate}")
    return dataclasses.replace(
        c, verdict=verdict, p_adjusted=float(p_adjusted), role=role, conflict=conflict, notes=notes
    )


def adjust_family(
    comparisons: list[Comparison], alpha: float = ALPHA, primary: str = "the primary metric"
) -> list[Comparison]:
    """The verdicts of several metrics of one A/B comparison, the first primary: ``family_calls``."""
    if len(comparisons) < 2:
        return [settle(c, c.p, bool(calls(c.p, c.low, c.high, alpha)), alpha) for c in comparisons]
    p = np.array([[c.p for c in comparisons]])
    low, high = np.array([[c.low for c in comparisons]]), np.array([[c.high for c in comparisons]])
    adjusted, called = family_calls(p, low, high, alpha)
    own = holm(p[0, 1:])  # each secondary's p within its own family, before the gate
    m = len(comparisons) - 1
    family = f"the {m} secondary metric{'s' if m != 1 else ''} (Holm)"
    gate = (
        f"a secondary metric counts only when the primary one ({primary}) shows a difference, "
        f"which keeps the chance of any false call over all {m + 1} metrics at {alpha:g}"
    )
    out = [settle(comparisons[0], float(adjusted[0, 0]), bool(called[0, 0]), alpha)]
    for j, c in enumerate(comparisons[1:], start=1):
        shut = not called[0, 0]
        would = bool(calls(own[j - 1], c.low, c.high, alpha))
        out.append(
            settle(
                c,
                float(adjusted[0, j]),
                bool(called[0, j]),
                alpha,
                role="secondary",
                family=family,
                gate=gate if shut and would else None,
                p_own=float(own[j - 1]) if shut else None,
            )
        )
    return out


def adjust_holm(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The verdicts of many comparisons against one baseline, Holm-adjusted: ``holm_calls``."""
    if not comparisons:
        return []
    p = np.array([c.p for c in comparisons])
    low, high = np.array([c.low for c in comparisons]), np.array([c.high for c in comparisons])
    adjusted, called = holm_calls(p, low, high, alpha)
    m = int(np.sum(np.isfinite(p)))
    family = f"the {m} comparisons with the baseline (Holm)" if m > 1 else None  # one: Holm changes nothing
    return [
        settle(c, float(q), bool(k), alpha, role="vs baseline", family=family)
        for c, q, k in zip(comparisons, adjusted, called, strict=True)
    ]


def _pooled_sd(x: Floats, y: Floats) -> float:
    na, nb = len(x), len(y)
    if na + nb < 3:
        return math.nan
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return math.sqrt(ss / (na + nb - 2))
