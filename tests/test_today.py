"""lab today: one screen assembled from the notebook's sections."""

from __future__ import annotations

import json
from pathlib import Path

import labbook

from .conftest import lab, lab_proc
from .helpers_papers import FIX


def test_today_on_an_empty_notebook(project: Path) -> None:
    result = lab_proc("today", cwd=project)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split("\n\n") == [
        "predictions due (0)\n  nothing is due",
        "hypotheses ready to resolve (0)\n  no hypothesis under test has all its runs done",
        "papers this week\n  0 triaged since " + result.stdout.split("since ")[1][:10] + ", target 5-15: "
        "below target: 5 more to reach 5\n  0 waiting in the queue",
        "failure review: not available",
        "plan\n  no open tasks: lab plan add TASK -p 0.6 --hours 4\n",
    ]


def test_today_gathers_due_predictions_ready_hypotheses_papers_and_the_next_task(project: Path) -> None:
    lab("hyp", "add", "a bigger batch trains faster")
    lab("predict", "H1", "it halves wall time", "-p", "0.6", "--due", "2020-01-01")
    with labbook.init(hypothesis="H1") as run:
        run.log({"loss": 1.0}, step=0)
    lab("hyp", "add", "still open, no runs")
    lab("papers", "import", str(FIX / "zotero.json"))
    lab("papers", "triage", "R1", "--decision", "skim", "--kind", "optimisation", "--changes", "no")
    lab("plan", "add", "profile the data loader", "-p", "0.5", "--hours", "1")
    lab("plan", "add", "rewrite the loader", "-p", "0.9", "--hours", "8")
    out = lab("today").output
    assert "predictions due (1)\n  P1  due 2020-01-01: p=0.6 — it halves wall time" in out
    assert "hypotheses ready to resolve (1)\n  H1  1 of 1 runs finished, none running" in out
    assert "1 triaged since" in out and "target 5-15: below target: 4 more to reach 5" in out
    assert "2 waiting in the queue: lab papers triage" in out
    assert "failure review: not available" in out
    assert "next: T1  profile the data loader (p=0.5, 1 h)" in out
    assert "2 open, all succeed with p=0.45, expected 5.0 h before the first failure" in out
    data = json.loads(lab("today", "--json").output)
    assert list(data) == ["due", "hypotheses", "papers", "failures", "plan"]
    assert data["due"]["data"] == ["P1"] and data["hypotheses"]["data"] == ["H1"]
    assert data["papers"]["data"] == {
        "triaged": 1,
        "target": [5, 15],
        "verdict": "below target: 4 more to reach 5",
        "untriaged": 2,
    }
    assert data["failures"]["available"] is False
    assert data["plan"]["data"] == {"next": "T1", "open": 2}
    lab("resolve", "H1", "--supported")
    assert json.loads(lab("today", "--json").output)["hypotheses"]["data"] == []
