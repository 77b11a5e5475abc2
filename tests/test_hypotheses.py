"""Hypotheses and pre-registered predictions: linking, lateness, revisions, resolution, due."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import labbook
from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable


#: A yes/no prediction on H1's val_acc, and a threshold for it: the stem of the bad-input cases.
ON_ACC = ["predict", "H1", "x", "-p", "0.5", "--metric", "val_acc"]
ABOVE_0 = ["--op", ">", "--value", "0"]


def seed_run(hyp: str, acc: float, tags: tuple[str, ...] = ()) -> int:
    with labbook.init(hypothesis=hyp, tags=list(tags)) as run:
        run.log({"val_acc": acc - 0.1}, step=0)
        run.log({"val_acc": acc}, step=1)
    return run.id


def hyp_json(ref: str) -> dict:
    result = lab("hyp", "show", ref, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_moves_open_testing_resolved(project: Path) -> None:
    out = lab("hyp", "add", "scaling helps", "--tag", "opt", "--problem", "conditioning").output
    assert out.startswith("H1: scaling helps\n")
    assert hyp_json("H1")["status"] == "open"
    seed_run("H1", 0.9)
    h = hyp_json("1")
    assert h["status"] == "testing" and [r["id"] for r in h["runs"]] == [1]
    assert h["tags"] == ["opt"] and h["problem"] == "conditioning"
    res = lab("resolve", "H1", "--refuted", "--belief", "conditioning was not the bottleneck")
    assert res.exit_code == 0 and "H1 resolved: refuted" in res.output
    h = hyp_json("H1")
    assert (h["status"], h["outcome"], h["belief"]) == (
        "resolved",
        "refuted",
        "conditioning was not the bottleneck",
    )
    again = lab("resolve", "H1", "--supported")
    assert again.exit_code == 2 and "already resolved" in again.output


def test_metric_tied_predictions_resolve_when_enough_runs_finish(project: Path) -> None:
    lab("hyp", "add", "h")
    assert (
        lab(
            "predict",
            "H1",
            "mean above .85",
            "-p",
            "0.7",
            "--metric",
            "val_acc",
            "--op",
            ">",
            "--value",
            "0.85",
            "--runs",
            "2",
        ).exit_code
        == 0
    )
    assert (
        lab(
            "predict",
            "H1",
            "interval",
            "--low",
            "0.8",
            "--high",
            "0.86",
            "--level",
            "0.9",
            "--metric",
            "val_acc",
            "--agg",
            "max",
            "--reduce",
            "median",
            "--runs",
            "2",
        ).exit_code
        == 0
    )
    seed_run("H1", 0.90)
    preds = hyp_json("H1")["predictions"]
    assert [p["resolution"] for p in preds] == [None, None]  # one run is not enough
    seed_run("H1", 0.84)
    seed_run("H1", 0.20, tags=("smoke",))  # smoke runs never count
    p1, p2 = hyp_json("H1")["predictions"]
    assert p1["resolution"]["outcome"] == "true" and p1["resolution"]["how"] == "auto"
    assert p1["resolution"]["value"] == pytest.approx((0.90 + 0.84) / 2)
    assert p1["resolution"]["detail"]["runs"] == [1, 2]
    assert p2["resolution"]["outcome"] == "false"  # median of maxes = 0.87, outside [0.8, 0.86]
    assert p2["resolution"]["value"] == pytest.approx(0.87)


def test_a_running_run_holds_resolution_back(project: Path) -> None:
    lab("hyp", "add", "h")
    lab("predict", "H1", "x", "-p", "0.5", "--metric", "val_acc", "--op", ">=", "--value", "0.5")
    running = labbook.init(hypothesis="H1")
    running.log({"val_acc": 0.1})
    seed_run("H1", 0.9)
    assert hyp_json("H1")["predictions"][0]["resolution"] is None
    running.finish()  # finishing resolves: mean of last = (0.1 + 0.9) / 2
    res = hyp_json("H1")["predictions"][0]["resolution"]
    assert res["outcome"] == "true" and res["value"] == pytest.approx(0.5)


def test_a_prediction_after_results_is_late_and_says_so(project: Path) -> None:
    lab("hyp", "add", "h")
    early = lab("predict", "H1", "before", "-p", "0.6")
    assert "LATE" not in early.output
    seed_run("H1", 0.9)
    late = lab("predict", "H1", "after", "-p", "0.9")
    assert late.exit_code == 0 and "LATE" in late.output
    preds = hyp_json("H1")["predictions"]
    assert [p["late"] for p in preds] == [False, True]
    shown = lab("hyp", "show", "H1").output
    assert (
        "LATE, not scored" in shown
        and "before the first result" in shown
        and "after the first result" in shown
    )


def test_revisions_are_new_predictions_and_the_old_stays(project: Path) -> None:
    lab("hyp", "add", "h")
    lab("predict", "H1", "first guess", "-p", "0.6")
    out = lab("predict", "--revise", "P1", "-p", "0.4")
    assert out.exit_code == 0 and out.output.startswith("P2 on H1: p=0.4 — first guess")
    p1, p2 = hyp_json("H1")["predictions"]
    assert (p1["p"], p1["superseded_by"], p2["revision_of"]) == (0.6, 2, 1)
    twice = lab("predict", "--revise", "P1", "-p", "0.3")
    assert twice.exit_code == 2 and "already revised by P2" in twice.output


def test_manual_resolution_of_both_kinds(project: Path) -> None:
    lab("hyp", "add", "h")
    lab("predict", "H1", "yes-no", "-p", "0.3")
    lab("predict", "H1", "interval", "--low", "1", "--high", "2")
    assert lab("resolve", "P1", "false").output == "P1: false, manual — yes-no\n"
    assert lab("resolve", "P2", "--value", "2.5").output == "P2: false (2.5), manual — interval\n"
    needs_value = lab("predict", "H1", "another", "--low", "1", "--high", "2")
    assert needs_value.exit_code == 0
    bad = lab("resolve", "P3", "true")
    assert bad.exit_code == 2 and "resolve it with --value" in bad.output


def test_due_lists_past_dates_and_finished_unresolved(project: Path) -> None:
    lab("hyp", "add", "h")
    lab("predict", "H1", "matters later", "-p", "0.3", "--due", "2000-01-01")
    lab("predict", "H1", "future", "-p", "0.3", "--due", "2999-01-01")
    assert lab("due").output == "P1  due 2000-01-01: p=0.3 — matters later\n"
    seed_run("H1", 0.5)
    lines = lab("due").output.splitlines()
    assert lines == [
        "P1  due 2000-01-01: p=0.3 — matters later",
        "P2  its runs have finished: p=0.3 — future",
    ]
    lab("resolve", "P1", "true")
    assert len(json.loads(lab("due", "--json").output)) == 1


def test_lab_run_links_to_a_hypothesis(project: Path) -> None:
    lab("hyp", "add", "h")
    proc = lab_proc("run", "-q", "-H", "H1", "--", PY, "-c", "print('{\"val_acc\": 0.7}')", cwd=project)
    assert proc.returncode == 0
    assert hyp_json("H1")["runs"][0]["metrics"]["val_acc"]["last"] == 0.7
    with Notebook.open(project) as nb:
        assert nb.get_run(1).hyp_id == 1
    assert json.loads(lab("ls", "--json", "--where", "hyp == 1").output)[0]["id"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "H1", "x", "-p", "1.2"], "error: the probability 1.2 is outside [0, 1]\n"),
        (["predict", "H1", "x", "-p", "-0.1"], "error: the probability -0.1 is outside [0, 1]\n"),
        (
            ["predict", "H1", "x", "--low", "3", "--high", "2"],
            "error: --low 3 is above --high 2; swap them\n",
        ),
        (
            ["predict", "H1", "x", "--low", "1", "--high", "2", "--level", "1"],
            "error: --level must be between 0 and 1, e.g. 0.8 for an 80% interval\n",
        ),
        (["predict", "H1", "x", "--low", "1"], "error: a numeric prediction needs both --low and --high\n"),
        (["predict", "H1", "x"], None),
        (
            ["predict", "H9", "x", "-p", "0.5"],
            "error: no hypothesis H9 in this notebook; `lab hyp ls` lists them\n",
        ),
        (["predict", "Hx", "x", "-p", "0.5"], "error: 'Hx' is not a hypothesis id; write it like H3\n"),
        (["predict", "H1", "x", "-p", "0.5", "--metric", "val_acc"], None),
        (
            [*ON_ACC, "--verdict", "1", "2", "maybe"],
            "error: --verdict 1 2 maybe: the last word is what lab compare concludes, one of better, worse, none\n",
        ),
        (
            [*ON_ACC, "--diff", "basline", "1", *ABOVE_0],
            None,  # a side that is no run id, variant, tag, name or valid expression
        ),
        (
            [*ON_ACC, "--diff", "1", "77", *ABOVE_0],
            "error: --diff side '77' matches no run: no run 77 here\n",
        ),
        (
            [*ON_ACC, "--diff", "1,77", "1", *ABOVE_0],
            "error: --diff side '1,77' matches no run: no run 77 here\n",  # every id named must exist
        ),
        (
            [*ON_ACC, *ABOVE_0, "--where", "lrr == 0.2"],
            None,  # a bare name nothing in the notebook has
        ),
        (
            ["predict", "H1", "x", "-p", "0.5", "--where", "params.lr == 0.2"],
            "error: --where, --diff and --verdict say which runs a metric is read from; add --metric\n",
        ),
        (
            [*ON_ACC, "--verdict", "1", "2", "better", *ABOVE_0],
            "error: --verdict A B WORD is itself the claim; drop --op/--value\n",
        ),
        (
            ["predict", "x", "-p", "0.5", "--metric", "val_acc", "--diff", "1", "2", *ABOVE_0],
            None,  # no hypothesis to take the runs from
        ),
        (["predict", "H1", "x", "-p", "0.5", "--metric", "val_acc", "--op", "=>", "--value", "1"], None),
        (["predict", "H1", "x", "-p", "0.5", "--due", "tomorrow"], None),
        (["resolve", "P1", "true"], None),  # resolving twice
        (
            ["resolve", "P99", "true"],
            "error: no prediction P99 in this notebook; `lab hyp show H` lists them\n",
        ),
        (["resolve", "H1"], None),
        (["run", "-H", "H7", "--", PY, "-c", "pass"], None),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(project: Path, args, message) -> None:
    lab("hyp", "add", "h")
    lab("hyp", "add", "other")
    seed_run("H2", 0.5)
    lab("predict", "H1", "resolved already", "-p", "0.5")
    lab("resolve", "P1", "false")
    before = hyp_json("H1")
    result = lab(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    if message:
        assert result.output == message
    assert hyp_json("H1") == before
    assert len(json.loads(lab("ls", "--json").output)) == 1


def test_predictions_record_who_and_when(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("LABBOOK_USER", "ada")
    lab("hyp", "add", "h")
    before = time.time()
    lab("predict", "H1", "x", "-p", "0.5")
    p = hyp_json("H1")["predictions"][0]
    assert p["author"] == "ada" and before - 1 <= p["created_at"] <= time.time()
