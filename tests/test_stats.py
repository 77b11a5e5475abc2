"""Every number of ``labbook.stats`` against scipy on the same inputs, and its error rates by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from labbook import stats
from labbook.errors import BadInput

RNG = np.random.default_rng(20261129)
SAMPLES = [RNG.normal(0.8, 0.05, 5), RNG.normal(3.0, 2.0, 3), RNG.lognormal(0, 1, 12), RNG.normal(0, 1, 40)]


@pytest.mark.parametrize("x", SAMPLES)
def test_t_interval_is_scipy_t_interval(x: np.ndarray) -> None:
    low, high = stats.t_interval(x)
    want = sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))
    assert (float(low), float(high)) == pytest.approx(want, rel=1e-12)


def test_describe_uses_t_for_small_or_normal_samples_and_bca_for_clearly_skewed_ones() -> None:
    normal = RNG.normal(0, 1, 30)
    s = stats.describe(normal)
    assert s.method == "t" and (s.low, s.high) == pytest.approx(
        sp.t.interval(0.95, 29, loc=normal.mean(), scale=sp.sem(normal))
    )
    assert s.std == pytest.approx(normal.std(ddof=1)) and s.n == 30
    skewed = np.exp(RNG.normal(0, 1.5, 40))
    assert sp.shapiro(skewed).pvalue < 0.01
    b = stats.describe(skewed)
    want = sp.bootstrap(
        (skewed,), np.mean, method="BCa", n_resamples=9999, random_state=0
    ).confidence_interval
    assert b.method == "bca bootstrap" and (b.low, b.high) == pytest.approx((want.low, want.high))
    assert stats.describe(skewed[:5]).method == "t"  # five values cannot show non-normality
    one = stats.describe([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low) and one.method == "none"


@pytest.mark.parametrize("i,j", [(0, 1), (2, 3), (0, 3)])
def test_welch_is_scipy_ttest_ind_unequal_var(i: int, j: int) -> None:
    a, b = SAMPLES[i], SAMPLES[j]
    w = stats.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert w.t == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)
    assert w.df == pytest.approx(ref.df) and (w.low, w.high) == pytest.approx((ci.low, ci.high))
    assert w.diff == pytest.approx(a.mean() - b.mean())


def test_welch_vectorised_matches_one_at_a_time() -> None:
    a, b = RNG.normal(size=(50, 4)), RNG.normal(size=(50, 6))
    w = stats.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False, axis=1)
    np.testing.assert_allclose(w.p, ref.pvalue)


def test_permutation_p_is_scipy_permutation_test() -> None:
    a, b = SAMPLES[0], SAMPLES[0][::-1] + 0.06
    ref = sp.permutation_test(
        (a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=9999, random_state=0
    ).pvalue
    assert stats.permutation_p(a, b) == pytest.approx(ref)
    # 5 vs 5 has 252 splits, so the test is exact: the smallest p-value is 2/252
    assert stats.permutation_p(np.arange(5.0) + 10, np.arange(5.0)) == pytest.approx(2 / 252)


def test_superiority_is_mann_whitney_u_over_pairs() -> None:
    a, b = np.array([1.0, 2, 3, 3]), np.array([2.0, 3, 0])
    u = sp.mannwhitneyu(a, b).statistic
    assert stats.superiority(a, b) == pytest.approx(u / 12)
    assert stats.superiority(SAMPLES[2], SAMPLES[3]) == pytest.approx(
        sp.mannwhitneyu(SAMPLES[2], SAMPLES[3]).statistic / (12 * 40)
    )


def test_hedges_g_is_cohens_d_with_small_sample_correction() -> None:
    a, b = SAMPLES[0], SAMPLES[1]
    pooled = math.sqrt((4 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 6)
    d = (a.mean() - b.mean()) / pooled
    assert stats.hedges_g(a, b) == pytest.approx(d * (1 - 3 / (4 * 8 - 9)))


def test_wilson_is_scipy_binomtest_wilson_interval() -> None:
    for k, n in [(0, 5), (3, 10), (10, 10), (47, 120)]:
        ci = sp.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert stats.wilson(k, n) == pytest.approx((ci.low, ci.high))
    with pytest.raises(BadInput):
        stats.wilson(3, 2)


def test_mcnemar_exact_for_few_discordant_pairs_chi_square_for_many() -> None:
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1])
    b = np.array([1, 0, 0, 0, 1, 0, 1, 1, 1, 1])  # A alone right 3 times, B alone once
    m = stats.mcnemar(a, b)
    assert (m.a_only, m.b_only, m.exact) == (3, 1, True)
    assert m.p == pytest.approx(sp.binomtest(1, 4, 0.5).pvalue)
    big_a = np.r_[np.ones(40), np.zeros(15), np.ones(100)]
    big_b = np.r_[np.zeros(40), np.ones(15), np.ones(100)]
    m = stats.mcnemar(big_a, big_b)
    assert not m.exact and m.p == pytest.approx(sp.chi2.sf((abs(40 - 15) - 1) ** 2 / 55, 1))


def test_paired_bootstrap_is_scipy_bootstrap_and_sign_flip_test_of_differences() -> None:
    a = RNG.normal(0.5, 1, 30)
    b = a - 0.3 + RNG.normal(0, 0.2, 30)
    mean, low, high, p = stats.paired_bootstrap(a, b)
    d = a - b
    ci = sp.bootstrap((d,), np.mean, method="BCa", n_resamples=9999, random_state=0).confidence_interval
    ref_p = sp.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=9999, random_state=0)
    assert mean == pytest.approx(d.mean()) and (low, high) == pytest.approx((ci.low, ci.high))
    assert p == pytest.approx(ref_p.pvalue) and p < 0.001


@pytest.mark.parametrize("effect,n", [(0.5, 20), (1.0, 5), (0.2, 100), (1.5, 3)])
def test_power_is_the_noncentral_t(effect: float, n: int) -> None:
    df, nc = 2 * n - 2, effect * math.sqrt(n / 2)
    crit = sp.t.ppf(0.975, df)
    want = 1 - sp.nct.cdf(crit, df, nc) + sp.nct.cdf(-crit, df, nc)
    assert stats.power(effect, n) == pytest.approx(want)


@pytest.mark.parametrize("effect", [0.5, 0.8, 1.0, 2.0, 0.3])
def test_seeds_needed_is_the_smallest_n_reaching_80_percent_power(effect: float) -> None:
    n = stats.seeds_needed(effect)
    assert n is not None and stats.power(effect, n) >= 0.8 > stats.power(effect, n - 1)
    # and by simulation of that many seeds per side, the t test finds the effect as often as promised
    rng = np.random.default_rng(7)
    a, b = rng.normal(effect, 1, (4000, n)), rng.normal(0, 1, (4000, n))
    found = np.mean(sp.ttest_ind(a, b, axis=1).pvalue < 0.05)
    assert abs(found - stats.power(effect, n)) < 0.025 and found > 0.77
    assert stats.seeds_needed(0.0) is None


def test_seeds_needed_matches_the_textbook_table() -> None:
    # Cohen (1988): per group, two-sided alpha 0.05, power 0.8: d = 0.5 → 64, 0.8 → 26
    assert (stats.seeds_needed(0.5), stats.seeds_needed(0.8)) == (64, 26)


def test_holm_is_the_step_down_adjustment() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    m = len(p)
    order = np.argsort(p)
    want = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):  # the definition, one at a time
        running = max(running, min(1.0, (m - rank) * p[i]))
        want[i] = running
    np.testing.assert_allclose(stats.holm(p), want)
    assert list(stats.holm([0.6, 0.7])) == [1.0, 1.0]  # never above 1


def test_paired_compare_of_binary_scores_uses_mcnemar() -> None:
    a = np.r_[np.ones(30), np.zeros(5), np.ones(5)]
    b = np.r_[np.ones(30), np.zeros(5), np.zeros(5)]
    c = stats.compare(a, b, paired=True)
    assert c.test.startswith("McNemar (exact") and c.p == pytest.approx(sp.binomtest(0, 5, 0.5).pvalue)


def test_paired_seeds_too_few_for_a_sign_flip_use_the_paired_t_test() -> None:
    a = np.array([0.81, 0.84, 0.80, 0.86])
    b = a - np.array([0.05, 0.06, 0.04, 0.05])
    c = stats.compare(a, b, paired=True)
    ref = sp.ttest_rel(a, b)
    assert c.test == "paired t" and c.p == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval()))
    assert "no sign-flip p-value can fall below 0.12" in c.notes[0]


def test_a_clear_difference_is_better_with_its_welch_interval() -> None:
    a, b = RNG.normal(1.0, 0.1, 12), RNG.normal(0.0, 0.1, 12)
    c = stats.compare(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert c.verdict == "better" and c.test == "Welch's t" and c.p == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval()))
    assert stats.compare(b, a).verdict == "worse"
    assert stats.compare(b, a, higher_is_better=False).verdict == "better"


# -- simulation ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 20])
def test_identical_distributions_are_called_different_at_most_alpha_plus_1_5_points(n: int) -> None:
    """Over 1,200 A/A comparisons, the verdict "better" comes at most 5% + 1.5 points of the time."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(0, 1, (1200, n)), rng.normal(0, 1, (1200, n))
    better = sum(stats.compare(x, y).verdict == "better" for x, y in zip(a, b, strict=True))
    assert better / 1200 <= 0.05 + 0.015
    # the same p-values, vectorised, through the same decision rule
    w = stats.welch(a, b)
    p = w.p if n in (3, 20) else stats.permutation_p(a, b)
    calls = stats.decide(p, w.diff) != "none"
    assert calls.mean() <= 0.05 + 0.015
    if n >= 5:
        assert calls.mean() > 0.01  # and not a test that never fires
    else:  # 3 vs 3: 20 splits, so no permutation p-value is below 0.1: Welch's t, and compare says so
        c = stats.compare(a[0], b[0])
        assert c.test == "Welch's t" and "no permutation p-value can fall below 0.1" in c.notes[0]


def test_ci_of_the_mean_at_n_5_covers_the_true_mean_93_to_97_percent() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 2.0, (20_000, 5))
    low, high = stats.t_interval(x)
    covered = np.mean((low <= 3.0) & (high >= 3.0))
    assert 0.93 <= covered <= 0.97
    hits = [(s.low <= 3.0 <= s.high) for s in map(stats.describe, x[:1000])]  # describe uses the same
    assert 0.93 <= np.mean(hits) <= 0.97
