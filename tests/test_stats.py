"""Every number of ``labbook.core.stats`` against scipy on the same inputs, and its error rates by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from labbook.core.stats import effects, intervals, multiple, paired, power, shape, tests, verdict
from labbook.errors import BadInput

RNG = np.random.default_rng(20261129)
SAMPLES = [RNG.normal(0.8, 0.05, 5), RNG.normal(3.0, 2.0, 3), RNG.lognormal(0, 1, 12), RNG.normal(0, 1, 40)]


@pytest.mark.parametrize("x", SAMPLES)
def test_t_interval_is_scipy_t_interval(x: np.ndarray) -> None:
    low, high = intervals.t_interval(x)
    want = sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))
    assert (float(low), float(high)) == pytest.approx(want, rel=1e-12)


def test_describe_uses_t_whatever_the_shape_and_notes_a_skewed_sample() -> None:
    normal = RNG.normal(0, 1, 30)
    s = intervals.describe(normal)
    assert s.method == "t" and (s.low, s.high) == pytest.approx(
        sp.t.interval(0.95, 29, loc=normal.mean(), scale=sp.sem(normal))
    )
    assert s.std == pytest.approx(normal.std(ddof=1)) and s.n == 30
    skewed = np.exp(RNG.normal(0, 1.5, 40))
    assert sp.shapiro(skewed).pvalue < 0.01
    b = intervals.describe(skewed)
    assert b.method == "t" and (b.low, b.high) == pytest.approx(
        sp.t.interval(0.95, 39, loc=skewed.mean(), scale=sp.sem(skewed))
    )
    assert b.shape_note is not None  # the doubt is said beside the CI, with the median interval
    one = intervals.describe([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low) and one.method == "none"


def test_the_t_interval_covers_better_than_bca_when_one_seed_diverged() -> None:
    """Why the mean's CI stays t: with one seed 10 SD off, a BCa bootstrap covers the clean mean
    far less often than the t (seeded simulation; BCa with fewer resamples to stay quick)."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (300, 10))
    x[:, 0] = 10.0
    low, high = intervals.t_interval(x)
    t_cover = np.mean((low <= 0) & (high >= 0))
    ci = sp.bootstrap(
        (x,), np.mean, axis=-1, method="BCa", n_resamples=999, random_state=0
    ).confidence_interval
    bca_cover = np.mean((ci.low <= 0) & (ci.high >= 0))
    assert t_cover >= 0.95 > bca_cover + 0.1
    described = [intervals.describe(row) for row in x[:50]]
    assert all(d.method == "t" and d.shape_note for d in described)


@pytest.mark.parametrize("i,j", [(0, 1), (2, 3), (0, 3)])
def test_welch_is_scipy_ttest_ind_unequal_var(i: int, j: int) -> None:
    a, b = SAMPLES[i], SAMPLES[j]
    w = tests.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert w.t == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)
    assert w.df == pytest.approx(ref.df) and (w.low, w.high) == pytest.approx((ci.low, ci.high))
    assert w.diff == pytest.approx(a.mean() - b.mean())


def test_welch_vectorised_matches_one_at_a_time() -> None:
    a, b = RNG.normal(size=(50, 4)), RNG.normal(size=(50, 6))
    w = tests.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False, axis=1)
    np.testing.assert_allclose(w.p, ref.pvalue)


