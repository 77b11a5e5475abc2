"""Honest statistics for a handful of seeds: pure functions on numpy arrays, no storage.

Researchers compare 3 to 10 runs per side, where normal approximations lie. So:

- the CI of a mean is Student's t (``t_interval``), or a BCa bootstrap when at least 8
  values are clearly not normal (Shapiro-Wilk p < 0.01); ``describe`` says which it used;
- the difference of two means gets Welch's t interval (no equal-variance assumption);
  its p-value comes from Welch's t when both sides have at least ``SMALL_N`` values and
  look normal, else from a permutation test (exact when the permutations are few), except
  when the runs are too few for any permutation p-value to reach alpha (3 vs 3): then
  Welch's t again, with a note saying it assumes normal noise;
- aligned values (the same seeds, or the same example ids, on both sides) get a paired
  test: McNemar (exact binomial below 25 discordant pairs) for 0/1 scores, else a paired
  bootstrap CI of the mean difference with a sign-flip permutation p-value (the paired t
  test below 6 pairs, where no sign flip can reach alpha);
- "better" needs p < alpha *and* a CI that excludes 0; when they disagree, a note says so;
- beside the p-value: the probability that a random run of A beats one of B (ties count
  half, the Mann-Whitney U over ``na * nb``), and Hedges' g (Cohen's d with the
  small-sample correction, pooled SD);
- "no detectable difference" comes with the seeds per side a two-sided Welch/Student
  test would need for 80% power, from the noncentral t distribution;
- many comparisons against one baseline get Holm-adjusted p-values.

scipy is imported inside the functions that need it. Every function is checked against
scipy on the same inputs in ``tests/test_stats.py``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import BadInput

LEVEL = 0.95
ALPHA = 0.05
POWER = 0.80
SMALL_N = 10  # below this many values on a side, p-values come from a permutation test
NORMAL_CHECK_N = 8  # Shapiro-Wilk is only asked from this many values on
NON_NORMAL_P = 0.01
EXACT_MCNEMAR = 25  # below this many discordant pairs, McNemar is an exact binomial test
RESAMPLES = 9999
SEED = 0  # resampling is seeded: the same runs always give the same numbers

Floats = NDArray[np.float64]


def _values(x: ArrayLike, what: str = "values") -> Floats:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise BadInput(f"{what} must be a flat list of numbers")
    return a


# -- one sample ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """n, mean, std (n - 1) and a CI of the mean; ``method`` names how the CI was made."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    method: str  # "t", "bca bootstrap", or "none" (n < 2)
    level: float = LEVEL

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_low": self.low,
            "ci_high": self.high,
            "ci_method": self.method,
            "level": self.level,
        }


def t_interval(x: ArrayLike, level: float = LEVEL, axis: int = -1) -> tuple[Floats, Floats]:
    """Student-t CI of the mean along ``axis`` (NaN where n < 2); vectorised for simulation."""
    from scipy import special

    a = np.asarray(x, dtype=float)
    n = a.shape[axis]
    mean = a.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return nan, nan
    sem = a.std(axis=axis, ddof=1) / math.sqrt(n)
    half = special.stdtrit(n - 1, 0.5 + level / 2) * sem
    return mean - half, mean + half


def looks_non_normal(x: ArrayLike) -> bool:
    """Clearly not normal: ≥ 8 values, not all equal, and Shapiro-Wilk p < 0.01."""
    a = _values(x)
    if len(a) < NORMAL_CHECK_N or np.ptp(a) == 0:
        return False
    from scipy import stats

    return bool(stats.shapiro(a).pvalue < NON_NORMAL_P)


