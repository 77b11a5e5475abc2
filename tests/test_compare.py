"""``lab compare`` and ``lab plot`` over real notebooks: sides, variants, diffs, statistics, verdicts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sp

import labbook
from labbook.records.runs import FAILED
from labbook.service import curves
from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

A_ACC = [0.81, 0.83, 0.80, 0.84, 0.82]
B_ACC = [0.74, 0.77, 0.75, 0.73, 0.76]


def log_run(config: dict, metrics: dict, tags: tuple[str, ...] = (), steps: int = 3) -> int:
    with labbook.init(config=config, tags=list(tags)) as run:
        for step in range(steps):
            run.log({k: v * (step + 1) / steps for k, v in metrics.items()}, step=step)
        return run.id


@pytest.fixture
def two_variants(project: Path) -> Path:
    """lr=0.001 (5 seeds) and lr=0.0003 (5 seeds), plus a smoke run and a failed run of the first."""
    for seed, (a, b) in enumerate(zip(A_ACC, B_ACC, strict=True)):
        log_run({"lr": 1e-3, "seed": seed, "depth": 4}, {"acc": a, "loss": 1 - a})
        log_run({"lr": 3e-4, "seed": seed, "depth": 4}, {"acc": b, "loss": 1 - b})
    log_run({"lr": 1e-3, "seed": 9, "depth": 4}, {"acc": 0.1, "loss": 0.9}, tags=("smoke",))
    with Notebook.open(project) as nb:
        run = nb.start_run(params={"lr": 1e-3, "seed": 10, "depth": 4})
        nb.end_run(run.id, FAILED, 1)
    return project


def compare_json(*args: str) -> dict:
    result = lab("compare", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_compare_two_variants_matches_scipy_and_says_who_is_better(two_variants: Path) -> None:
    out = compare_json("lr=1e-3", "lr=3e-4", "--metric", "acc")
    assert out["a"]["kind"] == "variant" and len(out["a"]["runs"]) == 5
    assert out["a"]["excluded"] == {"failed": [12], "smoke": [11]}  # left out, and said
    assert out["config"] == [{"key": "lr", "a": [0.001], "b": [0.0003]}]  # only the key that differs
    (m,) = out["metrics"]
    welch = sp.ttest_ind(A_ACC, B_ACC, equal_var=False)
    ci = welch.confidence_interval()
    assert m["diff"] == pytest.approx(np.mean(A_ACC) - np.mean(B_ACC))
    assert (m["ci_low"], m["ci_high"]) == pytest.approx((ci.low, ci.high))
    perm = sp.permutation_test((A_ACC, B_ACC), lambda x, y: np.mean(x) - np.mean(y), n_resamples=9999)
    assert m["test"].startswith("permutation") and m["p"] == pytest.approx(perm.pvalue)  # n = 5: exact
    lo, hi = sp.t.interval(0.95, 4, loc=np.mean(A_ACC), scale=sp.sem(A_ACC))
    assert (m["a"]["ci_low"], m["a"]["ci_high"], m["a"]["ci_method"]) == (
        pytest.approx(lo),
        pytest.approx(hi),
        "t",
    )
    assert m["p_a_beats_b"] == 1.0 and m["hedges_g"] > 2
    assert m["verdict"] == "better"
    assert m["sentence"] == (
        f"A is better (higher) by {m['diff']:.3g} (95% CI {ci.low:.3g} to {ci.high:.3g}, "
        f"p = {perm.pvalue:.2g}, n = 5 vs 5)"
    )


def test_compare_prints_the_sections_in_order_with_the_verdict(two_variants: Path) -> None:
    result = lab("compare", "lr=1e-3", "lr=3e-4")
    assert result.exit_code == 0, result.output
    out = result.output
    order = [out.index(s) for s in ("config (keys", "code\n", "environment\n", "metrics (", "verdict\n")]
    assert order == sorted(order)
    assert "left out 1 failed, 1 smoke" in out
    assert "acc: A is better (higher) by" in out
    assert "loss: A is better (lower) by" in out  # a loss is minimised: lower is better
    assert "a paired test was possible" in out  # both sides ran seeds 0-4


def _welch_n(diff: float, va: float, vb: float) -> int:
    """The smallest n per side at which Welch's t (its df at that n) has 80% power: by scipy's nct."""
    for n in range(2, 10_000):
        se = math.sqrt((va + vb) / n)
        df = (va + vb) ** 2 * (n - 1) / (va**2 + vb**2)
        crit = sp.t.ppf(0.975, df)
        if sp.nct.sf(crit, df, diff / se) + sp.nct.cdf(-crit, df, diff / se) >= 0.8:
            return n
    raise AssertionError("no n reaches 80% power")


def test_no_detectable_difference_asks_for_detect_and_gives_a_range_for_it(project: Path) -> None:
    for seed, (a, b) in enumerate([(0.80, 0.79), (0.83, 0.84), (0.78, 0.80)]):
        log_run({"opt": "adam", "seed": seed}, {"acc": a})
        log_run({"opt": "sgd", "seed": seed}, {"acc": b})
    out = compare_json("opt=adam", "opt=sgd", "--metric", "acc")
    m = out["metrics"][0]
    a, b = [0.80, 0.83, 0.78], [0.79, 0.84, 0.80]
    assert m["verdict"] == "none" and m["p"] == pytest.approx(sp.ttest_ind(a, b, equal_var=False).pvalue)
    # a difference indistinguishable from 0 is no basis for planning: no number, a way to get one
    assert (m["seeds_needed"], m["seeds_needed_range"], m["seeds_needed_for"]) == (None, None, None)
    assert m["sentence"].startswith("no detectable difference with n = 3 vs 3")
    assert m["sentence"].endswith(
        "give --detect D (the smallest difference that matters) for a seeds-needed estimate"
    )
    result = lab("compare", "opt=adam", "opt=sgd", "-m", "acc")
    assert "no permutation p-value can fall below 0.1, so Welch's t is used" in result.output
    wanted = compare_json("opt=adam", "opt=sgd", "-m", "acc", "--detect", "0.05")["metrics"][0]
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    bound = 4 / sp.chi2.ppf(0.2, 4)  # the pooled variance's one-sided 80% upper bound, 4 df
    low, high = _welch_n(0.05, va, vb), _welch_n(0.05, va * bound, vb * bound)
    assert wanted["detect"] == 0.05 and wanted["seeds_needed_for"] == "detect"
    assert wanted["seeds_needed_range"] == [low, high] and wanted["seeds_needed"] == low and high > low
    assert (
        f"about {low}–{high} seeds per side would be needed to detect 0.05 at 80% power "
        "(SD estimate to its 80% upper bound)" in wanted["sentence"]
    )


def test_sides_by_ids_tags_names_and_where(two_variants: Path) -> None:
    assert compare_json("1,3,5", "2,4,6", "-m", "acc")["a"]["runs"] == [1, 3, 5]
    with Notebook.open(two_variants) as nb:
        for rid in (1, 3):
            nb.add_tags(rid, ("best",))
    out = compare_json("best", "lr == 3e-4 and seed < 3", "-m", "acc")
    assert (out["a"]["kind"], out["a"]["runs"]) == ("tag", [1, 3])
    assert (out["b"]["kind"], out["b"]["runs"]) == ("where", [2, 4, 6])
    assert "a single run" not in json.dumps(out["warnings"])
    one = compare_json("1", "lr=3e-4", "-m", "acc")
    assert any("a single run on A" in w for w in one["warnings"])
    assert one["metrics"][0]["verdict"] == "none"


def test_unequal_tuning_budget_and_mixed_sides_are_warned(project: Path) -> None:
    with Notebook.open(project) as nb:
        for lr in (0.1, 0.01, 0.001):  # the method's sweep tried three learning rates
            for seed in range(2):
                r = nb.start_run(params={"lr": lr, "seed": seed, "method": "new"}, sweep_id="sw1")
                nb.store.runs.merge_metrics(r.id, [_summary("acc", 0.8 + lr + seed / 100)])
                nb.end_run(r.id, "finished", 0)
        for seed in range(2):  # the baseline ran once per seed
            r = nb.start_run(params={"lr": 0.1, "seed": seed, "method": "old"})
            nb.store.runs.merge_metrics(r.id, [_summary("acc", 0.7 + seed / 100)])
            nb.end_run(r.id, "finished", 0)
    out = compare_json("method=new lr=0.001", "method=old", "-m", "acc")
    assert out["tuning_budget"] == {"a": 3, "b": 1}
    assert any(
        w.startswith("unequal tuning budget: A was picked from 3 configurations") for w in out["warnings"]
    )
    mixed = compare_json("method=new", "method=old", "-m", "acc")
    assert any("A mixes 3 configurations (they differ in lr)" in w for w in mixed["warnings"])


def _summary(key: str, value: float):
    from labbook.records.runs import BatchSummary

    return BatchSummary(key, 1, 0, value, 0, value, value, value)


def test_nan_values_are_left_out_and_named(project: Path) -> None:
    for seed in range(3):
        log_run({"v": 1, "seed": seed}, {"acc": 0.8 + seed / 100})
        log_run({"v": 2, "seed": seed}, {"acc": 0.7 + seed / 100})
    with labbook.init(config={"v": 2, "seed": 5}) as run:
        run.log({"acc": math.nan}, step=0)
        nan_id = run.id
    out = compare_json("v=1", "v=2", "-m", "acc")
    assert out["metrics"][0]["b"]["n"] == 3
    assert any(f"NaN in run {nan_id} of B, left out" in w for w in out["warnings"])


def test_paired_by_seed_and_by_example_ids(two_variants: Path) -> None:
    out = compare_json("lr=1e-3", "lr=3e-4", "-m", "acc", "--paired")
    m = out["metrics"][0]
    ref = sp.ttest_rel(A_ACC, B_ACC)  # 5 pairs: too few for a sign-flip test to reach 0.05
    assert m["paired"] and m["test"] == "paired t" and m["p"] == pytest.approx(ref.pvalue)
    assert (m["ci_low"], m["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))
    assert not any("paired test was possible" in w for w in out["warnings"])
    assert m["sentence"].endswith("n = 5 pairs by seed)")


def test_mcnemar_on_per_example_scores(project: Path) -> None:
    a = [1] * 30 + [1] * 6 + [0] * 2 + [0] * 2
    b = [1] * 30 + [0] * 6 + [1] * 2 + [0] * 2
    for variant, scores in (("a", a), ("b", b)):
        with labbook.init(config={"model": variant}) as run:
            for example_id, correct in enumerate(scores):
                run.log({"correct": correct}, step=example_id)
    out = compare_json("model=a", "model=b", "--examples", "correct")
    (m,) = out["metrics"]
    assert m["test"].startswith("McNemar (exact binomial; 6 vs 2 discordant)")
    assert m["p"] == pytest.approx(sp.binomtest(2, 8, 0.5).pvalue) and m["pairing"] == "example id"
    assert m["a"]["n"] == 40  # examples, not runs


def test_code_and_environment_differences_are_shown(two_variants: Path) -> None:
    with Notebook.open(two_variants) as nb:
        for rid in range(1, 11):
            a_side = rid % 2 == 1
            nb.record_capture(
                rid,
                {
                    "git": {"repo": "/r", "commit": "a" * 40 if a_side else "b" * 40, "dirty": True},
                    "patch": "+x = 1\n" if a_side else "+x = 2\n",
                    "packages": "numpy==1.26.0\ntorch==2.1" if a_side else "numpy==2.0.1\ntorch==2.1",
                    "python": {"version": "3.11.7"},
                },
            )
    result = lab("compare", "lr=1e-3", "lr=3e-4", "-m", "acc")
    out = result.output
    assert "commit: A aaaaaaaaaa (5 runs); B bbbbbbbbbb (5 runs)" in out
    assert "uncommitted changes differ" in out and "    -+x = 1" in out and "    ++x = 2" in out
    assert "packages that differ: numpy 1.26.0 vs 2.0.1" in out and "torch" not in out
    assert "python: 3.11.7 on both" in out
    code = compare_json("lr=1e-3", "lr=3e-4", "-m", "acc")["code"]
    assert (code["a_patch"], code["b_patch"], code["same_commits"]) == ("+x = 1\n", "+x = 2\n", False)


def test_group_by_compares_every_value_with_the_baseline_holm_adjusted(project: Path) -> None:
    values = {0.1: [0.70, 0.72, 0.71], 0.01: [0.80, 0.82, 0.81], 0.001: [0.71, 0.70, 0.73]}
    for lr, accs in values.items():
        for seed, acc in enumerate(accs):
            log_run({"lr": lr, "seed": seed}, {"acc": acc})
    out = compare_json("--group-by", "lr", "--metric", "acc", "--baseline", "0.1")
    groups = {g["value"]: g for g in out["groups"]}
    assert groups[0.1]["baseline"] and groups[0.1]["n"] == 3
    raw = [groups[v]["comparison"]["p"] for v in (0.001, 0.01)]
    m = len(raw)
    order = np.argsort(raw)
    want = {}
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * raw[i]))
        want[(0.001, 0.01)[i]] = running
    for v in (0.001, 0.01):
        assert groups[v]["p_holm"] == pytest.approx(want[v])
        welch = sp.ttest_ind(values[v], values[0.1], equal_var=False).confidence_interval()
        assert groups[v]["comparison"]["ci_low"] == pytest.approx(welch.low)
    text = lab("compare", "--group-by", "lr", "--metric", "acc", "--baseline", "0.1").output
    assert "lr=0.1" in text and "baseline" in text and "p (Holm)" in text


# -- bad input ----------------------------------------------------------------------------


def _one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output


@pytest.mark.parametrize(
    "args,expected",
    [
        (["lr=1e-3", "lr=0.5"], "'lr=0.5' matches no runs"),
        (["lr=1e-3", "nosuchthing"], "'nosuchthing' is not a run id, run name, tag, variant"),
        (["lr=1e-3", "lr=1e-3"], "share runs"),
        (["lr=1e-3", "depth=4"], "share runs"),
        (
            ["lr=1e-3", "lr=3e-4", "-m", "nope"],
            "metric 'nope' is missing on side A (lr=1e-3): runs 1, 3, 5, 7, 9",
        ),
        (["lr=1e-3", "11,12"], "has no runs left after leaving out 1 failed, 1 smoke runs"),
        (["lr=1e-3", "lr=3e-4", "--baseline", "1"], "--baseline goes with --group-by"),
        (["--group-by", "lr"], "--group-by needs exactly one --metric"),
        (["--group-by", "nokey", "-m", "acc"], "no run has a parameter 'nokey'"),
        (["lr=1e-3"], "give two sides to compare"),
        (["lr=1e-3", "lr == "], "ends too early"),
        (["lr=1e-3", "lr=3e-4", "--detect", "-1"], "--detect takes a positive difference"),
        (["lr=1e-3", "lr=3e-4", "--detect", "0"], "--detect takes a positive difference"),
    ],
)
def test_bad_sides_and_metrics_are_one_line_and_exit_2(
    two_variants: Path, args: list[str], expected: str
) -> None:
    files = [two_variants / ".labbook" / name for name in ("labbook.db", "labbook.db-wal")]
    before = [f.read_bytes() if f.exists() else b"" for f in files]
    _one_line_error(lab("compare", *args), expected)
    assert [f.read_bytes() if f.exists() else b"" for f in files] == before  # nothing written


def test_metric_missing_on_one_side_names_the_runs(two_variants: Path) -> None:
    log_run({"lr": 5e-4, "seed": 0, "depth": 4}, {"other": 1.0})
    log_run({"lr": 5e-4, "seed": 1, "depth": 4}, {"acc": 0.5})
    _one_line_error(
        lab("compare", "lr=1e-3", "lr=5e-4", "-m", "acc"),
        "metric 'acc' is missing on side B (lr=5e-4): run 13 never logged it",
    )


def test_compare_error_as_a_real_process(two_variants: Path) -> None:
    proc = lab_proc("compare", "lr=1e-3", "lr=9", cwd=two_variants)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "error: 'lr=9' matches no runs; `lab ls` lists runs"


# -- plot ---------------------------------------------------------------------------------


def test_plot_draws_one_line_per_variant_into_the_notebook(two_variants: Path) -> None:
    log_run({"lr": 1e-2, "seed": 0, "depth": 4}, {"acc": 0.5})
    result = lab("plot", "acc")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "3 lines from 11 runs (33 points); left out 1 failed, 1 smoke"
    assert "  lr=0.001 (n=5): runs 1, 3, 5, 7, 9" in lines
    assert "  lr=0.01 (1 run, no band): runs 13" in lines  # a single seed has no band, and says so
    path = Path(lines[-1])
    assert path.parent == two_variants / ".labbook" / "figures" and path.suffix == ".png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_to_svg_with_options(two_variants: Path, tmp_path: Path) -> None:
    target = tmp_path / "acc.svg"
    result = lab(
        "plot",
        "loss",
        "lr=1e-3",
        "--group-by",
        "lr",
        "--log-y",
        "--smooth",
        "2",
        "--x",
        "time",
        "-o",
        str(target),
    )
    assert result.exit_code == 0, result.output
    assert "lr=0.001 (n=5)" in result.output and target.read_text().lstrip().startswith("<?xml")
    out = json.loads(lab("plot", "acc", "--json", "-o", str(tmp_path / "a.png")).output)
    assert out["path"] == str(tmp_path / "a.png") and [line["runs"] for line in out["lines"]] == [
        [1, 3, 5, 7, 9],
        [2, 4, 6, 8, 10],
    ]
    assert out["excluded"] == {"failed": [12], "smoke": [11]} and out["lines"][0]["points"] == 15
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = lab("plot", "acc", "-o", str(blocked / "x.png"))
    assert result.exit_code == 2 and result.output.startswith(f"error: cannot write {blocked / 'x.png'}")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["acc", "-o", "x.pdf"], "-o x.pdf: the figure is written as .png or .svg"),
        (["nothing"], "none of the 10 selected runs logged 'nothing' (they logged acc, loss)"),
        (["acc", "--sweep", "nosuch"], "matches no runs"),
        (["acc", "--smooth", "0"], "--smooth"),
        (["acc", "--group-by", "nokey"], "no run has a parameter 'nokey'"),
    ],
)
def test_plot_bad_input(two_variants: Path, args: list[str], expected: str) -> None:
    result = lab("plot", *args)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (two_variants / ".labbook" / "figures").exists() and not Path("x.pdf").exists()


def test_min_max_reduction_keeps_every_spike_and_the_ends() -> None:
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 5000.0)
    y[123_457] = 50.0
    y[876_543] = -50.0
    rx, ry = curves.reduce_for_drawing(x, y, buckets=1000)
    assert len(rx) <= 2000 and ry.max() == 50.0 and ry.min() == -50.0
    assert np.all(np.diff(rx) > 0)  # in order, drawable as a line
    bx, lo, hi = curves.reduce_band(x, y - 1, y + 1, buckets=1000)
    assert hi.max() == 51.0 and lo.min() == -51.0 and len(bx) == 1000


def test_runs_of_different_lengths_are_averaged_where_they_exist_not_cut() -> None:
    xs = [np.arange(10.0), np.arange(20.0), np.arange(20.0)]
    rng = np.random.default_rng(3)
    ys = [rng.normal(size=len(x)) for x in xs]
    grid, matrix = curves.align(xs, ys, time_axis=False)
    assert len(grid) == 20
    mean, low, high, count = curves.mean_band(matrix)
    assert list(count[:10]) == [3] * 10 and list(count[10:]) == [2] * 10
    col = np.array([ys[0][4], ys[1][4], ys[2][4]])
    ref = sp.t.interval(0.95, 2, loc=col.mean(), scale=sp.sem(col))
    assert (low[4], high[4]) == pytest.approx(ref) and mean[15] == pytest.approx((ys[1][15] + ys[2][15]) / 2)
    full = rng.normal(size=(4, 30))  # every run at every step
    mean, low, high, count = curves.mean_band(full)
    ref = sp.t.interval(0.95, 3, loc=full[:, 7].mean(), scale=sp.sem(full[:, 7]))
    assert (low[7], high[7]) == pytest.approx(ref) and list(count) == [4] * 30


def test_smoothing_is_a_trailing_moving_average() -> None:
    v = np.array([1.0, 2, 3, 4, 5, 6])
    assert curves.smooth(v, 3).tolist() == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0]


# -- lab ls --group-by ------------------------------------------------------------------------


def test_ls_groups_seeds_into_variants_with_their_ci(two_variants: Path) -> None:
    result = lab("ls", "--group-by", "variant", "--columns", "acc.last")
    assert result.exit_code == 0, result.output
    lo, hi = sp.t.interval(0.95, 4, loc=np.mean(A_ACC), scale=sp.sem(A_ACC))
    row = next(line for line in result.output.splitlines() if line.startswith("lr=0.001"))
    assert row.split()[1] == "5" and f"[{lo:.4g}, {hi:.4g}]" in row
    assert "left out: 1 failed, 1 smoke" in result.output
    out = json.loads(lab("ls", "--group-by", "lr", "--columns", "acc.last", "--json").output)
    (g,) = [g for g in out["groups"] if g["label"] == "lr=0.0003"]
    assert g["acc.last"]["mean"] == pytest.approx(np.mean(B_ACC)) and g["acc.last"]["std"] == pytest.approx(
        np.std(B_ACC, ddof=1)
    )
    bad = lab("ls", "--group-by", "variant", "--columns", "name")
    assert bad.exit_code == 2 and "columns are METRIC.AGG" in bad.output
    bad = lab("ls", "--group-by", "nokey")
    assert bad.exit_code == 2 and "no run has a parameter 'nokey'" in bad.output


def _examples_run(config: dict, correct: list[int]) -> None:
    with labbook.init(config=config) as run:
        run.log({"acc": sum(correct) / len(correct)}, step=0)
        run.log_examples([{"id": f"q{i}", "correct": bool(c)} for i, c in enumerate(correct)])


def test_runs_that_scored_the_same_examples_are_compared_by_mcnemar(project: Path) -> None:
    rng = np.random.default_rng(3)
    a = rng.random(400) < 0.80
    b = np.where(rng.random(400) < 0.1, ~a, a)  # B disagrees with A on about one example in ten
    _examples_run({"model": "a"}, a.astype(int).tolist())
    _examples_run({"model": "b"}, b.astype(int).tolist() + [1] * 20)  # 20 ids only B scored: left out
    out = compare_json("model=a", "model=b", "-m", "acc")
    e = out["examples"]
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert (e["n"], e["a_only"], e["b_only"]) == (400, a_only, b_only)
    assert e["acc_a"] == pytest.approx(a.mean()) and e["acc_b"] == pytest.approx(b.mean())
    chi2 = (abs(a_only - b_only) - 1) ** 2 / (a_only + b_only)
    assert e["test"] == "McNemar chi-square" and e["p"] == pytest.approx(sp.chi2.sf(chi2, 1))
    d = a.astype(float) - b.astype(float)
    assert (e["low"], e["high"]) == pytest.approx(tuple(sp.ttest_1samp(d, 0).confidence_interval()))
    text = lab("compare", "model=a", "model=b", "-m", "acc").output
    assert "examples (eval: 400 ids scored by every run of both sides, paired)" in text
    assert f"right in A only: {a_only}, right in B only: {b_only}" in text


def test_several_runs_a_side_are_paired_over_examples_by_their_mean_accuracy(project: Path) -> None:
    rng = np.random.default_rng(4)
    truth = rng.random(300)
    sides = {v: [(truth + shift + rng.normal(0, 0.3, 300) > 0.5).astype(int) for _ in range(3)]
             for v, shift in (("a", 0.1), ("b", 0.0))}  # fmt: skip
    for v, runs in sides.items():
        for seed, correct in enumerate(runs):
            _examples_run({"model": v, "seed": seed}, correct.tolist())
    out = compare_json("model=a", "model=b", "-m", "acc")
    e = out["examples"]
    xa, xb = np.mean(sides["a"], axis=0), np.mean(sides["b"], axis=0)
    ref = sp.ttest_rel(xa, xb)
    assert e["test"] == "paired t over examples" and e["n"] == 300 and e["a_only"] is None
    assert e["p"] == pytest.approx(ref.pvalue) and e["diff"] == pytest.approx(float(np.mean(xa - xb)))
    assert (e["low"], e["high"]) == pytest.approx(tuple(ref.confidence_interval()))
    verdict = lab("compare", "model=a", "model=b", "-m", "acc").output.split("verdict")[1]
    assert ref.pvalue < 0.05  # the data are drawn so that A is more accurate
    assert "examples: A is more accurate by" in verdict and "300 paired examples" in verdict


def test_no_examples_section_without_examples_on_every_run(two_variants: Path) -> None:
    assert compare_json("lr=1e-3", "lr=3e-4", "-m", "acc")["examples"] is None
    assert "examples (" not in lab("compare", "lr=1e-3", "lr=3e-4", "-m", "acc").output


def test_compare_names_the_artifacts_that_differ(project: Path) -> None:
    files = {
        name: project / name
        for name in ("same.pt", "a.pt", "b.pt", "only_a.txt", "helper_a.py", "helper_b.py")
    }
    for name, path in files.items():
        path.write_text(name)
    for variant, model, extra, helper in (
        ("x", "a.pt", "only_a.txt", "helper_a.py"),
        ("y", "b.pt", None, "helper_b.py"),
    ):
        for seed in range(2):
            with labbook.init(config={"v": variant, "seed": seed}) as run:
                run.log({"acc": 0.5 + seed / 10})
                run.log_artifact(files["same.pt"])
                run.log_artifact(files[model], name="model.pt")
                if extra:
                    run.log_artifact(files[extra])
                run.log_artifact(files[helper], name="helper.py", kind="snapshot")
    out = compare_json("v=x", "v=y", "-m", "acc")["artifacts"]
    assert out["outputs"] == {"changed": ["model.pt"], "only_a": ["only_a.txt"], "only_b": [], "same": 1}
    assert out["snapshot"] == {"changed": ["helper.py"], "only_a": [], "only_b": [], "same": 0}
    text = lab("compare", "v=x", "v=y", "-m", "acc").output
    assert "artifacts\n  outputs: model.pt differs; only in A: only_a.txt; 1 the same\n" in text
    assert "  snapshot files: helper.py differs\n" in text


def test_no_artifacts_section_when_no_run_kept_any(two_variants: Path) -> None:
    assert "\nartifacts\n" not in lab("compare", "lr=1e-3", "lr=3e-4", "-m", "acc").output
    empty = {"changed": [], "only_a": [], "only_b": [], "same": 0}
    assert compare_json("lr=1e-3", "lr=3e-4", "-m", "acc")["artifacts"] == {
        "outputs": empty,
        "snapshot": empty,
    }
