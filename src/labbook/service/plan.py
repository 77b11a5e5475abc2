"""The plan: tasks with a chance of success and a cost in hours, riskiest cheap step first.

A research plan is a chain of steps that must all work. Each step either works (with
the probability you estimate) or fails and sends you back to rethink. Doing first the
step that is most likely to fail per hour spent finds a dead end soonest: tasks are
ordered by ``ln(1/p) / hours``, descending, the information (in nats) that a success
brings per hour. A step you are sure of (p = 1) tells you nothing and goes last.

The pure functions take plain sequences; ``Plan`` is the service (``notebook.plan``).
When tasks are marked done or failed, their estimates are scored (Brier), the same as
predictions.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labbook.core import scoring
from labbook.core.plan import expected_hours, order, p_all_succeed
from labbook.errors import BadInput, NotFound
from labbook.records.problems import Task
from labbook.service.papers import check_p

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass(frozen=True)
class Schedule:
    """Open tasks in order, with what the order implies and how good past estimates were."""

    tasks: list[Task]
    p_all: float
    expected_hours: float
    total_hours: float
    closed: int
    brier: float | None


class Plan:
    """The plan part of the notebook service (``notebook.plan``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    def get(self, ref: str | int) -> Task:
        m = re.fullmatch(r"(?i:T)?(\d+)", str(ref).strip())
        if not m:
            raise BadInput(f"{str(ref)!r} is not a task id; write it like T3")
        task = self.store.problems.get_task(int(m.group(1)))
        if task is None:
            raise NotFound(f"no task T{m.group(1)} in this notebook; `lab plan` lists them")
        return task

    def add(self, text: str, p: float, hours: float, hyp: str | int | None = None) -> Task:
        text = " ".join((text or "").split())
        if not text:
            raise BadInput("a task needs some text saying what to do")
        check_p(p)
        if not (math.isfinite(hours) and hours > 0):
            raise BadInput(f"--hours {hours:g} must be more than 0")
        hyp_id = self.nb.hypotheses.get(hyp).id if hyp is not None else None
        same = [t for t in self.store.problems.list_tasks("open") if t.text.casefold() == text.casefold()]
        if same:
            raise BadInput(f"this task is already planned as {same[0].ref}")
        return self.get(
            self.store.problems.create_task(uuid.uuid4().hex, text, p, hours, hyp_id, time.time())
        )

    def schedule(self) -> Schedule:
        tasks = self.store.problems.list_tasks("open")
        ps, hours = [t.p for t in tasks], [t.hours for t in tasks]
        ordered = [tasks[i] for i in order(ps, hours)]
        closed = [t for t in self.store.problems.list_tasks() if t.status != "open"]
        brier = (
            scoring.brier([t.p for t in closed], [1.0 if t.status == "done" else 0.0 for t in closed])
            if closed
            else None
        )
        return Schedule(
            ordered,
            p_all_succeed(ps),
            expected_hours([t.p for t in ordered], [t.hours for t in ordered]),
            sum(hours),
            len(closed),
            brier,
        )

    def close(self, ref: str | int, status: str) -> Task:
        task = self.get(ref)
        if status not in ("done", "failed"):
            raise BadInput("a task ends done or failed")
        if not self.store.problems.close_task(task.id, status, time.time()):
            raise BadInput(f"{task.ref} is already {task.status}")
        return self.get(task.id)

    def next(self) -> Task | None:
        tasks = self.schedule().tasks
        return tasks[0] if tasks else None