def test_permutation_p_is_scipy_permutation_test() -> None:
    a, b = SAMPLES[0], SAMPLES[0][::-1] + 0.06
    ref = sp.permutation_test(
        (a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=9999, random_state=0
    ).pvalue
    assert tests.permutation_p(a, b) == pytest.approx(ref)
    # 5 vs 5 has 252 splits, so the test is exact: the smallest p-value is 2/252
    assert tests.permutation_p(np.arange(5.0) + 10, np.arange(5.0)) == pytest.approx(2 / 252)


def test_p_a_beats_b_follows_the_goal() -> None:
    a, b = np.array([0.2, 0.3, 0.25]), np.array([0.5, 0.6, 0.3])  # A's loss is lower in 8 pairs of 9, 1 tie
    assert effects.superiority(a, b, higher_is_better=False) == pytest.approx(
        sp.mannwhitneyu(b, a).statistic / 9
    )
    assert effects.superiority(a, b, higher_is_better=False) + effects.superiority(a, b) == pytest.approx(1.0)
    assert verdict.compare(a, b, higher_is_better=False).superiority == pytest.approx(8.5 / 9)


def test_superiority_is_mann_whitney_u_over_pairs() -> None:
    a, b = np.array([1.0, 2, 3, 3]), np.array([2.0, 3, 0])
    u = sp.mannwhitneyu(a, b).statistic
    assert effects.superiority(a, b) == pytest.approx(u / 12)
    assert effects.superiority(SAMPLES[2], SAMPLES[3]) == pytest.approx(
        sp.mannwhitneyu(SAMPLES[2], SAMPLES[3]).statistic / (12 * 40)
    )


def test_hedges_g_is_cohens_d_with_small_sample_correction() -> None:
    a, b = SAMPLES[0], SAMPLES[1]
    pooled = math.sqrt((4 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 6)
    d = (a.mean() - b.mean()) / pooled
    assert effects.hedges_g(a, b) == pytest.approx(d * (1 - 3 / (4 * 8 - 9)))


def test_wilson_is_scipy_binomtest_wilson_interval() -> None:
    for k, n in [(0, 5), (3, 10), (10, 10), (47, 120)]:
        ci = sp.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert intervals.wilson(k, n) == pytest.approx((ci.low, ci.high))
    with pytest.raises(BadInput):
        intervals.wilson(3, 2)


def test_mcnemar_exact_for_few_discordant_pairs_chi_square_for_many() -> None:
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1])
    b = np.array([1, 0, 0, 0, 1, 0, 1, 1, 1, 1])  # A alone right 3 times, B alone once
    m = paired.mcnemar(a, b)
    assert (m.a_only, m.b_only, m.exact) == (3, 1, True)
    assert m.p == pytest.approx(sp.binomtest(1, 4, 0.5).pvalue)
    big_a = np.r_[np.ones(40), np.zeros(15), np.ones(100)]
    big_b = np.r_[np.zeros(40), np.ones(15), np.ones(100)]
    m = paired.mcnemar(big_a, big_b)
    assert not m.exact and m.p == pytest.approx(sp.chi2.sf((abs(40 - 15) - 1) ** 2 / 55, 1))


@pytest.mark.parametrize("effect,n", [(0.5, 20), (1.0, 5), (0.2, 100), (1.5, 3)])
def test_power_is_the_noncentral_t(effect: float, n: int) -> None:
    df, nc = 2 * n - 2, effect * math.sqrt(n / 2)
    crit = sp.t.ppf(0.975, df)
    want = 1 - sp.nct.cdf(crit, df, nc) + sp.nct.cdf(-crit, df, nc)
    assert power.power(effect, n) == pytest.approx(want)


@pytest.mark.parametrize("effect", [0.5, 0.8, 1.0, 2.0, 0.3])
def test_seeds_needed_is_the_smallest_n_reaching_80_percent_power(effect: float) -> None:
    n = power.seeds_needed(effect)
    assert n is not None and power.power(effect, n) >= 0.8 > power.power(effect, n - 1)
    # and by simulation of that many seeds per side, the t test finds the effect as often as promised
    rng = np.random.default_rng(7)
    a, b = rng.normal(effect, 1, (4000, n)), rng.normal(0, 1, (4000, n))
    found = np.mean(sp.ttest_ind(a, b, axis=1).pvalue < 0.05)
    assert abs(found - power.power(effect, n)) < 0.025 and found > 0.77
    assert power.seeds_needed(0.0) is None


def test_seeds_needed_matches_the_textbook_table() -> None:
    # Cohen (1988): per group, two-sided alpha 0.05, power 0.8: d = 0.5 → 64, 0.8 → 26
    assert (power.seeds_needed(0.5), power.seeds_needed(0.8)) == (64, 26)


