"""lab plan: ordering by ln(1/p)/hours, the plan's odds and expected cost, and scored estimates."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss

from labbook.core.plan import expected_hours, order, p_all_succeed, priority

from .conftest import lab
from .helpers_papers import stored

tasks = st.lists(
    st.tuples(st.floats(0.01, 0.99), st.floats(0.1, 40.0)),
    min_size=1,
    max_size=7,
)


def brute_force(ps: list[float], hours: list[float]) -> tuple[float, float]:
    """P(all succeed) and E[hours until the first failure or the end], by enumerating every outcome."""
    p_all = expected = 0.0
    for outcome in itertools.product((True, False), repeat=len(ps)):
        prob = math.prod(p if ok else 1 - p for p, ok in zip(ps, outcome, strict=True))
        spent = 0.0
        for h, ok in zip(hours, outcome, strict=True):
            spent += h
            if not ok:
                break
        expected += prob * spent
        p_all += prob if all(outcome) else 0.0
    return p_all, expected


@settings(max_examples=150, deadline=None)
@given(tasks)
def test_odds_and_expected_hours_match_enumerating_every_outcome(items: list[tuple[float, float]]) -> None:
    ps, hours = [p for p, _ in items], [h for _, h in items]
    p_all, expected = brute_force(ps, hours)
    assert p_all_succeed(ps) == pytest.approx(p_all, rel=1e-9, abs=1e-15)
    assert expected_hours(ps, hours) == pytest.approx(expected, rel=1e-9)


def test_expected_hours_matches_a_simulation() -> None:
    rng = np.random.default_rng(7)
    ps = np.array([0.9, 0.5, 0.75, 0.3])
    hours = np.array([2.0, 8.0, 1.0, 5.0])
    n = 200_000
    ok = rng.random((n, ps.size)) < ps
    first_fail = np.where(ok.all(axis=1), ps.size - 1, np.argmin(ok, axis=1))
    spent = np.cumsum(hours)[first_fail]
    sem = spent.std() / math.sqrt(n)
    assert abs(expected_hours(list(ps), list(hours)) - spent.mean()) < 4 * sem
    assert abs(p_all_succeed(list(ps)) - ok.all(axis=1).mean()) < 4 * math.sqrt(0.1 * 0.9 / n)


@settings(max_examples=100, deadline=None)
@given(tasks)
def test_order_puts_the_most_informative_hour_first(items: list[tuple[float, float]]) -> None:
    ps, hours = [p for p, _ in items], [h for _, h in items]
    idx = order(ps, hours)
    assert sorted(idx) == list(range(len(ps)))
    got = [math.log(1 / ps[i]) / hours[i] for i in idx]
    assert got == sorted(got, reverse=True)


def test_order_examples() -> None:
    # a cheap risky step beats an expensive risky one and a cheap safe one; p=1 tells nothing, so last
    ps, hours = [0.9, 0.5, 0.5, 1.0], [1.0, 1.0, 10.0, 0.5]
    assert order(ps, hours) == [1, 0, 2, 3]
    assert priority(0.5, 1.0) == pytest.approx(math.log(2))
    assert order([0.5, 0.25], [1.0, 2.0]) == [0, 1]  # equal ln(1/p)/h: the cheaper first


def test_plan_command_orders_tasks_and_scores_estimates(project: Path) -> None:
    lab("hyp", "add", "warmup matters")
    for text, p, h in [
        ("write the full training loop", 0.9, 6),
        ("check the baseline reproduces", 0.6, 4),
        ("overfit one batch", 0.8, 0.5),
        ("run the 3-seed sweep", 0.7, 12),
    ]:
        r = lab("plan", "add", text, "-p", str(p), "--hours", str(h), "--hyp", "H1")
        assert r.exit_code == 0 and r.output.startswith("T")
    plan = json.loads(lab("plan", "--json").output)
    assert [t["ref"] for t in plan["tasks"]] == ["T3", "T2", "T4", "T1"]
    ps = [t["p"] for t in plan["tasks"]]
    hs = [t["hours"] for t in plan["tasks"]]
    assert plan["p_all_succeed"] == pytest.approx(brute_force(ps, hs)[0])
    assert plan["expected_hours_before_first_failure"] == pytest.approx(brute_force(ps, hs)[1])
    assert plan["total_hours"] == 22.5 and plan["brier"] is None
    text = lab("plan").output.splitlines()
    assert text[2].split()[:4] == ["1", "T3", "0.8", "0.5"]
    assert text[-1].startswith("all 4 succeed: p=0.302; expected hours before the first failure:")
    done = lab("plan", "done", "T3")
    assert (
        done.output
        == "T3 done: overfit one batch (you said p=0.8)\nnext: T2  check the baseline reproduces\n"
    )
    lab("plan", "failed", "T2")
    lab("plan", "done", "T4")
    plan = json.loads(lab("plan", "--json").output)
    assert [t["ref"] for t in plan["tasks"]] == ["T1"] and plan["closed"] == 3
    assert plan["brier"] == pytest.approx(brier_score_loss([1, 0, 1], [0.8, 0.6, 0.7]))
    assert f"your p estimates on 3 closed tasks: Brier {plan['brier']:.3f}" in lab("plan").output


def test_bad_plan_input_writes_nothing(project: Path) -> None:
    assert lab("plan").output == "no open tasks: lab plan add TASK -p 0.6 --hours 4\n"
    lab("plan", "add", "overfit one batch", "-p", "0.8", "--hours", "1")
    lab("plan", "add", "a finished task", "-p", "0.8", "--hours", "1")
    lab("plan", "done", "T2")
    before = stored(project)
    for args, message in [
        (["add", "x", "-p", "1.2", "--hours", "1"], "-p 1.2 is outside (0, 1)"),
        (["add", "x", "-p", "1", "--hours", "1"], "-p 1 is outside (0, 1)"),
        (["add", "x", "-p", "0.5", "--hours", "0"], "--hours 0 must be more than 0"),
        (["add", "x", "-p", "0.5", "--hours", "-3"], "--hours -3 must be more than 0"),
        (["add", "x", "-p", "0.5", "--hours", "inf"], "must be more than 0"),
        (["add", "Overfit one batch", "-p", "0.5", "--hours", "1"], "already planned as T1"),
        (["add", "x", "-p", "0.5", "--hours", "1", "--hyp", "H7"], "no hypothesis H7"),
        (["add", " ", "-p", "0.5", "--hours", "1"], "a task needs some text"),
        (["done", "T9"], "no task T9"),
        (["failed", "P1"], "'P1' is not a task id"),
        (["failed", "T2"], "T2 is already done"),
    ]:
        result = lab("plan", *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    assert stored(project) == before
