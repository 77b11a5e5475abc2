"""``lab today``: one screen of what needs you now.

The agenda is a list of sections, each built by one small function from the notebook
service, so a new source of work (a pile of failures to review, say) is one more
function in ``SECTIONS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labbook.records.runs import FINISHED, RUNNING

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass
class Section:
    """One part of the agenda: a heading, lines for people, and the same facts as data."""

    name: str
    title: str
    lines: list[str]
    data: Any = None
    available: bool = True


def due_predictions(nb: Notebook, now: float) -> Section:
    items = nb.hypotheses.due(now)
    lines = [f"{p.ref}  {reason}: {p.describe()} — {p.text}" for p, reason in items]
    return Section(
        "due", f"predictions due ({len(items)})", lines or ["nothing is due"], [p.ref for p, _ in items]
    )


def hypotheses_ready(nb: Notebook, now: float) -> Section:
    """Hypotheses under test whose runs have all ended, with at least one finished: time to resolve."""
    ready = []
    for h in nb.hypotheses.list():
        if h.outcome is not None or not h.run_ids:
            continue
        runs = nb.hypotheses.runs(h)
        if any(r.status == RUNNING for r in runs):
            continue
        finished = sum(r.status == FINISHED for r in runs)
        if finished:
            ready.append((h, finished, len(runs)))
    lines = [
        f"{h.ref}  {done} of {total} runs finished, none running: resolve it (lab resolve {h.ref} --supported|--refuted)"
        f" — {h.text}"
        for h, done, total in ready
    ]
    return Section(
        "hypotheses",
        f"hypotheses ready to resolve ({len(ready)})",
        lines or ["no hypothesis under test has all its runs done"],
        [h.ref for h, _, _ in ready],
    )


def papers_this_week(nb: Notebook, now: float) -> Section:
    w = nb.papers.week(now)
    start = datetime.fromtimestamp(w.start).strftime("%Y-%m-%d")
    lines = [
        f"{w.triaged} triaged since {start}, target {w.low}-{w.high}: {w.verdict}",
        f"{w.untriaged} waiting in the queue" + (": lab papers triage" if w.untriaged else ""),
    ]
    data = {"triaged": w.triaged, "target": [w.low, w.high], "verdict": w.verdict, "untriaged": w.untriaged}
    return Section("papers", "papers this week", lines, data)


def failure_review(nb: Notebook, now: float) -> Section:
    """Failure samples with examples no pile holds yet: reading them is the work."""
    waiting = []
    for sample in nb.failures.samples():
        unreviewed = nb.failures.piles(sample.name).unreviewed
        if unreviewed:
            waiting.append({"sample": sample.name, "unreviewed": unreviewed, "size": sample.size})
    lines = [
        f"{w['sample']}: {w['unreviewed']} of {w['size']} unreviewed: lab failures review {w['sample']}"
        for w in waiting
    ] or ["no sample waiting for review"]
    return Section("failures", f"failure review ({len(waiting)})", lines, waiting)


def next_task(nb: Notebook, now: float) -> Section:
    s = nb.plan.schedule()
    if not s.tasks:
        return Section("plan", "plan", ["no open tasks: lab plan add TASK -p 0.6 --hours 4"], None)
    t = s.tasks[0]
    lines = [
        f"next: {t.ref}  {t.text} (p={t.p:g}, {t.hours:g} h)",
        f"{len(s.tasks)} open, all succeed with p={s.p_all:.2f}, "
        f"expected {s.expected_hours:.1f} h before the first failure",
    ]
    return Section("plan", "plan", lines, {"next": t.ref, "open": len(s.tasks)})


SECTIONS: list[Callable[[Notebook, float], Section]] = [
    due_predictions,
    hypotheses_ready,
    papers_this_week,
    failure_review,
    next_task,
]


def agenda(nb: Notebook, now: float | None = None) -> list[Section]:
    now = time.time() if now is None else now
    nb.reap()
    return [build(nb, now) for build in SECTIONS]
