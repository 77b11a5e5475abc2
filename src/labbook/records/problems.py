"""Problems, ideas and their ratings, and plan tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

IDEA_OUTCOMES = ("worked", "failed", "abandoned")
TASK_STATUSES = ("open", "done", "failed")


@dataclass(frozen=True)
class Problem:
    id: int
    uid: str
    title: str
    why: str
    attack: str | None
    notes: str
    created_at: float
    retired_at: float | None
    retired_why: str | None
    hyp_ids: tuple[int, ...] = ()

    @property
    def ref(self) -> str:
        return f"Q{self.id}"

    @property
    def active(self) -> bool:
        return self.retired_at is None

    @property
    def workable(self) -> bool:
        """A problem without an angle of attack is important but not yet something to work on."""
        return bool(self.attack)

    @property
    def status(self) -> str:
        if not self.active:
            return "retired"
        return "workable" if self.workable else "no attack yet"


@dataclass(frozen=True)
class Rating:
    rater: str
    p: float
    created_at: float


@dataclass(frozen=True)
class Idea:
    id: int
    uid: str
    text: str
    problem_id: int | None
    author: str | None
    created_at: float
    outcome: str | None
    outcome_at: float | None
    ratings: tuple[Rating, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"I{self.id}"


@dataclass(frozen=True)
class Task:
    id: int
    uid: str
    text: str
    p: float
    hours: float
    hyp_id: int | None
    created_at: float
    status: str
    closed_at: float | None

    @property
    def ref(self) -> str:
        return f"T{self.id}"