def test_holm_is_the_step_down_adjustment() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    m = len(p)
    order = np.argsort(p)
    want = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):  # the definition, one at a time
        running = max(running, min(1.0, (m - rank) * p[i]))
        want[i] = running
    np.testing.assert_allclose(multiple.holm(p), want)
    assert list(multiple.holm([0.6, 0.7])) == [1.0, 1.0]  # never above 1


def test_paired_compare_of_binary_scores_uses_mcnemar() -> None:
    a = np.r_[np.ones(30), np.zeros(5), np.ones(5)]
    b = np.r_[np.ones(30), np.zeros(5), np.zeros(5)]
    c = verdict.compare(a, b, paired=True)
    assert c.test.startswith("McNemar (exact") and c.p == pytest.approx(sp.binomtest(0, 5, 0.5).pvalue)


@pytest.mark.parametrize("n", [4, 6, 12, 40])
def test_paired_values_get_the_paired_t_interval_and_its_p_at_every_n(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(0.8, 0.03, n)
    b = a - 0.01 + rng.normal(0, 0.02, n)
    c = verdict.compare(a, b, paired=True)
    ref = sp.ttest_rel(a, b)
    assert (c.test, c.ci_method) == ("paired t", "paired t") and c.p == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval()))
    assert (c.p < 0.05) == (not c.low <= 0 <= c.high)  # one test, one interval: they cannot disagree


def test_a_clear_difference_is_better_with_its_welch_interval() -> None:
    a, b = RNG.normal(1.0, 0.1, 12), RNG.normal(0.0, 0.1, 12)
    c = verdict.compare(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert c.verdict == "better" and c.test == "Welch's t" and c.p == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval()))
    assert verdict.compare(b, a).verdict == "worse"
    assert verdict.compare(b, a, higher_is_better=False).verdict == "better"


# -- simulation ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 20])
def test_identical_distributions_are_called_different_at_most_alpha_plus_1_5_points(n: int) -> None:
    """Over 1,200 A/A comparisons, the verdict "better" comes at most 5% + 1.5 points of the time."""
    rng = np.random.default_rng(n)
    a, b = rng.normal(0, 1, (1200, n)), rng.normal(0, 1, (1200, n))
    better = sum(verdict.compare(x, y).verdict == "better" for x, y in zip(a, b, strict=True))
    assert better / 1200 <= 0.05 + 0.015
    # the same p-values, vectorised, through the same decision rule
    w = tests.welch(a, b)
    p = w.p if n in (3, 20) else tests.permutation_p(a, b)
    calls = multiple.decide(p, w.diff) != "none"
    assert calls.mean() <= 0.05 + 0.015
    if n >= 5:
        assert calls.mean() > 0.01  # and not a test that never fires
    else:  # 3 vs 3: 20 splits, so no permutation p-value is below 0.1: Welch's t, and compare says so
        c = verdict.compare(a[0], b[0])
        assert c.test == "Welch's t" and "no permutation p-value can fall below 0.1" in c.notes[0]


def test_ci_of_the_mean_at_n_5_covers_the_true_mean_93_to_97_percent() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 2.0, (20_000, 5))
    low, high = intervals.t_interval(x)
    covered = np.mean((low <= 3.0) & (high >= 3.0))
    assert 0.93 <= covered <= 0.97
    hits = [(s.low <= 3.0 <= s.high) for s in map(intervals.describe, x[:1000])]  # describe uses the same
    assert 0.93 <= np.mean(hits) <= 0.97


# -- several metrics: primary and secondary ----------------------------------------------


def test_holm_along_an_axis_is_statsmodels_holm_and_leaves_nan_out() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    p = rng.uniform(0, 0.2, (50, 6))
    want = np.array([multipletests(row, method="holm")[1] for row in p])
    np.testing.assert_allclose(multiple.holm(p), want)
    with_nan = np.array([0.01, np.nan, 0.04, 0.02])
    got = multiple.holm(with_nan)
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests([0.01, 0.04, 0.02], method="holm")[1])


