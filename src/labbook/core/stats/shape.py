"""Whether values look normal: Shapiro-Wilk in numpy, and the notes it puts beside a CI.

A *shape note* goes beside a side that looks skewed or holds an outlier (Shapiro-Wilk
p < 0.05, from 3 values on): there the mean's CI covers less than it says. A stricter
rule (p < 0.01 from 8 values on) moves a two-sample test from Welch's t to a permutation
test.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.core.stats.common import LEVEL, Floats, flat_values, float_or_array

NORMAL_CHECK_N = 8  # Shapiro-Wilk moves a test from Welch to permutation only from this many values on
NON_NORMAL_P = 0.01
SHAPE_P = 0.05  # Shapiro-Wilk p below which a side gets a shape note (5% false alarms on normal data)


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
        return float_or_array(np.full(a.shape[:-1], np.nan))
    ss = ((a - a.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    flat = np.ptp(a, axis=-1) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.minimum((a @ _swilk_weights(n)) ** 2 / ss, 1.0)
    return float_or_array(np.where(flat, np.nan, _swilk_p(w, n)))


def looks_non_normal(x: ArrayLike) -> bool:
    """Clearly not normal: ≥ 8 values, not all equal, and Shapiro-Wilk p < 0.01."""
    a = flat_values(x)
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
