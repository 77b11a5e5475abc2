"""``lab compare`` prints only what the data can carry: each claim checked through the CLI.

P(A beats B) by the goal; primary and secondary metrics; the paired t interval; seeds
needed only for a difference that matters, as a range; a test and an interval that
disagree; ``--group-by`` with many values; shape notes; repeats folded to one value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from labbook.core import repeats
from labbook.records.runs import BatchSummary
from labbook.service.compare.report import compare
from labbook.service.notebook import Notebook

from .conftest import lab


def add_runs(project: Path, runs: list[tuple[dict[str, Any], dict[str, float]]]) -> list[int]:
    """Finished runs with these params and last values, through the store (fast, no SDK)."""
    ids = []
    with Notebook.open(project) as nb:
        for params, metrics in runs:
            r = nb.start_run(params=params)
            nb.store.runs.merge_metrics(
                r.id, [BatchSummary(k, 1, 0, v, 0, v, v, v) for k, v in metrics.items()]
            )
            nb.end_run(r.id, "finished", 0)
            ids.append(r.id)
    return ids


def compare_json(*args: str) -> dict[str, Any]:
    result = lab("compare", *args, "--json")
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output)
    return out


def by_metric(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metric"]: m for m in out["metrics"]}


# -- 1. P(A beats B) follows the goal ----------------------------------------------------------


def test_p_a_beats_b_is_by_the_goal_lower_loss_wins(project: Path) -> None:
    a_loss, b_loss = [0.20, 0.22, 0.21], [0.30, 0.33, 0.31]
    add_runs(project, [({"v": "a", "seed": s}, {"loss": x, "score": x}) for s, x in enumerate(a_loss)])
    add_runs(project, [({"v": "b", "seed": s}, {"loss": x, "score": x}) for s, x in enumerate(b_loss)])
    m = by_metric(compare_json("v=a", "v=b"))
    wins = sp.mannwhitneyu(b_loss, a_loss).statistic / 9  # pairs where A's loss is the lower
    assert m["loss"]["goal"] == "min" and m["loss"]["p_a_beats_b"] == pytest.approx(wins) == 1.0
    assert m["score"]["goal"] == "max" and m["score"]["p_a_beats_b"] == 0.0
    flipped = by_metric(compare_json("v=a", "v=b", "--goal", "min"))
    assert flipped["score"]["p_a_beats_b"] == 1.0
    text = lab("compare", "v=a", "v=b").output
    assert "P(A beats B)" in text and "chance a random run of A beats one of B by the goal" in text


# -- 2. primary and secondary metrics -----------------------------------------------------------


def _five_by_five(project: Path, rng: np.random.Generator, shifts: dict[str, float]) -> None:
    for side, sign in (("a", 1), ("b", 0)):
        add_runs(
            project,
            [
                (
                    {"v": side, "seed": s},
                    {k: float(rng.normal(sign * shift, 1)) for k, shift in shifts.items()},
                )
                for s in range(5)
            ],
        )


def test_the_first_metric_is_primary_the_others_holm_adjusted_and_gated(project: Path) -> None:
    _five_by_five(project, np.random.default_rng(1), {"acc": 20.0, "bleu": 20.0, "noise": 0.0})
    out = compare_json("v=a", "v=b")
    m = by_metric(out)
    assert out["primary"] == "acc" and [x["role"] for x in out["metrics"]] == [
        "primary",
        "secondary",
        "secondary",
    ]
    p0 = m["acc"]["p"]
    holm = multipletests([m["bleu"]["p"], m["noise"]["p"]], method="holm")[1]
    assert m["acc"]["p_adjusted"] == p0
    assert [m["bleu"]["p_adjusted"], m["noise"]["p_adjusted"]] == pytest.approx(list(np.maximum(p0, holm)))
    assert (m["acc"]["verdict"], m["bleu"]["verdict"]) == ("better", "better")
    assert "adjusted p" in m["bleu"]["sentence"]
    # a null primary shuts the gate: bleu's difference is shown but not claimed
    gated = by_metric(compare_json("v=a", "v=b", "-m", "noise", "-m", "bleu"))
    assert gated["noise"]["role"] == "primary" and gated["noise"]["verdict"] == "none"
    assert gated["bleu"]["p"] < 0.05 and gated["bleu"]["verdict"] == "none"
    assert any(
        "counts only when the primary one (noise) shows a difference" in n for n in gated["bleu"]["notes"]
    )
    text = lab("compare", "v=a", "v=b").output
    assert (
        "secondary" in text
        and "p adj." in text
        and "primary: acc (the first --metric, else the first by name), tested at 0.05" in text
    )
    with Notebook.open(project) as nb:  # a caller (a hypothesis) names its metric
        report = compare(nb, "v=a", "v=b", primary="noise")
    assert report.metrics[0].metric == "noise" and report.metrics[0].comparison.role == "primary"
    assert [r.comparison.role for r in report.metrics[1:]] == ["secondary", "secondary"]


def test_ten_null_metrics_no_longer_find_a_difference_by_chance(project: Path) -> None:
    rng = np.random.default_rng(7)
    names = [f"m{i}" for i in range(10)]
    for _ in range(200):  # a null table in which an uncorrected secondary would claim something
        a, b = rng.normal(size=(10, 5)), rng.normal(size=(10, 5))
        p = [sp.permutation_test((x, y), lambda u, w: np.mean(u) - np.mean(w), permutation_type="independent").pvalue
             for x, y in zip(a, b, strict=True)]  # fmt: skip
        ci = [sp.ttest_ind(x, y, equal_var=False).confidence_interval() for x, y in zip(a, b, strict=True)]
        raw = [pi < 0.05 and not c.low <= 0 <= c.high for pi, c in zip(p, ci, strict=True)]
        if any(raw[1:]) and not raw[0]:
            break
    else:
        raise AssertionError("no such table in 200 draws")
    for side, values in (("a", a), ("b", b)):
        add_runs(
            project, [({"v": side, "seed": s}, dict(zip(names, values[:, s], strict=True))) for s in range(5)]
        )
    out = compare_json("v=a", "v=b")
    assert all(m["verdict"] == "none" for m in out["metrics"])
    assert out["primary"] == "m0"


# -- 3. --paired: the paired t interval ----------------------------------------------------------


def test_paired_six_seeds_get_the_paired_t_interval_and_p(project: Path) -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0.8, 0.05, 6)
    a, b = base + 0.01 + rng.normal(0, 0.01, 6), base
    add_runs(project, [({"v": "a", "seed": s}, {"acc": float(x)}) for s, x in enumerate(a)])
    add_runs(project, [({"v": "b", "seed": s}, {"acc": float(x)}) for s, x in enumerate(b)])
    m = compare_json("v=a", "v=b", "--paired")["metrics"][0]
    ref = sp.ttest_rel(a, b)
    assert m["test"] == "paired t" and m["ci_method"] == "paired t" and m["p"] == pytest.approx(ref.pvalue)
    assert (m["ci_low"], m["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))


# -- 4a/b. seeds needed ------------------------------------------------------------------------


def test_an_a_a_comparison_prints_no_seeds_number_without_detect(project: Path) -> None:
    _five_by_five(project, np.random.default_rng(2), {"acc": 0.0})
    m = compare_json("v=a", "v=b")["metrics"][0]
    assert m["verdict"] == "none" and m["seeds_needed"] is None and m["seeds_needed_range"] is None
    assert "give --detect D (the smallest difference that matters)" in m["sentence"]
    assert "seeds per side would be needed" not in m["sentence"]


def test_seeds_needed_uses_welch_df_when_welch_decides(project: Path) -> None:
    a, b = [0.50, 0.51, 0.52], [0.40, 0.60, 0.55]  # 3 vs 3 with unequal spread: Welch's t decides
    add_runs(project, [({"v": "a", "seed": s}, {"acc": x}) for s, x in enumerate(a)])
    add_runs(project, [({"v": "b", "seed": s}, {"acc": x}) for s, x in enumerate(b)])
    m = compare_json("v=a", "v=b", "--detect", "0.05")["metrics"][0]
    assert m["test"] == "Welch's t"
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)

    def power(n: int, df: float) -> float:
        nc, crit = 0.05 / math.sqrt((va + vb) / n), sp.t.ppf(0.975, df)
        return float(sp.nct.sf(crit, df, nc) + sp.nct.cdf(-crit, df, nc))

    welch_n = next(n for n in range(2, 1000) if power(n, (va + vb) ** 2 * (n - 1) / (va**2 + vb**2)) >= 0.8)
    pooled_n = next(n for n in range(2, 1000) if power(n, 2 * n - 2) >= 0.8)
    assert m["seeds_needed"] == welch_n and welch_n > pooled_n  # the pooled t would promise too few


# -- 4c. a test and an interval that disagree ------------------------------------------------------


def test_the_verdict_says_which_of_test_and_interval_decided(project: Path) -> None:
    a, b = [1.0, 1.1, 1.2, 1.3, 9.0], [0.0, 0.1, 0.2, 0.3, 0.4]  # every A beats every B
    add_runs(project, [({"v": "a", "seed": s}, {"acc": x}) for s, x in enumerate(a)])
    add_runs(project, [({"v": "b", "seed": s}, {"acc": x}) for s, x in enumerate(b)])
    m = compare_json("v=a", "v=b")["metrics"][0]
    ci = sp.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert ci.low < 0 < ci.high and m["p"] == pytest.approx(2 / 252) and m["verdict"] == "none"
    assert (
        "the permutation test gives p = 0.0079 but the Welch t CI includes 0 (the CI assumes normal noise"
        in m["sentence"]
    )
    assert "counted as no detectable difference" in m["sentence"] and m["conflict"] in m["sentence"]


# -- 4d. --group-by with many values -----------------------------------------------------------------


def test_group_by_with_eight_values_of_five_seeds_can_still_call_a_difference(project: Path) -> None:
    rng = np.random.default_rng(8)
    values = {lr: rng.normal(0.70 + (0.2 if lr == 7 else 0.0), 0.01, 5) for lr in range(8)}
    add_runs(
        project,
        [({"lr": lr, "seed": s}, {"acc": float(x)}) for lr, xs in values.items() for s, x in enumerate(xs)],
    )
    out = compare_json("--group-by", "lr", "-m", "acc", "--baseline", "0")
    groups = {g["value"]: g for g in out["groups"]}
    raw = [sp.ttest_ind(values[v], values[0], equal_var=False).pvalue for v in range(1, 8)]
    # 7 comparisons: Holm needs p < 0.0071 from the first, below any 5-vs-5 permutation p (2/252)
    assert all(groups[v]["comparison"]["test"] == "Welch's t" for v in range(1, 8))
    assert [groups[v]["p_holm"] for v in range(1, 8)] == pytest.approx(
        list(multipletests(raw, method="holm")[1])
    )
    assert groups[7]["verdict"] == "better"
    text = lab("compare", "--group-by", "lr", "-m", "acc", "--baseline", "0").output
    assert (
        "no permutation p-value can fall below 0.0079, and the adjustment for several tests needs one below 0.0071"
        in text
    )
    assert text.count("no permutation p-value can fall below") == 1  # said once for all the rows


# -- 4e. skew and outliers ----------------------------------------------------------------------------


def test_a_side_with_an_outlier_gets_a_shape_note_and_the_median_interval(project: Path) -> None:
    a, b = [0.80, 0.81, 0.79, 0.80, 0.30], [0.70, 0.72, 0.71, 0.69, 0.70]
    add_runs(project, [({"v": "a", "seed": s}, {"acc": x}) for s, x in enumerate(a)])
    add_runs(project, [({"v": "b", "seed": s}, {"acc": x}) for s, x in enumerate(b)])
    m = compare_json("v=a", "v=b")["metrics"][0]
    assert sp.shapiro(a).pvalue < 0.05 and sp.shapiro(b).pvalue >= 0.05
    side = m["a"]
    assert side["shape_note"].startswith("looks skewed or has an outlier (Shapiro-Wilk p = ")
    assert side["median"] == np.median(a) and side["median_ci"] == [min(a), max(a)]
    assert side["median_ci_level"] == pytest.approx(1 - 2 * sp.binom.pmf(0, 5, 0.5))  # 93.75%
    assert m["b"]["shape_note"] is None
    text = lab("compare", "v=a", "v=b").output
    assert " †" in text and "† acc, A: looks skewed or has an outlier" in text
    assert "median 0.8 [0.3, 0.81] (order statistics: covers 93.75% whatever the shape)" in text


# -- 5. repeats are not seeds -------------------------------------------------------------------------


def test_a_rerun_of_the_same_config_and_seed_counts_once(project: Path) -> None:
    a, b = [0.80, 0.82, 0.81, 0.83, 0.79], [0.70, 0.71, 0.72, 0.69, 0.70]
    ids = add_runs(project, [({"v": "a", "seed": s}, {"acc": x}) for s, x in enumerate(a)])
    add_runs(project, [({"v": "b", "seed": s}, {"acc": x}) for s, x in enumerate(b)])
    (again,) = add_runs(project, [({"v": "a", "seed": 2}, {"acc": 0.85})])  # lab rerun of seed 2
    out = compare_json("v=a", "v=b")
    m = out["metrics"][0]
    folded_a = [0.80, 0.82, (0.81 + 0.85) / 2, 0.83, 0.79]
    assert m["a"]["n"] == 5 and m["a"]["mean"] == pytest.approx(np.mean(folded_a))
    assert out["a"]["folded"] == 1 and out["b"]["folded"] == 0 and len(out["a"]["runs"]) == 6
    with Notebook.open(project) as nb:
        runs = {r.id: r for r in nb.list_runs(limit=0)[0]}
    note = repeats.fold([(runs[i], 0.0) for i in [*ids, again]]).note("on side A")
    assert note is not None and f"runs {ids[2]}, {again}" in note and note in out["warnings"]
    paired = compare_json("v=a", "v=b", "--paired")["metrics"][0]  # seed 2 once on each side
    assert paired["test"] == "paired t" and paired["p"] == pytest.approx(sp.ttest_rel(folded_a, b).pvalue)
    groups = {
        g["value"]: g for g in compare_json("--group-by", "v", "-m", "acc", "--baseline", "b")["groups"]
    }
    assert groups["a"]["n"] == 5 and groups["a"]["folded"] == 1
