"""Forecast scores against independent references: scikit-learn, scipy and plain loops."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import beta
from sklearn.metrics import brier_score_loss, log_loss

from labbook.core.scoring import (
    BINS,
    CLIP,
    Bin,
    MonthScore,
    Murphy,
    brier,
    coverage,
    expected_coverage,
    interval_score,
    log_score,
    murphy,
    reliability,
    trend,
)
from labbook.errors import BadInput

EXACT = {"rel": 1e-9, "abs": 1e-12}
PROB = st.floats(min_value=0.0, max_value=1.0)
VALUE = st.floats(min_value=-1e6, max_value=1e6)
LEVEL = st.floats(min_value=0.01, max_value=0.99)

# scipy and sklearn make a first example slow; a deadline would only measure import time.
relaxed = settings(deadline=None)


@st.composite
def forecasts(draw: st.DrawFn, max_size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=1, max_value=max_size))
    p = draw(st.lists(PROB, min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return np.array(p), np.array(y)


@st.composite
def bin_constant(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray]:
    """Forecasts that take exactly one value per bin, anywhere inside that bin."""
    bins = draw(st.integers(min_value=1, max_value=20))
    values = [
        draw(st.floats(min_value=i / bins, max_value=(i + 1) / bins, exclude_max=i < bins - 1))
        for i in range(bins)
    ]
    which = draw(st.lists(st.integers(0, bins - 1), min_size=1, max_size=60))
    y = draw(st.lists(st.integers(0, 1), min_size=len(which), max_size=len(which)))
    return bins, np.array([values[i] for i in which]), np.array(y)


@st.composite
def intervals(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=1, max_value=40))
    lower = np.array(draw(st.lists(VALUE, min_size=n, max_size=n)))
    width = np.array(draw(st.lists(st.floats(0.0, 1e6), min_size=n, max_size=n)))
    x = np.array(draw(st.lists(VALUE, min_size=n, max_size=n)))
    level = np.array(draw(st.lists(LEVEL, min_size=n, max_size=n)))
    return lower, lower + width, x, level


def sk_log_loss(p: np.ndarray, y: np.ndarray, clip: float = CLIP) -> float:
    return float(log_loss(y, np.clip(p, clip, 1 - clip), labels=[0, 1]))


def loop_interval_score(lower: Any, upper: Any, x: Any, level: Any) -> float:
    levels = [level] * len(x) if np.ndim(level) == 0 else list(level)
    total = 0.0
    for lo, hi, xi, lv in zip(lower, upper, x, levels, strict=True):
        alpha = 1 - lv
        score = hi - lo
        if xi < lo:
            score += 2 / alpha * (lo - xi)
        if xi > hi:
            score += 2 / alpha * (xi - hi)
        total += score
    return total / len(x)


def loop_bins(p: np.ndarray, y: np.ndarray, bins: int) -> list[tuple[float, float, list[int]]]:
    """(lo, hi, member indices) per bin, from the documented rule lo <= p < hi, 1.0 in the last."""
    out = []
    for j in range(bins):
        lo, hi = j / bins, (j + 1) / bins
        members = [i for i, pi in enumerate(p) if lo <= pi < hi or (j == bins - 1 and pi == 1.0)]
        out.append((lo, hi, members))
    return out


# --- Brier and log score --------------------------------------------------------------


@relaxed
@given(forecasts())
def test_brier_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    p, y = data
    got = brier(p, y)
    assert got == pytest.approx(brier_score_loss(y, p, labels=[0, 1]), **EXACT)
    assert 0.0 <= got <= 1.0


@relaxed
@given(forecasts(), st.sampled_from([CLIP, 0.001, 0.1, 0.25]))
def test_log_score_matches_sklearn_on_clipped_forecasts(
    data: tuple[np.ndarray, np.ndarray], clip: float
) -> None:
    p, y = data
    got = log_score(p, y) if clip == CLIP else log_score(p, y, clip=clip)
    assert got == pytest.approx(sk_log_loss(p, y, clip), **EXACT)
    assert 0.0 < got <= -math.log(clip) + 1e-12


def test_brier_known_values() -> None:
    assert brier([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.25
    assert brier([0.0, 1.0], [1, 0]) == 1.0
    assert brier([0.0, 1.0], [0, 1]) == 0.0
    assert brier([0.9, 0.2], [True, False]) == pytest.approx((0.01 + 0.04) / 2, **EXACT)


def test_one_prediction() -> None:
    assert brier([0.7], [1]) == pytest.approx(0.09, **EXACT)
    assert brier(0.7, 1) == pytest.approx(0.09, **EXACT)  # a scalar is one forecast
    assert log_score([0.7], [1]) == pytest.approx(-math.log(0.7), **EXACT)
    assert log_score([0.7], [0]) == pytest.approx(sk_log_loss(np.array([0.7]), np.array([0])), **EXACT)
    assert interval_score([1.0], [3.0], [4.0], 0.5) == pytest.approx(2 + 4 * 1, **EXACT)
    assert coverage([1.0], [3.0], [4.0]) == 0.0
    bins = reliability([0.7], [1])
    assert [b.count for b in bins] == [0] * 7 + [1] + [0] * 2
    m = murphy([0.7], [1])
    assert (m.uncertainty, m.resolution) == (0.0, 0.0)
    assert m.reliability == pytest.approx(0.09, **EXACT)
    assert trend([1_700_000_000], [0.7], [1]) == [MonthScore("2023-11", 1, pytest.approx(0.09, **EXACT))]


def test_certain_forecasts_are_clipped_in_the_log_score_only() -> None:
    assert CLIP == 0.01
    # Said 0 or 1 and was wrong: -ln(0.01), not infinity.
    assert log_score([0.0], [1]) == pytest.approx(-math.log(0.01), **EXACT)
    assert log_score([1.0], [0]) == pytest.approx(-math.log(0.01), **EXACT)
    # Said 0 or 1 and was right: still pays -ln(0.99), the price of the clip.
    assert log_score([0.0, 1.0], [0, 1]) == pytest.approx(-math.log(0.99), **EXACT)
    assert log_score([0.0, 1.0], [1, 0], clip=0.001) == pytest.approx(-math.log(0.001), **EXACT)
    # Brier needs no clipping and scores the forecasts as stated.
    assert brier([0.0, 1.0], [1, 1]) == 0.5


def test_all_outcomes_zero() -> None:
    p = np.array([0.05, 0.2, 0.2, 0.65, 0.9])
    y = np.zeros(5, dtype=int)
    assert brier(p, y) == pytest.approx(brier_score_loss(y, p, labels=[0, 1]), **EXACT)
    assert brier(p, y) == pytest.approx(float(np.mean(p**2)), **EXACT)
    assert log_score(p, y) == pytest.approx(sk_log_loss(p, y), **EXACT)
    for b in reliability(p, y):
        if b.count:
            assert b.positives == 0
            assert b.observed == 0.0
            assert b.ci_low == 0.0
            assert b.ci_high == pytest.approx(beta.ppf(0.975, 0.5, b.count + 0.5), **EXACT)
    m = murphy(p, y)
    assert (m.uncertainty, m.resolution) == (0.0, 0.0)
    assert m.reliability == pytest.approx(brier(p, y), **EXACT)  # one value per bin here


def test_all_outcomes_one_put_the_upper_end_at_one() -> None:
    bins = reliability([0.85, 0.85, 0.88], [1, 1, 1])
    b = bins[8]
    assert (b.count, b.positives, b.observed, b.ci_high) == (3, 3, 1.0, 1.0)
    assert b.ci_low == pytest.approx(beta.ppf(0.025, 3.5, 0.5), **EXACT)


# --- intervals ------------------------------------------------------------------------


@relaxed
@given(intervals())
def test_interval_score_matches_a_loop(data: tuple[np.ndarray, ...]) -> None:
    lower, upper, x, level = data
    got = interval_score(lower, upper, x, level)
    assert got == pytest.approx(loop_interval_score(lower, upper, x, level), rel=1e-9, abs=1e-6)
    assert got >= float(np.mean(upper - lower)) - 1e-6


@relaxed
@given(intervals(), LEVEL)
def test_interval_score_with_one_level_for_all(data: tuple[np.ndarray, ...], level: float) -> None:
    lower, upper, x, _ = data
    got = interval_score(lower, upper, x, level)
    assert got == pytest.approx(loop_interval_score(lower, upper, x, level), rel=1e-9, abs=1e-6)


def test_interval_score_known_values() -> None:
    # width 1; a miss by 1 at 80% costs 2 / 0.2 = 10 more; a hit costs only the width.
    assert interval_score([0, 0], [1, 1], [2, 0.5], 0.8) == pytest.approx((11 + 1) / 2, **EXACT)
    # The same miss costs more the more confident the level: at 50% only 2 / 0.5 = 4.
    assert interval_score([0, 0], [1, 1], [2, -1], [0.5, 0.8]) == pytest.approx((5 + 11) / 2, **EXACT)
    # Points on the ends are inside and cost nothing beyond the width.
    assert interval_score([0, 0], [1, 1], [0, 1], 0.9) == pytest.approx(1.0, **EXACT)


@relaxed
@given(intervals())
def test_coverage_matches_a_loop(data: tuple[np.ndarray, ...]) -> None:
    lower, upper, x, _ = data
    inside = sum(lo <= xi <= hi for lo, hi, xi in zip(lower, upper, x, strict=True))
    assert coverage(lower, upper, x) == pytest.approx(inside / len(x), **EXACT)


def test_coverage_includes_the_ends_and_reports_the_expected_level() -> None:
    assert coverage([0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1.000001, -0.5]) == 0.5
    assert coverage([2], [2], [2]) == 1.0
    assert expected_coverage(0.8) == pytest.approx(0.8, **EXACT)
    assert expected_coverage([0.8, 0.9, 0.5, 0.6]) == pytest.approx(0.7, **EXACT)


@relaxed
@given(st.lists(LEVEL, min_size=1, max_size=30))
def test_expected_coverage_is_the_mean_level(levels: list[float]) -> None:
    assert expected_coverage(levels) == pytest.approx(sum(levels) / len(levels), **EXACT)


# --- reliability ----------------------------------------------------------------------


@relaxed
@given(forecasts(), st.integers(min_value=1, max_value=25))
@example((np.array([0.0, 0.95, 0.95, 0.95]), np.array([0, 0, 0, 0])), 20)  # a mean that rounds below its bin
def test_reliability_bins_match_a_loop(data: tuple[np.ndarray, np.ndarray], bins: int) -> None:
    p, y = data
    got = reliability(p, y, bins=bins)
    assert len(got) == bins
    assert sum(b.count for b in got) == len(p)
    assert sum(b.positives for b in got) == int(y.sum())
    for b, (lo, hi, members) in zip(got, loop_bins(p, y, bins), strict=True):
        assert (b.lo, b.hi, b.count) == (pytest.approx(lo, **EXACT), pytest.approx(hi, **EXACT), len(members))
        if not members:
            assert (b.positives, b.mean_forecast, b.observed, b.ci_low, b.ci_high) == (
                0,
                None,
                None,
                None,
                None,
            )
            continue
        k, n = int(y[members].sum()), len(members)
        assert b.positives == k
        assert b.mean_forecast == pytest.approx(float(np.mean(p[members])), **EXACT)
        assert lo - 1e-12 <= b.mean_forecast <= hi + 1e-12  # the mean of equal floats may round past them
        assert b.observed == pytest.approx(k / n, **EXACT)
        low, high = beta.ppf([0.025, 0.975], k + 0.5, n - k + 0.5)
        assert b.ci_low == (0.0 if k == 0 else pytest.approx(low, **EXACT))
        assert b.ci_high == (1.0 if k == n else pytest.approx(high, **EXACT))


def test_reliability_jeffreys_interval_by_hand() -> None:
    p = [0.35] * 7
    y = [1, 1, 0, 0, 0, 0, 0]
    b = reliability(p, y)[3]
    assert (b.lo, b.hi, b.count, b.positives) == (0.3, 0.4, 7, 2)
    assert b.observed == pytest.approx(2 / 7, **EXACT)
    expected = beta.ppf([0.025, 0.975], 2 + 0.5, 7 - 2 + 0.5)
    assert [b.ci_low, b.ci_high] == pytest.approx(list(expected), **EXACT)
    # Honest for small counts: one hit in two forecasts says little.
    small = reliability([0.5, 0.5], [1, 0])[5]
    assert small.ci_low < 0.1 and small.ci_high > 0.9


def test_all_predictions_in_one_bin_keep_the_empty_bins() -> None:
    bins = reliability([0.61, 0.65, 0.69], [1, 0, 1])
    assert len(bins) == BINS
    full = bins[6]
    assert (full.lo, full.hi, full.count, full.positives) == (0.6, 0.7, 3, 2)
    assert full.mean_forecast == pytest.approx(0.65, **EXACT)
    assert full.observed == pytest.approx(2 / 3, **EXACT)
    empty = [b for i, b in enumerate(bins) if i != 6]
    assert all(b.count == 0 and b.observed is None and b.mean_forecast is None for b in empty)
    assert [b.lo for b in bins] == pytest.approx([i / 10 for i in range(10)], **EXACT)


def test_bin_edges_belong_to_the_bin_above_and_one_to_the_last() -> None:
    counts = [b.count for b in reliability([0.0, 0.3, 0.5, 0.999, 1.0], [0, 0, 0, 0, 0])]
    assert counts == [1, 0, 0, 1, 0, 1, 0, 0, 0, 2]
    assert [b.count for b in reliability([0.0, 0.5, 1.0], [0, 1, 1], bins=1)] == [3]
    assert [b.count for b in reliability([0.0, 0.5, 1.0], [0, 1, 1], bins=2)] == [1, 2]


def test_bins_are_frozen() -> None:
    b = reliability([0.5], [1])[5]
    assert isinstance(b, Bin)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.count = 3  # type: ignore[misc]


# --- Murphy decomposition -------------------------------------------------------------


@relaxed
@given(bin_constant())
def test_murphy_identity_is_exact_for_bin_constant_forecasts(
    data: tuple[int, np.ndarray, np.ndarray],
) -> None:
    bins, p, y = data
    m = murphy(p, y, bins=bins)
    assert m.brier == pytest.approx(brier_score_loss(y, p, labels=[0, 1]), **EXACT)
    assert m.reliability - m.resolution + m.uncertainty == pytest.approx(m.brier, rel=1e-9, abs=1e-12)
    assert m.uncertainty == pytest.approx(y.mean() * (1 - y.mean()), **EXACT)
    assert m.reliability >= 0.0 and m.resolution >= 0.0


@relaxed
@given(forecasts(), st.integers(min_value=1, max_value=25))
def test_murphy_parts_by_hand_and_the_within_bin_remainder(
    data: tuple[np.ndarray, np.ndarray], bins: int
) -> None:
    """With arbitrary forecasts the gap is exactly the within-bin variance minus twice the
    within-bin covariance (Stephenson et al. 2008), which pins every part independently."""
    p, y = data
    m = murphy(p, y, bins=bins)
    n, base = len(p), float(y.mean())
    rel = res = wbv = wbc = 0.0
    for _, _, members in loop_bins(p, y, bins):
        if not members:
            continue
        pk, yk = p[members], y[members]
        rel += len(members) * (pk.mean() - yk.mean()) ** 2
        res += len(members) * (yk.mean() - base) ** 2
        wbv += float(np.sum((pk - pk.mean()) ** 2))
        wbc += float(np.sum((yk - yk.mean()) * (pk - pk.mean())))
    assert m.reliability == pytest.approx(rel / n, **EXACT)
    assert m.resolution == pytest.approx(res / n, **EXACT)
    assert m.uncertainty == pytest.approx(base * (1 - base), **EXACT)
    assert m.brier == pytest.approx(brier(p, y), **EXACT)
    remainder = (wbv - 2 * wbc) / n
    assert m.reliability - m.resolution + m.uncertainty + remainder == pytest.approx(m.brier, abs=1e-12)


def test_murphy_known_values() -> None:
    m = murphy([0.05, 0.35, 0.35], [0, 1, 0])
    assert isinstance(m, Murphy)
    assert m.reliability == pytest.approx((0.05**2 + 2 * 0.15**2) / 3, **EXACT)
    assert m.resolution == pytest.approx((1 / 3) ** 2 / 3 + 2 * (1 / 2 - 1 / 3) ** 2 / 3, **EXACT)
    assert m.uncertainty == pytest.approx(2 / 9, **EXACT)
    assert m.brier == pytest.approx((0.05**2 + 0.65**2 + 0.35**2) / 3, **EXACT)


def test_murphy_with_spread_inside_a_bin_is_only_approximate() -> None:
    m = murphy([0.0, 0.09], [0, 1])  # one bin, two different forecasts
    assert m.reliability - m.resolution + m.uncertainty != pytest.approx(m.brier, abs=1e-6)
    assert m.brier == pytest.approx((0 + 0.91**2) / 2, **EXACT)


# --- trend ----------------------------------------------------------------------------


@relaxed
@given(
    st.lists(
        st.tuples(st.floats(min_value=-1e9, max_value=4e9), PROB, st.integers(0, 1)),
        min_size=1,
        max_size=60,
    )
)
def test_trend_matches_a_groupby(rows: list[tuple[float, float, int]]) -> None:
    times, p, y = (np.array(col) for col in zip(*rows, strict=True))
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(times):
        # The instant's month: floor to whole seconds first, because datetime would round
        # -1e-200 s to the epoch itself and call it 1970-01.
        groups[datetime.fromtimestamp(math.floor(t), UTC).strftime("%Y-%m")].append(i)
    expected = [
        (month, len(ix), float(brier_score_loss(y[ix], p[ix], labels=[0, 1])))
        for month, ix in sorted(groups.items())
    ]
    got = trend(times, p, y)
    assert [(s.month, s.count) for s in got] == [(m, c) for m, c, _ in expected]
    assert [s.brier for s in got] == pytest.approx([b for _, _, b in expected], **EXACT)
    assert sum(s.count for s in got) == len(rows)


def test_trend_splits_at_utc_month_ends_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        jan_end = datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC).timestamp()
        feb_start = datetime(2024, 2, 1, tzinfo=UTC).timestamp()
        got = trend([feb_start, jan_end + 0.9, jan_end, -0.5], [0.9, 0.1, 0.3, 0.5], [1, 0, 1, 1])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [(s.month, s.count) for s in got] == [("1969-12", 1), ("2024-01", 2), ("2024-02", 1)]
    assert [s.brier for s in got] == pytest.approx([0.25, (0.01 + 0.49) / 2, 0.01], **EXACT)


# --- bad input ------------------------------------------------------------------------

OK_P, OK_Y = [0.2, 0.8], [0, 1]
NAN, INF = float("nan"), float("inf")

BAD: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any], str]] = [
    ("brier empty", brier, ([], []), {}, "empty"),
    ("brier empty y", brier, ([0.5], []), {}, "y is empty"),
    ("brier lengths", brier, ([0.2, 0.3], [1]), {}, "p has 2 values but y has 1"),
    ("brier p > 1", brier, ([0.2, 70], OK_Y), {}, "p[1] is 70"),
    ("brier p < 0", brier, ([-0.1, 0.2], OK_Y), {}, "p[0] is -0.1"),
    ("brier p NaN", brier, ([0.2, NAN], OK_Y), {}, "p[1] is nan"),
    ("brier p inf", brier, ([INF, 0.2], OK_Y), {}, "p[0] is inf"),
    ("brier y = 2", brier, (OK_P, [0, 2]), {}, "y[1] is 2"),
    ("brier y = 0.5", brier, (OK_P, [0.5, 1]), {}, "y[0] is 0.5"),
    ("brier y NaN", brier, (OK_P, [NAN, 1]), {}, "y[0] is nan"),
    ("brier 2-d", brier, ([[0.2, 0.8]], [[0, 1]]), {}, "shape (1, 2)"),
    ("brier text", brier, (["high", "low"], OK_Y), {}, "p must contain only numbers"),
    ("log empty", log_score, ([], []), {}, "empty"),
    ("log p > 1", log_score, ([1.5, 0.2], OK_Y), {}, "p[0] is 1.5"),
    ("log lengths", log_score, (OK_P, [1]), {}, "p has 2 values but y has 1"),
    ("log clip 0", log_score, (OK_P, OK_Y), {"clip": 0.0}, "clip"),
    ("log clip 0.5", log_score, (OK_P, OK_Y), {"clip": 0.5}, "clip"),
    ("log clip NaN", log_score, (OK_P, OK_Y), {"clip": NAN}, "clip"),
    ("log clip text", log_score, (OK_P, OK_Y), {"clip": "0.01"}, "clip"),
    ("interval empty", interval_score, ([], [], [], 0.8), {}, "empty"),
    ("interval lower > upper", interval_score, ([0, 3], [1, 2], [0, 0], 0.8), {}, "lower[1] = 3 is above"),
    ("interval lengths", interval_score, ([0, 0], [1, 1], [0], 0.8), {}, "lower has 2 values but x has 1"),
    ("interval x NaN", interval_score, ([0], [1], [NAN], 0.8), {}, "x[0] is nan"),
    ("interval level 0", interval_score, ([0], [1], [0], 0.0), {}, "level[0] is 0"),
    ("interval level 1", interval_score, ([0], [1], [0], 1.0), {}, "level[0] is 1"),
    ("interval level 80", interval_score, ([0], [1], [0], 80), {}, "level[0] is 80"),
    ("interval level < 0", interval_score, ([0, 0], [1, 1], [0, 0], [0.8, -0.2]), {}, "level[1] is -0.2"),
    ("interval level NaN", interval_score, ([0], [1], [0], NAN), {}, "level[0] is nan"),
    ("interval levels", interval_score, ([0] * 3, [1] * 3, [0] * 3, [0.8, 0.9]), {}, "level has 2 values"),
    ("interval no level", interval_score, ([0], [1], [0], []), {}, "level is empty"),
    ("coverage empty", coverage, ([], [], []), {}, "empty"),
    ("coverage lower > upper", coverage, ([2], [1], [1]), {}, "lower[0] = 2 is above upper[0] = 1"),
    ("coverage lengths", coverage, ([0], [1, 2], [1]), {}, "lower has 1 values but upper has 2"),
    ("coverage inf", coverage, ([-INF], [1], [0]), {}, "lower[0] is -inf"),
    ("expected empty", expected_coverage, ([],), {}, "empty"),
    ("expected level 1", expected_coverage, ([0.8, 1.0],), {}, "level[1] is 1"),
    ("reliability empty", reliability, ([], []), {}, "empty"),
    ("reliability p > 1", reliability, ([1.01], [1]), {}, "p[0] is 1.01"),
    ("reliability bins 0", reliability, (OK_P, OK_Y), {"bins": 0}, "bins"),
    ("reliability bins 2.5", reliability, (OK_P, OK_Y), {"bins": 2.5}, "bins"),
    ("reliability bins True", reliability, (OK_P, OK_Y), {"bins": True}, "bins"),
    ("murphy empty", murphy, ([], []), {}, "empty"),
    ("murphy lengths", murphy, ([0.1], [1, 0]), {}, "p has 1 values but y has 2"),
    ("murphy bins -1", murphy, (OK_P, OK_Y), {"bins": -1}, "bins"),
    ("trend empty", trend, ([], [], []), {}, "empty"),
    ("trend lengths", trend, ([0], OK_P, OK_Y), {}, "times has 1 values but p has 2"),
    ("trend NaN time", trend, ([0, NAN], OK_P, OK_Y), {}, "times[1] is nan"),
    ("trend far future", trend, ([0, 1e20], OK_P, OK_Y), {}, "times[1] = 1e+20"),
    ("trend bad y", trend, ([0, 0], OK_P, [1, 3]), {}, "y[1] is 3"),
]


@pytest.mark.parametrize(("fn", "args", "kwargs", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_one_clear_sentence(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(BadInput) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and message.endswith(".")
    assert info.value.exit_code == 2


def test_importing_scoring_does_not_import_scipy() -> None:
    code = "import sys, labbook.core.scoring; print('scipy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
