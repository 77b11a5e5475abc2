"""Predictions about what is not logged yet, about one arm of a sweep, a difference, or a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import labbook

from .conftest import lab

ARMS = {0.2: [0.89, 0.90, 0.91], 0.8: [0.52, 0.55, 0.58]}


def arm(lr: float, seeds: range | list[int] | None = None) -> list[int]:
    """The runs of one arm of the sweep, linked to H1, one per seed."""
    ids = []
    for seed in seeds if seeds is not None else range(3):
        with labbook.init(hypothesis="H1", config={"lr": lr, "seed": seed}) as run:
            run.log({"acc": ARMS[lr][seed % 3] - 0.2}, step=0)
            run.log({"acc": ARMS[lr][seed % 3]}, step=1)
        ids.append(run.id)
    return ids


def ok(*args: str) -> str:
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.output


def predictions() -> list[dict[str, Any]]:
    return json.loads(ok("hyp", "show", "H1", "--json"))["predictions"]  # type: ignore[no-any-return]


def resolution(ref: str) -> dict[str, Any] | None:
    return next(p["resolution"] for p in predictions() if p["ref"] == ref)


def test_a_metric_no_run_has_logged_yet_is_recorded_with_a_did_you_mean_note(project: Path) -> None:
    ok("hyp", "add", "test loss drops")
    with labbook.init() as run:  # an earlier run: the notebook now knows some metrics
        run.log({"loss": 3.0, "test_los": 2.9})
    fresh = lab(
        "predict", "H1", "below 2.3", "-p", "0.75", "--metric", "test_loss", "--op", "<", "--value", "2.3"
    )
    assert fresh.exit_code == 0, fresh.output
    assert "warning: no run has logged 'test_loss' yet; did you mean test_los" in fresh.output
    unlike = lab("predict", "H1", "ppl", "-p", "0.6", "--metric", "perplexity", "--op", "<", "--value", "9")
    assert unlike.exit_code == 0 and "warning" not in unlike.output  # nothing close: nothing to say
    assert [p["metric"] for p in predictions()] == ["test_loss", "perplexity"]


def test_where_scopes_a_prediction_to_one_arm_of_the_sweep(project: Path) -> None:
    ok("hyp", "add", "lr=0.2 beats 0.8")
    ok("predict", "H1", "lr=0.2 ends above 0.8", "-p", "0.8", "--metric", "acc", "--op", ">", "--value", "0.8",
       "--where", "params.lr == 0.2", "--runs", "3")  # fmt: skip
    ok("predict", "H1", "all runs, unscoped", "-p", "0.8", "--metric", "acc", "--op", ">", "--value", "0.8",
       "--runs", "6")  # fmt: skip
    fast = arm(0.2)
    arm(0.8)
    scoped, everything = resolution("P1"), resolution("P2")
    assert scoped is not None and everything is not None
    assert scoped["outcome"] == "true" and scoped["detail"]["runs"] == fast
    assert abs(scoped["value"] - 0.9) < 1e-9
    assert everything["outcome"] == "false" and len(everything["detail"]["runs"]) == 6


def test_diff_resolves_only_when_both_sides_have_their_runs(project: Path) -> None:
    ok("hyp", "add", "lr=0.2 beats 0.8")
    ok("predict", "H1", "0.2 adds at least 30 points", "-p", "0.7", "--metric", "acc",
       "--diff", "lr=0.2", "lr=0.8", "--op", ">=", "--value", "0.3", "--runs", "3")  # fmt: skip
    ok("predict", "H1", "and by this much", "--low", "0.3", "--high", "0.4", "--level", "0.8", "--metric", "acc",
       "--diff", "lr=0.2", "lr=0.8", "--runs", "3")  # fmt: skip
    fast = arm(0.2)
    assert resolution("P1") is None and resolution("P2") is None  # side B has no runs yet
    slow = arm(0.8)
    for ref in ("P1", "P2"):
        r = resolution(ref)
        assert r is not None and r["outcome"] == "true"
        assert abs(r["value"] - (0.9 - 0.55)) < 1e-9
        assert r["detail"]["a"]["runs"] == [[i] for i in fast] and r["detail"]["b"]["runs"] == [
            [i] for i in slow
        ]
        assert r["detail"]["a"]["spec"] == "lr=0.2"
    shown = ok("hyp", "show", "H1")
    assert "acc.last (mean over ≥3 runs) of lr=0.2 − lr=0.8 >= 0.3" in shown
    assert "lr=0.2: 3 seeds; lr=0.8: 3 seeds" in shown


def test_verdict_is_resolved_by_what_lab_compare_concludes(project: Path) -> None:
    ok("hyp", "add", "lr=0.2 beats 0.8")
    ok("predict", "H1", "compare calls it better", "-p", "0.6", "--metric", "acc",
       "--verdict", "lr=0.2", "lr=0.8", "better", "--runs", "3")  # fmt: skip
    ok("predict", "H1", "compare finds nothing", "-p", "0.3", "--metric", "acc",
       "--verdict", "lr=0.2", "lr=0.8", "none", "--runs", "3")  # fmt: skip
    arm(0.2)
    arm(0.8)
    compared = json.loads(ok("compare", "lr=0.2", "lr=0.8", "--metric", "acc", "--json"))
    said = compared["metrics"][0]["verdict"]
    better, none = resolution("P1"), resolution("P2")
    assert better is not None and none is not None
    assert better["detail"]["verdict"] == said == none["detail"]["verdict"]
    assert better["outcome"] == ("true" if said == "better" else "false")
    assert none["outcome"] == ("true" if said == "none" else "false")


def test_a_repeated_seed_counts_once(project: Path) -> None:
    ok("hyp", "add", "h")
    ok("predict", "H1", "three seeds above .8", "-p", "0.8", "--metric", "acc", "--op", ">", "--value", "0.8",
       "--runs", "3")  # fmt: skip
    first = arm(0.2, [0, 1])
    again = arm(0.2, [1])  # a rerun of seed 1: the same observation again
    assert resolution("P1") is None  # two seeds, not three
    third = arm(0.2, [2])
    r = resolution("P1")
    assert r is not None and r["outcome"] == "true"
    assert r["detail"]["folded"] == 1 and r["detail"]["groups"] == [[first[0]], [first[1], again[0]], third]
    assert "1 repeated run folded" in ok("hyp", "show", "H1")


def test_a_diff_takes_its_sides_from_the_whole_notebook_like_lab_compare(project: Path) -> None:
    ok("hyp", "add", "lr=0.2 helps")
    ok("hyp", "add", "lr=0.8 baseline")
    ok("predict", "H1", "0.2 beats the baseline", "-p", "0.7", "--metric", "acc",
       "--diff", "lr=0.2", "lr=0.8", "--op", ">", "--value", "0", "--runs", "3")  # fmt: skip
    arm(0.2)
    for seed in range(3):  # the baseline belongs to another hypothesis
        with labbook.init(hypothesis="H2", config={"lr": 0.8, "seed": seed}) as run:
            run.log({"acc": ARMS[0.8][seed]})
    r = resolution("P1")  # resolved as the baseline's last run ended, with no read in between
    assert r is not None and r["outcome"] == "true" and len(r["detail"]["b"]["values"]) == 3


def test_a_diff_written_after_a_side_has_results_is_late(project: Path) -> None:
    ok("hyp", "add", "h")
    ok("hyp", "add", "baseline")
    with labbook.init(hypothesis="H2", config={"lr": 0.8, "seed": 0}) as run:
        run.log({"acc": 0.5})
    out = ok("predict", "H1", "beats the known baseline", "-p", "0.7", "--metric", "acc",
             "--diff", "lr=0.2", "lr=0.8", "--op", ">", "--value", "0")  # fmt: skip
    assert "LATE" in out
    assert predictions()[0]["late"] is True
