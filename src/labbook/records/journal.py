"""Notes, timeline events and search hits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    hyp_id: int | None
    run_id: int | None
    against: bool
    author: str | None
    created_at: float
    uid: str = ""


@dataclass(frozen=True)
class NewNote:
    uid: str
    text: str
    hyp_id: int | None
    run_id: int | None
    against: bool
    author: str
    created_at: float


@dataclass(frozen=True)
class Event:
    """One line of the journal's timeline."""

    at: float
    kind: str  # note, evidence-against, prediction, resolution, run-started, run-ended, hypothesis, ...
    ref: str  # H1, P3, run 7, N2
    text: str
    hyp_id: int | None = None


@dataclass(frozen=True)
class Hit:
    kind: str
    ref: int
    title: str
    snippet: str
    rank: float
