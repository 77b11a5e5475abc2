"""Statistics of failure analysis: pile shares, paired accuracy changes, the strange tail.

Pure functions on numbers and numpy arrays, no storage. Each is checked in the tests
against scipy on the same inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k/n``: honest at the small n of a reviewed sample.

    The normal (Wald) interval collapses to a point at 0 of 40 and leaves [0, 1] near the
    edges; Wilson's stays inside and keeps its coverage. ``n == 0`` gives (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class McNemar:
    """The paired test of two classifiers scored on the same examples."""

    fixed: int  # wrong in A, right in B
    broken: int  # right in A, wrong in B
    p_exact: float  # two-sided binomial test on the discordant pairs
    chi2: float  # the continuity-corrected statistic (|b - c| - 1)^2 / (b + c)
    p_asymptotic: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "fixed": self.fixed,
            "broken": self.broken,
            "p_exact": self.p_exact,
            "chi2": self.chi2,
            "p_asymptotic": self.p_asymptotic,
        }


def mcnemar(fixed: int, broken: int) -> McNemar:
    """McNemar's test from the discordant counts; the concordant pairs carry no information.

    The exact p-value is what to report for small counts (under ~25 discordant pairs the
    chi-square approximation is poor); both are given.
    """
    n = fixed + broken
    if n == 0:
        return McNemar(fixed, broken, 1.0, 0.0, 1.0)
    p_exact = min(1.0, 2.0 * binom_half_cdf(min(fixed, broken), n))
    chi2 = (abs(fixed - broken) - 1) ** 2 / n
    return McNemar(fixed, broken, p_exact, chi2, math.erfc(math.sqrt(chi2 / 2)))  # chi-square sf, 1 df


def binom_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed downwards from the largest term.

    Pure Python so that ``lab failures diff`` need not import scipy (half a second); the
    terms shrink geometrically below n/2, so a few thousand suffice even for n = 10⁶.
    """
    if k >= n:
        return 1.0
    if k > n - k:  # by symmetry
        return 1.0 - binom_half_cdf(n - k - 1, n)
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)
    term = math.exp(log_term)
    total = 0.0
    for i in range(k, -1, -1):
        total += term
        if term < total * 1e-17:
            break
        term *= i / (n - i + 1)
    return min(1.0, total)


MAD_SCALE = 1.482602218505602  # 1 / Phi^-1(3/4): makes the MAD estimate sigma for normal data
MEANAD_SCALE = 1.2533141373155001  # sqrt(pi / 2): the same for the mean absolute deviation


def robust_z(values: Any) -> Any:
    """(x - median) / (1.4826 * MAD): a z-score that the outliers themselves cannot inflate.

    When more than half the values are equal the MAD is 0; then the mean absolute
    deviation from the median is used (scaled to sigma the same way), and if that too is
    0 every score is 0.
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return x
    median = np.median(x)
    dev = np.abs(x - median)
    scale = MAD_SCALE * float(np.median(dev))
    if scale == 0:
        scale = MEANAD_SCALE * float(np.mean(dev))
    if scale == 0 or not math.isfinite(scale):
        return np.zeros_like(x)
    return (x - median) / scale


def allocate(sizes: list[int], n: int) -> list[int]:
    """Split ``n`` draws over strata in proportion to their sizes (largest remainder).

    No stratum gets more than it holds; ties in the remainders go to the earlier stratum.
    """
    total = sum(sizes)
    n = min(n, total)
    if total == 0 or n == 0:
        return [0] * len(sizes)
    exact = [n * s / total for s in sizes]
    quota = [min(s, math.floor(e)) for s, e in zip(sizes, exact, strict=True)]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    left = n - sum(quota)
    while left > 0:
        for i in order:
            if left and quota[i] < sizes[i]:
                quota[i] += 1
                left -= 1
    return quota
