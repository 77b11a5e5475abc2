"""Proper scores for a researcher's forecasts, behind ``lab calibration``.

A forecast is a probability ``p`` that something will happen, later resolved to an
outcome ``y`` (1 it happened, 0 it did not), or a central prediction interval
``[lower, upper]`` at a stated ``level``, later resolved to the value ``x``. Every score
here is *proper* (a forecaster minimises it in expectation only by stating what they
believe) and *lower is better*, so the numbers cannot be gamed and read the same way.

Every function is pure: numpy arrays (or sequences) in, numbers or frozen records out, no
I/O. Input a user can get wrong raises ``BadInput`` with one sentence saying what to fix:
values that are not numbers, NaN or infinity, probabilities outside [0, 1], outcomes
other than 0 / 1, lengths that differ, ``lower > upper``, levels outside (0, 1), and
*empty input*: scoring nothing raises rather than returning NaN, so a caller filtering
predictions down to none finds out at once instead of printing "nan".

scipy is imported only inside ``reliability`` (and ``murphy`` does not need it), so
``import labbook.core.scoring`` costs no more than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.errors import BadInput

CLIP = 0.01
"""Log-score clipping: p is held to [CLIP, 1 - CLIP]. A forecaster who says 0 or 1 and is
wrong would otherwise score infinity, and one such forecast would swamp every other; with
0.01 the worst single forecast costs -ln(0.01) ≈ 4.6 nats."""

BINS = 10
"""Default number of equal-width probability bins for reliability and Murphy."""

CONFIDENCE = 0.95
"""Coverage of the interval ``reliability`` puts around each bin's observed frequency."""

# Years 0001-9999 in epoch seconds: the months ``trend`` can spell as YYYY-MM.
_MIN_EPOCH = -62_135_596_800
_MAX_EPOCH = 253_402_300_800

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Bin:
    """One bar of a reliability diagram: forecasts with ``lo <= p < hi`` (the last bin
    also holds ``p == 1``). An empty bin has ``count == 0`` and None for every statistic,
    so the diagram keeps its shape instead of silently losing a bar."""

    lo: float
    hi: float
    count: int
    positives: int
    mean_forecast: float | None
    observed: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class Murphy:
    """Murphy (1973) decomposition of the Brier score over probability bins.

    ``reliability`` (lower is better) is how far each bin's mean forecast sits from what
    happened; ``resolution`` (higher is better) how much the bins' outcomes differ from
    the base rate; ``uncertainty`` the base rate's own variance, beyond the forecaster's
    control. ``brier`` is the exact score of the raw forecasts, kept beside the parts
    because with binning ``reliability - resolution + uncertainty`` only approximates it.
    """

    reliability: float
    resolution: float
    uncertainty: float
    brier: float


class MonthScore(NamedTuple):
    """Brier score of the forecasts made in one UTC calendar month (a row of ``--json``'s ``trend``)."""

    month: str
    count: int  # type: ignore[assignment]  # shadows tuple.count, as the JSON row has always named it
    brier: float


# --- validation -----------------------------------------------------------------------