def bca_interval(x: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """BCa bootstrap CI of the mean (scipy.stats.bootstrap, seeded)."""
    from scipy import stats

    a = _values(x)
    res = stats.bootstrap(
        (a,), np.mean, confidence_level=level, method="BCa", n_resamples=RESAMPLES, random_state=SEED
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def describe(x: ArrayLike, level: float = LEVEL) -> Summary:
    """Mean, std and the CI that is right for this n (NaN values must be dropped first)."""
    a = _values(x)
    n = len(a)
    if n == 0:
        raise BadInput("no values to summarise")
    mean = float(a.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan, "none", level)
    std = float(a.std(ddof=1))
    if std == 0:
        return Summary(n, mean, 0.0, mean, mean, "t", level)
    if looks_non_normal(a):
        low, high = bca_interval(a, level)
        return Summary(n, mean, std, low, high, "bca bootstrap", level)
    low, high = t_interval(a, level)
    return Summary(n, mean, std, float(low), float(high), "t", level)


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (stays inside [0, 1], honest for small n)."""
    if n <= 0 or not 0 <= k <= n:
        raise BadInput(f"a proportion needs 0 <= k <= n and n > 0, got {k}/{n}")
    from scipy import special

    from . import failstats

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
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


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
        return res.pvalue if np.ndim(res.pvalue) else float(res.pvalue)
    mask = _splits(na, nb).astype(float)
    pooled = np.concatenate([x, y], axis=-1)
    total = pooled.sum(axis=-1, keepdims=True)
    in_a = pooled @ mask.T  # sum of the values put on side A, per split
    null = in_a / na - (total - in_a) / nb
    observed = x.mean(axis=-1) - y.mean(axis=-1)
    gamma = np.abs(np.finfo(float).eps * 100 * observed)[..., None]
    less = (null <= observed[..., None] + gamma).mean(axis=-1)
    greater = (null >= observed[..., None] - gamma).mean(axis=-1)
    p = np.minimum(1.0, 2 * np.minimum(less, greater))
    return p if np.ndim(p) else float(p)


def superiority(a: ArrayLike, b: ArrayLike) -> float:
    """P(a random value of A > one of B), ties counted half: Mann-Whitney U / (na * nb)."""
    x, y = _values(a), _values(b)
    gt = (x[:, None] > y[None, :]).sum()
    eq = (x[:, None] == y[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(x) * len(y)))


def hedges_g(a: ArrayLike, b: ArrayLike) -> float:
    """Hedges' g: Cohen's d (pooled SD) times the small-sample correction 1 - 3/(4(na+nb)-9)."""
    x, y = _values(a), _values(b)
    pooled = _pooled_sd(x, y)
    if not pooled > 0:
        return math.nan
    d = (x.mean() - y.mean()) / pooled
    na, nb = len(x), len(y)
    return float(d * (1 - 3 / (4 * (na + nb) - 9)))


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
    from . import failstats

    x, y = _values(a).astype(bool), _values(b).astype(bool)
    a_only = int(np.sum(x & ~y))
    b_only = int(np.sum(~x & y))
    test = failstats.mcnemar(b_only, a_only)
    exact = a_only + b_only < EXACT_MCNEMAR
    return McNemar(a_only, b_only, test.p_exact if exact else test.p_asymptotic, exact)


def paired_bootstrap(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> tuple[float, float, float, float]:
    """Mean of a - b over aligned pairs, its BCa bootstrap CI, and a sign-flip permutation p."""
    from scipy import stats

    d = _values(a) - _values(b)
    mean = float(d.mean())
    if len(d) < 2 or np.ptp(d) == 0:
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    boot = stats.bootstrap(
        (d,), np.mean, confidence_level=level, method="BCa", n_resamples=RESAMPLES, random_state=SEED
    )
    perm = stats.permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        random_state=SEED,
    )
    return mean, float(boot.confidence_interval.low), float(boot.confidence_interval.high), float(perm.pvalue)


# -- power -----------------------------------------------------------------------------


def power(effect: float, n: ArrayLike, alpha: float = ALPHA) -> Floats | float:
    """Power of a two-sided two-sample t test with n per side at standardised ``effect``."""
    from scipy import special

    ns = np.asarray(n, dtype=float)
    df = 2 * ns - 2
    nc = abs(effect) * np.sqrt(ns / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        crit = special.stdtrit(df, 1 - alpha / 2)
        upper = 1 - special.nctdtr(
            df, nc, crit
        )  # the noncentral t's cdf: scipy.stats.nct, without its import
        out = np.where(ns >= 2, upper + special.nctdtr(df, nc, -crit), np.nan)
    return out if out.ndim else float(out)


def seeds_needed(
    effect: float, target: float = POWER, alpha: float = ALPHA, cap: int = 100_000
) -> int | None:
    """Smallest n per side reaching ``target`` power at standardised ``effect`` (None past ``cap``)."""
    if not math.isfinite(effect) or effect == 0:
        return None
    from scipy import special

    # The normal approximation never asks for more than the t test needs: start just below it.
    z = special.ndtri(1 - alpha / 2) + special.ndtri(target)
    start = max(2, int(2 * (z / effect) ** 2) - 1)
    while start <= cap:  # power grows with n: scan a block of n at a time until it reaches the target
        ns = np.arange(start, min(cap, start + 7) + 1)
        reached = np.nonzero(power(effect, ns, alpha) >= target)[0]
        if len(reached):
            return int(ns[reached[0]])
        start = int(ns[-1]) + 1
    return None


# -- many comparisons ------------------------------------------------------------------


def holm(pvalues: ArrayLike) -> Floats:
    """Holm's step-down adjustment: controls the family-wise error, never less powerful than Bonferroni."""
    p = _values(pvalues, "p-values")
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


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
    superiority: float
    effect: float  # Hedges' g
    verdict: str  # "better", "worse", "none"
    seeds_needed: int | None  # per side, for 80% power at ``detect``
    detect: float  # the difference the seeds estimate is for
    paired: bool = False
    notes: list[str] = field(default_factory=list)

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
            "p_a_beats_b": self.superiority,
            "hedges_g": self.effect,
            "verdict": self.verdict,
            "seeds_needed": self.seeds_needed,
            "detect": self.detect,
            "paired": self.paired,
            "notes": list(self.notes),
        }


def choose_test(a: Floats, b: Floats, alpha: float = ALPHA) -> str:
    """Welch's t for enough normal-looking values; a permutation test when n is small or skewed.

    Except when the runs are so few that no split of them gives a permutation p-value
    below ``alpha`` (3 vs 3 has 20 splits, so p ≥ 0.1): the permutation test could never
    find anything, and Welch's t, which assumes normal noise between seeds, is used instead.
    """
    skewed = looks_non_normal(a) or looks_non_normal(b)
    if min(len(a), len(b)) >= SMALL_N and not skewed:
        return "welch"
    if 2 / math.comb(len(a) + len(b), len(a)) >= alpha:
        return "welch (too few runs for a permutation test)"
    return "permutation"


def decide(p: ArrayLike, diff: ArrayLike, alpha: float = ALPHA, higher_is_better: bool = True) -> NDArray:
    """ "better" / "worse" when p < alpha, by the sign of the difference; "none" otherwise."""
    p_, d_ = np.asarray(p, dtype=float), np.asarray(diff, dtype=float)
    good = d_ > 0 if higher_is_better else d_ < 0
    return np.where(p_ < alpha, np.where(good, "better", "worse"), "none")


def compare(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alpha: float = ALPHA,
    higher_is_better: bool = True,
    detect: float | None = None,
    paired: bool = False,
) -> Comparison:
    """Compare the values of A with those of B (aligned pair by pair when ``paired``)."""
    x, y = _values(a, "A's values"), _values(b, "B's values")
    if len(x) == 0 or len(y) == 0:
        raise BadInput("each side needs at least one value to compare")
    sa, sb = describe(x), describe(y)
    diff = sa.mean - sb.mean
    notes: list[str] = []
    if paired:
        if len(x) != len(y):
            raise BadInput("a paired comparison needs the same number of values on both sides")
        binary = bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())
        if binary and len(x) > 1:
            m = mcnemar(x, y)
            test = f"McNemar ({'exact binomial' if m.exact else 'chi-square'}; {m.a_only} vs {m.b_only} discordant)"
            _, low, high, _ = paired_bootstrap(x, y)
            p, ci_method = m.p, "paired bootstrap (BCa)"
        elif 2 / 2 ** len(x) < alpha:
            _, low, high, p = paired_bootstrap(x, y)
            test, ci_method = "paired bootstrap, sign-flip permutation p", "paired bootstrap (BCa)"
        else:  # too few pairs for any sign-flip p-value below alpha: the paired t test
            d = x - y
            lo_, hi_ = t_interval(d)
            low, high = float(lo_), float(hi_)
            p = paired_t_p(d)
            test, ci_method = "paired t", "t of the differences"
            notes.append(
                f"with {len(x)} pairs no sign-flip p-value can fall below {2 / 2 ** len(x):.2g}, "
                "so the paired t test is used: it assumes the differences are normal"
            )
    elif len(x) < 2 or len(y) < 2:
        low = high = p = math.nan
        test, ci_method = "none (a single run on a side)", "none"
    else:
        w = welch(x, y)
        low, high = float(w.low), float(w.high)
        ci_method = "Welch t"
        if sa.std == 0 and sb.std == 0:
            p, test = (1.0 if diff == 0 else 0.0), "none (no variation on either side)"
        else:
            choice = choose_test(x, y, alpha)
            if choice == "permutation":
                p, test = float(permutation_p(x, y)), "permutation (difference of means)"
            else:
                p, test = float(w.p), "Welch's t"
            if choice != "welch" and choice != "permutation":
                floor = 2 / math.comb(len(x) + len(y), len(x))
                notes.append(
                    f"with {len(x)} vs {len(y)} runs no permutation p-value can fall below {floor:.2g}, "
                    "so Welch's t is used: it assumes the seed-to-seed noise is normal"
                )
    pooled = _pooled_sd(x, y)
    if detect is None:
        detect = abs(diff) if diff != 0 else pooled
    needed = seeds_needed(detect / pooled) if pooled > 0 and math.isfinite(pooled) else None
    verdict = str(decide(p, diff, alpha, higher_is_better)) if math.isfinite(p) else "none"
    if verdict == "none" and math.isfinite(p) and not (low <= 0 <= high):
        notes.append(
            f"the {ci_method} CI excludes 0 but {test} gives p = {p:.2g}; not counted as a difference"
        )
    if verdict != "none" and low <= 0 <= high:
        # Two honest methods disagree at the edge: say so rather than pick the convenient one.
        notes.append(
            f"{test} gives p = {p:.2g} but the {ci_method} CI includes 0; not counted as a difference"
        )
        verdict = "none"
    return Comparison(
        sa,
        sb,
        diff,
        float(low),
        float(high),
        ci_method,
        test,
        float(p),
        superiority(x, y),
        hedges_g(x, y),
        verdict,
        needed,
        float(detect),
        paired,
        notes,
    )


def paired_t_p(d: Floats) -> float:
    """Two-sided p of the paired t test on differences ``d`` (1 or 0 when they do not vary)."""
    from scipy import special

    sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
    if not sd > 0:
        return 1.0 if float(d.mean()) == 0 else (0.0 if len(d) > 1 else math.nan)
    t = float(d.mean()) / (sd / math.sqrt(len(d)))
    return float(2 * special.stdtr(len(d) - 1, -abs(t)))


def _pooled_sd(x: Floats, y: Floats) -> float:
    na, nb = len(x), len(y)
    if na + nb < 3:
        return math.nan
    ss = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return math.sqrt(ss / (na + nb - 2))