def test_secondary_metrics_are_holm_adjusted_and_gated_by_the_primary() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.004, 0.03, 0.2])
    low, high = np.full(4, 0.1), np.full(4, 0.2)  # every CI excludes 0
    adjusted, called = multiple.family_calls(p, low, high)
    holm = multipletests(p[1:], method="holm")[1]
    np.testing.assert_allclose(adjusted, np.r_[p[0], np.maximum(p[0], holm)])
    assert list(called) == [True, True, False, False]  # 0.012 < 0.05; 0.06 and 0.2 are not
    _, gated = multiple.family_calls(np.array([0.2, 0.001, 0.002]), np.full(3, 0.1), np.full(3, 0.2))
    assert not gated.any()  # the primary shows nothing: no secondary counts
    _, excluded = multiple.family_calls(np.array([0.01, 0.001]), np.array([-0.1, 0.1]), np.array([0.1, 0.2]))
    assert not excluded.any()  # the primary's CI includes 0: not called, so the gate stays shut


def _family(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lab compare's decision over metrics on axis 1, vectorised: the primary's test may reach
    alpha, each secondary's alpha / m (``compare._compare_metrics``), then ``family_calls``."""
    m = x.shape[1] - 1
    first = tests.unpaired(x[:, :1], y[:, :1], reach=0.05)
    rest = tests.unpaired(x[:, 1:], y[:, 1:], reach=0.05 / m)
    p, low, high = (np.concatenate([getattr(first, k), getattr(rest, k)], -1) for k in ("p", "low", "high"))
    raw = multiple.calls(p, low, high)
    return raw, multiple.family_calls(p, low, high)[1]


@pytest.mark.parametrize("n", [3, 5, 10])
def test_ten_null_metrics_give_a_false_call_at_most_alpha_plus_1_5_points(n: int) -> None:
    """2,000 A/A comparisons of 10 metrics: "better/worse" on any of them ≤ 6.5% of the time."""
    rng = np.random.default_rng(100 + n)
    x, y = rng.normal(size=(2000, 10, n)), rng.normal(size=(2000, 10, n))
    raw, called = _family(x, y)
    assert raw.any(axis=1).mean() > 0.25  # uncorrected, a third of the tables claim something
    assert called.any(axis=1).mean() <= 0.05 + 0.015
    assert called[:, 0].mean() > 0.01  # and the primary is still tested at alpha
    # the scalar path lab compare takes gives the same calls, dataset by dataset
    for k in range(40):
        comps = [verdict.compare(x[k, j], y[k, j], reach=0.05 if j == 0 else 0.05 / 9) for j in range(10)]
        settled = verdict.adjust_family(comps)
        assert [c.verdict != "none" for c in settled] == list(called[k])
        assert [c.role for c in settled] == ["primary"] + ["secondary"] * 9


def test_a_permutation_test_that_cannot_reach_the_holm_level_gives_way_to_welch() -> None:
    a, b = np.arange(5.0), np.arange(5.0) + 10
    assert tests.permutation_floor(5, 5) == pytest.approx(2 / 252)
    assert tests.choose_test(a, b, 0.05 / 6) == "permutation"  # 2/252 < 0.0083
    assert tests.choose_test(a, b, 0.05 / 7) == tests.TOO_FEW  # 2/252 ≥ 0.0071: never reachable
    c = verdict.compare(a, b, reach=0.05 / 7)
    assert c.test == "Welch's t" and c.p == pytest.approx(sp.ttest_ind(a, b, equal_var=False).pvalue)
    assert "the adjustment for several tests needs one below 0.0071" in c.notes[0]


# -- the paired interval ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [6, 8, 10, 20])
def test_the_paired_interval_covers_93_to_97_percent_on_normal_differences(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.normal(0, 1, (20_000, n))
    b = a - 0.3 + rng.normal(0, 0.5, (20_000, n))  # true mean difference 0.3
    t = paired.paired_t(a - b)
    assert 0.93 <= np.mean((t.low <= 0.3) & (t.high >= 0.3)) <= 0.97
    hits = [
        (c.low <= 0.3 <= c.high)
        for c in (verdict.compare(x, y, paired=True) for x, y in zip(a[:400], b[:400], strict=True))
    ]
    assert 0.92 <= np.mean(hits) <= 0.98  # compare takes the same interval


# -- power and seeds needed --------------------------------------------------------------------


@pytest.mark.parametrize("d,n", [(0.5, 20), (1.0, 5), (0.3, 100)])
def test_welch_power_with_equal_variances_is_statsmodels_ttestindpower(d: float, n: int) -> None:
    from statsmodels.stats.power import TTestIndPower

    want = TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05, ratio=1.0)
    assert power.welch_power(d * 2.0, 4.0, 4.0, n) == pytest.approx(want, rel=1e-6)
    assert power.power(d, n) == pytest.approx(want, rel=1e-6)


def test_welch_power_uses_welch_df_and_is_what_simulation_finds() -> None:
    va, vb, diff, n = 1.0, 9.0, 2.0, 6
    df = (va + vb) ** 2 * (n - 1) / (va**2 + vb**2)
    nc = diff / math.sqrt((va + vb) / n)
    crit = sp.t.ppf(0.975, df)
    want = sp.nct.sf(crit, df, nc) + sp.nct.cdf(-crit, df, nc)
    assert power.welch_power(diff, va, vb, n) == pytest.approx(want)
    assert power.welch_power(diff, va, vb, n) < power.power(diff / math.sqrt((va + vb) / 2), n)
    rng = np.random.default_rng(9)
    x, y = rng.normal(diff, 1, (20_000, n)), rng.normal(0, 3, (20_000, n))
    found = np.mean(sp.ttest_ind(x, y, axis=1, equal_var=False).pvalue < 0.05)
    assert abs(found - want) < 0.02
    needed = power.welch_seeds_needed(diff, va, vb)
    assert needed is not None
    assert power.welch_power(diff, va, vb, needed) >= 0.8 > power.welch_power(diff, va, vb, needed - 1)


def test_the_sd_upper_bound_is_chi_square_and_holds_80_percent_of_the_time() -> None:
    for df in (2, 4, 8, 18):
        assert power.sd_upper_factor(df) == pytest.approx(math.sqrt(df / sp.chi2.ppf(0.2, df)))
    rng = np.random.default_rng(4)
    x = rng.normal(0, 2.0, (20_000, 5))
    assert 0.78 <= np.mean(x.std(axis=1, ddof=1) * power.sd_upper_factor(4) >= 2.0) <= 0.82


def test_seeds_needed_comes_for_detect_or_a_clear_difference_never_for_noise() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 5), rng.normal(0, 1, 5)
    aa = verdict.compare(a, b)
    assert aa.verdict == "none" and aa.seeds_range is None and aa.seeds_for is None
    want = verdict.compare(a, b, detect=0.5)
    lo, hi = want.seeds_range or (0, 0)
    va, vb, k2 = a.var(ddof=1), b.var(ddof=1), power.sd_upper_factor(8) ** 2
    assert (lo, hi) == (
        power.welch_seeds_needed(0.5, va, vb),
        power.welch_seeds_needed(0.5, va * k2, vb * k2),
    )
    assert want.seeds_for == "detect" and want.seeds_needed == lo and hi is not None and hi > lo
    clear = verdict.compare(a + 3, b)
    assert clear.seeds_for == "observed" and clear.detect == pytest.approx(abs(clear.diff))
    pairs = verdict.compare(a, b, paired=True, detect=0.5)
    sd = (a - b).std(ddof=1)
    assert pairs.seeds_range == (
        power.pairs_needed(0.5, sd),
        power.pairs_needed(0.5, sd * power.sd_upper_factor(4)),
    )