def _vector(name: str, values: ArrayLike) -> Floats:
    """A non-empty, finite, one-dimensional float array (a scalar is one value)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must contain only numbers.") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise BadInput(f"{name} must be a flat sequence of numbers, not an array of shape {arr.shape}.")
    if arr.size == 0:
        raise BadInput(f"{name} is empty, so there is nothing to score.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise BadInput(f"{name}[{i}] is {arr[i]}; drop missing or unresolved predictions before scoring.")
    return arr


def _same_length(**arrays: Floats) -> None:
    (first, a), *rest = arrays.items()
    for name, b in rest:
        if b.size != a.size:
            raise BadInput(f"{first} has {a.size} values but {name} has {b.size}; pass one per prediction.")


def _probabilities(p: ArrayLike) -> Floats:
    arr = _vector("p", p)
    bad = np.flatnonzero((arr < 0.0) | (arr > 1.0))
    if bad.size:
        i = int(bad[0])
        raise BadInput(f"p[{i}] is {arr[i]:g} but probabilities must lie in [0, 1] (0.7, not 70).")
    return arr


def _outcomes(y: ArrayLike) -> Floats:
    arr = _vector("y", y)
    bad = np.flatnonzero((arr != 0.0) & (arr != 1.0))
    if bad.size:
        i = int(bad[0])
        raise BadInput(f"y[{i}] is {arr[i]:g} but outcomes must be 0 (did not happen) or 1 (happened).")
    return arr


def _binary(p: ArrayLike, y: ArrayLike) -> tuple[Floats, Floats]:
    pa, ya = _probabilities(p), _outcomes(y)
    _same_length(p=pa, y=ya)
    return pa, ya


def _levels(level: ArrayLike, n: int) -> Floats:
    """Levels as an array of length ``n``; a single level applies to every interval."""
    arr = _vector("level", level)
    if arr.size == 1 and n != 1:
        arr = np.full(n, arr[0])
    elif arr.size != n:
        raise BadInput(
            f"level has {arr.size} values but there are {n} intervals; pass one level or one per interval."
        )
    bad = np.flatnonzero((arr <= 0.0) | (arr >= 1.0))
    if bad.size:
        i = int(bad[0])
        raise BadInput(
            f"level[{i}] is {arr[i]:g} but a level must lie strictly between 0 and 1 (0.8, not 80)."
        )
    return arr


def _intervals(lower: ArrayLike, upper: ArrayLike, x: ArrayLike) -> tuple[Floats, Floats, Floats]:
    lo, hi, xa = _vector("lower", lower), _vector("upper", upper), _vector("x", x)
    _same_length(lower=lo, upper=hi, x=xa)
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        i = int(bad[0])
        raise BadInput(
            f"lower[{i}] = {lo[i]:g} is above upper[{i}] = {hi[i]:g}; an interval needs lower <= upper."
        )
    return lo, hi, xa


def _bin_count(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise BadInput(f"bins must be a whole number of at least 1, not {bins!r}.")
    return int(bins)


def _bin_index(p: Floats, bins: int) -> tuple[NDArray[np.intp], Floats]:
    """Bin of each forecast and the bin edges; membership uses the same edges that are
    reported, so a forecast never lands in a bin whose [lo, hi) excludes it."""
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    return idx, edges


# --- scores ---------------------------------------------------------------------------


def brier(p: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error of ``p`` against outcomes ``y`` in {0, 1}: 0 is perfect, 1 is
    certain and always wrong, and always saying 0.5 scores 0.25."""
    pa, ya = _binary(p, y)
    return float(np.mean((pa - ya) ** 2))


def log_score(p: ArrayLike, y: ArrayLike, clip: float = CLIP) -> float:
    """Mean negative natural-log likelihood of the outcomes, with ``p`` clipped to
    ``[clip, 1 - clip]`` (see ``CLIP``) so a confident miss costs a lot but not infinity."""
    pa, ya = _binary(p, y)
    if not isinstance(clip, int | float | np.floating) or not 0.0 < clip < 0.5:
        raise BadInput(f"clip is {clip!r} but must be a number strictly between 0 and 0.5.")
    pc = np.clip(pa, clip, 1.0 - clip)
    return float(-np.mean(np.where(ya == 1.0, np.log(pc), np.log1p(-pc))))


def interval_score(lower: ArrayLike, upper: ArrayLike, x: ArrayLike, level: ArrayLike) -> float:
    """Mean Gneiting & Raftery (2007) interval score of central prediction intervals.

    With ``alpha = 1 - level`` each interval scores its width, plus ``2 / alpha`` times
    how far ``x`` fell outside it: narrow intervals are rewarded, misses are charged more
    the more confident the stated level. ``level`` is one number or one per interval.
    """
    lo, hi, xa = _intervals(lower, upper, x)
    alpha = 1.0 - _levels(level, xa.size)
    below = np.maximum(lo - xa, 0.0)
    above = np.maximum(xa - hi, 0.0)
    return float(np.mean((hi - lo) + (2.0 / alpha) * (below + above)))


def coverage(lower: ArrayLike, upper: ArrayLike, x: ArrayLike) -> float:
    """Fraction of outcomes ``x`` inside their interval, ends included. Compare it with
    ``expected_coverage(level)``: "80% intervals covered 62%" means overconfidence."""
    lo, hi, xa = _intervals(lower, upper, x)
    return float(np.mean((lo <= xa) & (xa <= hi)))


def relative_error(guess: ArrayLike, actual: ArrayLike) -> float:
    """Mean of ``|guess - actual| / |actual|``: guessed numbers of different metrics and
    scales (a paper's accuracy, its speed-up) become comparable. Actual values of 0 are
    refused, since no relative error is defined for them."""
    g, a = _vector("guess", guess), _vector("actual", actual)
    _same_length(guess=g, actual=a)
    if np.any(a == 0):
        raise BadInput("an actual value is 0: the relative error of a guess is undefined there")
    return float(np.mean(np.abs(g - a) / np.abs(a)))


def expected_coverage(level: ArrayLike) -> float:
    """The coverage a calibrated forecaster would reach: the mean stated level."""
    arr = _vector("level", level)
    return float(np.mean(_levels(arr, arr.size)))


