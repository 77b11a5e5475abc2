"""The statistics behind piles, diffs and tails, checked against scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from labbook.core.example_sets import id_keys
from labbook.core.failstats import allocate, binom_half_cdf, mcnemar, robust_z, wilson


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (1, 1), (0, 40), (3, 40), (20, 40), (40, 40), (7, 13), (512, 1000)]
)
def test_wilson_matches_scipy_and_statsmodels(k: int, n: int) -> None:
    low, high = wilson(k, n)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-12) and high == pytest.approx(ref.high, abs=1e-12)
    sm_low, sm_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(sm_low, abs=1e-9) and high == pytest.approx(sm_high, abs=1e-9)


def test_wilson_with_nothing_reviewed_says_nothing() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("fixed", "broken"), [(0, 0), (1, 0), (0, 1), (5, 5), (12, 3), (3, 12), (40, 25), (271, 63)]
)
def test_mcnemar_matches_statsmodels(fixed: int, broken: int) -> None:
    table = [[100, broken], [fixed, 50]]  # rows: A right / wrong; columns: B right / wrong
    got = mcnemar(fixed, broken)
    if fixed + broken == 0:  # no discordant pair: no evidence of a change
        assert got.p_exact == 1.0 and got.p_asymptotic == 1.0
        return
    exact = sm_mcnemar(table, exact=True)
    asym = sm_mcnemar(table, exact=False, correction=True)
    assert got.p_exact == pytest.approx(exact.pvalue, rel=1e-9, abs=1e-15)
    assert got.chi2 == pytest.approx(asym.statistic, rel=1e-12)
    assert got.p_asymptotic == pytest.approx(asym.pvalue, rel=1e-9)
    assert got.p_exact == pytest.approx(stats.binomtest(fixed, fixed + broken, 0.5).pvalue, rel=1e-9)


def test_robust_z_matches_scipy_mad() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(2.0, 0.5, 500), [40.0, -30.0]])
    z = robust_z(x)
    ref = (x - np.median(x)) / stats.median_abs_deviation(x, scale="normal")
    np.testing.assert_allclose(z, ref, rtol=1e-12)
    assert np.argmax(z) == 500 and np.argmin(z) == 501  # the planted outliers stand out


def test_robust_z_when_most_values_are_equal() -> None:
    x = np.array([0.0] * 9 + [5.0])  # MAD is 0: the mean absolute deviation takes over
    z = robust_z(x)
    assert np.all(np.isfinite(z)) and z[-1] == pytest.approx(5.0 / (1.2533141373155001 * 0.5))
    assert not np.any(robust_z(np.ones(4)))


@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), st.integers(0, 200))
def test_allocate_is_proportional_and_never_overdraws(sizes: list[int], n: int) -> None:
    quota = allocate(sizes, n)
    assert sum(quota) == min(n, sum(sizes))
    assert all(0 <= q <= s for q, s in zip(quota, sizes, strict=True))
    if sum(sizes) and n <= sum(sizes):
        for q, s in zip(quota, sizes, strict=True):
            assert abs(q - n * s / sum(sizes)) < 1 + 1e-9 or q == s


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 1), (0, 10), (3, 10), (5, 10), (7, 10), (10, 10), (40, 100), (499_000, 1_000_000), (1, 2_000)],
)
def test_binomial_tail_matches_scipy(k: int, n: int) -> None:
    assert binom_half_cdf(k, n) == pytest.approx(float(stats.binom.cdf(k, n, 0.5)), rel=1e-8, abs=1e-300)


def test_diff_ids_keep_their_keys_across_calls_and_lengths() -> None:
    long_id = "x" * 100
    ids = ["a", "b", "ab", "ba", "é", long_id, "q1", "q10"]
    keys = id_keys(ids)
    assert len(set(keys.tolist())) == len(ids)  # distinct ids, distinct keys
    assert id_keys(list(reversed(ids))).tolist() == list(
        reversed(keys.tolist())
    )  # a key depends on its id only
    assert id_keys([long_id, long_id + "y"]).tolist()[0] == keys[5]