# -- when the test and the interval disagree ---------------------------------------------------


def test_a_test_and_a_ci_that_disagree_claim_nothing_and_say_which_said_what() -> None:
    a = np.array([1.0, 1.1, 1.2, 1.3, 9.0])  # every A above every B, but one A far off
    b = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    c = verdict.compare(a, b)
    assert c.test.startswith("permutation") and c.p == pytest.approx(2 / 252)
    assert c.low <= 0 <= c.high and c.verdict == "none"
    assert c.conflict is not None and c.conflict.startswith(
        "the permutation test gives p = 0.0079 but the Welch t CI includes 0 (the CI assumes normal noise"
    )
    assert "counted as no detectable difference" in c.conflict
    plain = verdict.compare(np.array([1.0, 1.2, 1.1, 1.3, 1.15]), b)
    assert plain.verdict == "better" and plain.conflict is None


# -- shape: skew, outliers, and the median's interval --------------------------------------------


@pytest.mark.parametrize("n", [6, 7, 9, 10, 15, 30])
def test_the_median_interval_is_scipys_quantile_test_interval(n: int) -> None:
    x = np.random.default_rng(n).lognormal(0, 1, n)
    _, low, high, coverage = intervals.median_interval(x)
    ci = sp.quantile_test(x, q=np.median(x)).confidence_interval(0.95)
    assert (float(low), float(high)) == (ci.low, ci.high)
    k = int(np.searchsorted(np.sort(x), low)) + 1
    assert coverage == pytest.approx(1 - 2 * sp.binom.cdf(k - 1, n, 0.5)) and coverage >= 0.95


