"""Plain records passed between the store, the service and the adapters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Terminal statuses: a run in one of these never changes again (except crashed → running
# when a process thought dead heartbeats after all).
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
KILLED = "killed"
CRASHED = "crashed"
STATUSES = (RUNNING, FINISHED, FAILED, KILLED, CRASHED)


@dataclass(frozen=True)
class MetricSummary:
    """Summary of one metric: min/max ignore NaN; ``last`` is NaN when the last point was."""

    key: str
    count: int
    nan_count: int
    last: float
    last_step: int | None
    min: float
    max: float
    sum: float

    @property
    def mean(self) -> float:
        n = self.count - self.nan_count
        return self.sum / n if n else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "last_step": self.last_step,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "count": self.count,
            "nan_count": self.nan_count,
        }


@dataclass(frozen=True)
class RunRecord:
    """Everything the notebook knows about one run, as one value."""

    id: int
    uid: str
    name: str | None
    status: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    note: str | None
    command: list[str] | None
    cwd: str | None
    host: str | None
    pid: int | None
    source: str
    heartbeat_at: float | None = None
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    capture: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else self.heartbeat_at
        return None if end is None else max(0.0, end - self.started_at)

    @property
    def label(self) -> str:
        return self.name or f"run-{self.id}"