def reliability(p: ArrayLike, y: ArrayLike, bins: int = BINS) -> list[Bin]:
    """Reliability-diagram data over ``bins`` equal-width bins of [0, 1].

    Each bin's observed frequency carries a 95% Jeffreys interval (the Beta(k + 1/2,
    n - k + 1/2) quantiles, with 0 or 1 at the end when every outcome is 0 or 1): unlike
    the normal approximation it stays inside [0, 1] and is honest for the handful of
    forecasts a bin of a personal notebook usually holds.
    """
    pa, ya = _binary(p, y)
    nbins = _bin_count(bins)
    from scipy.stats import beta  # lazy: scipy is heavy and only this needs it

    idx, edges = _bin_index(pa, nbins)
    count = np.bincount(idx, minlength=nbins)
    positives = np.bincount(idx, weights=ya, minlength=nbins)
    forecast_sum = np.bincount(idx, weights=pa, minlength=nbins)
    tail = (1.0 - CONFIDENCE) / 2.0
    out: list[Bin] = []
    for i in range(nbins):
        n, k = int(count[i]), round(float(positives[i]))
        if n == 0:
            out.append(Bin(float(edges[i]), float(edges[i + 1]), 0, 0, None, None, None, None))
            continue
        low, high = (float(v) for v in beta.ppf(np.array([tail, 1.0 - tail]), k + 0.5, n - k + 0.5))
        out.append(
            Bin(
                lo=float(edges[i]),
                hi=float(edges[i + 1]),
                count=n,
                positives=k,
                mean_forecast=float(forecast_sum[i] / n),
                observed=k / n,
                ci_low=0.0 if k == 0 else float(low),
                ci_high=1.0 if k == n else float(high),
            )
        )
    return out


def murphy(p: ArrayLike, y: ArrayLike, bins: int = BINS) -> Murphy:
    """Murphy decomposition of the Brier score over the bins ``reliability`` uses.

    ``brier == reliability - resolution + uncertainty`` holds exactly when the forecasts
    in each bin are all the same value (as when someone only ever says 10%, 20%, ...).
    Otherwise it is approximate: the spread of forecasts inside a bin and its covariance
    with the outcomes (Stephenson et al. 2008) are left out; ``brier`` gives the truth.
    """
    pa, ya = _binary(p, y)
    nbins = _bin_count(bins)
    idx, _ = _bin_index(pa, nbins)
    n = pa.size
    count = np.bincount(idx, minlength=nbins)
    used = count > 0
    nk = count[used]
    mean_p = np.bincount(idx, weights=pa, minlength=nbins)[used] / nk
    mean_y = np.bincount(idx, weights=ya, minlength=nbins)[used] / nk
    base = float(np.mean(ya))
    return Murphy(
        reliability=float(np.sum(nk * (mean_p - mean_y) ** 2) / n),
        resolution=float(np.sum(nk * (mean_y - base) ** 2) / n),
        uncertainty=base * (1.0 - base),
        brier=float(np.mean((pa - ya) ** 2)),
    )


def trend(times: ArrayLike, p: ArrayLike, y: ArrayLike) -> list[MonthScore]:
    """Brier score per UTC calendar month of the forecasts' creation times (epoch
    seconds), oldest first, so a researcher sees whether they are getting better.
    A time belongs to the month of its instant (-0.5 is 1969-12). Months without
    forecasts are left out rather than reported as NaN."""
    pa, ya = _binary(p, y)
    ta = _vector("times", times)
    _same_length(times=ta, p=pa)
    bad = np.flatnonzero((ta < _MIN_EPOCH) | (ta >= _MAX_EPOCH))
    if bad.size:
        i = int(bad[0])
        raise BadInput(f"times[{i}] = {ta[i]:g} is not a date in years 1-9999; pass epoch seconds.")
    months = np.floor(ta).astype(np.int64).astype("datetime64[s]").astype("datetime64[M]")
    keys, inverse = np.unique(months, return_inverse=True)
    count = np.bincount(inverse, minlength=keys.size)
    sq = np.bincount(inverse, weights=(pa - ya) ** 2, minlength=keys.size)
    return [MonthScore(str(m), int(c), float(s / c)) for m, c, s in zip(keys, count, sq, strict=True)]


__all__ = [
    "BINS",
    "CLIP",
    "CONFIDENCE",
    "Bin",
    "MonthScore",
    "Murphy",
    "brier",
    "coverage",
    "expected_coverage",
    "interval_score",
    "log_score",
    "murphy",
    "reliability",
    "trend",
]