def test_at_five_values_the_median_interval_is_min_max_covering_93_75_percent() -> None:
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    med, low, high, coverage = intervals.median_interval(x)
    assert (float(med), float(low), float(high)) == (3.0, 1.0, 5.0)
    assert coverage == pytest.approx(1 - 2 * 0.5**5)
    s = intervals.describe(x)
    assert (s.median, s.median_low, s.median_high, s.median_level) == (3.0, 1.0, 5.0, pytest.approx(0.9375))


@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_median_interval_covers_what_it_says_on_skewed_data(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.lognormal(0, 1, (20_000, n))  # true median 1
    _, low, high, coverage = intervals.median_interval(x)
    assert abs(np.mean((low <= 1) & (high >= 1)) - coverage) < 0.01


def test_the_shape_note_fires_on_outliers_and_rarely_on_normal_data() -> None:
    rng = np.random.default_rng(6)
    normal = rng.normal(0, 1, (4000, 5))
    outlier = normal.copy()
    outlier[:, 0] = 10.0  # one seed 10 SD off
    assert np.mean(shape.looks_misshapen(shape.shapiro_p(normal))) <= 0.065
    assert np.mean(shape.looks_misshapen(shape.shapiro_p(outlier))) >= 0.8
    fired = outlier[int(np.argmax(sp.shapiro(outlier, axis=1).pvalue < 0.05))]
    p = float(sp.shapiro(fired).pvalue)
    assert intervals.describe(fired).shape_note == (
        f"looks skewed or has an outlier (Shapiro-Wilk p = {p:.2g} < 0.05): the t CI's 95% coverage is doubtful"
    )
    quiet = normal[int(np.argmax(sp.shapiro(normal, axis=1).pvalue > 0.05))]
    assert intervals.describe(quiet).shape_note is None


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 11, 12, 20, 50, 200])
def test_shapiro_p_is_scipys_shapiro_wilk(n: int) -> None:
    rng = np.random.default_rng(n)
    for x in (rng.normal(size=(100, n)), rng.lognormal(size=(100, n)), rng.exponential(size=(100, n)) ** 3):
        np.testing.assert_allclose(shape.shapiro_p(x), sp.shapiro(x, axis=-1).pvalue, atol=1e-6)
    assert math.isnan(shape.shapiro_p(np.ones(n))) and math.isnan(shape.shapiro_p([1.0, 2.0]))
