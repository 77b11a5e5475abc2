"""Runs as the store hands them out and takes them in: statuses, summaries, owners, new runs."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# A run is pending (queued on a cluster, not started yet), then running, then ends in one of
# the terminal statuses, which never change again (except crashed → running when a process
# thought dead heartbeats after all). Cancelled: stopped before it ever started.
PENDING = "pending"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
KILLED = "killed"
CRASHED = "crashed"
CANCELLED = "cancelled"
STATUSES = (PENDING, RUNNING, FINISHED, FAILED, KILLED, CRASHED, CANCELLED)
UNFINISHED = (PENDING, RUNNING)


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
    lost: int = 0  # points accepted by run.log that never reached the disk

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
            "lost": self.lost,
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
    hyp_id: int | None = None
    sweep_id: str | None = None
    job_id: str | None = None  # the cluster's id for the job that runs it (Slurm)
    job_state: str | None = None  # the cluster's last word on that job, e.g. COMPLETED, TIMEOUT
    trashed_at: float | None = None  # lab rm: hidden from every reader until restored or collected
    archived_at: float | None = None  # lab archive: kept, left out of listings and comparisons

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; a running run's time so far (its last heartbeat can be
        seconds old, and is its start at first), and none for a run not started."""
        if self.started_at is None or self.status == PENDING:
            return None
        if self.ended_at is not None:
            end: float | None = self.ended_at
        elif self.status == RUNNING:
            end = time.time()
        else:  # ended without an end time recorded: the last sign of life
            end = self.heartbeat_at
        return None if end is None else max(0.0, end - self.started_at)

    @property
    def label(self) -> str:
        return self.name or f"run-{self.id}"

    @property
    def lost(self) -> int:
        """Points ``run.log`` accepted that never reached the disk (a full disk, say)."""
        return sum(m.lost for m in self.metrics.values())

    @property
    def status_line(self) -> str:
        """The status as a person should read it: a run that lost data never reads as clean."""
        return f"{self.status}, lost {self.lost:,} points" if self.lost else self.status


@dataclass(frozen=True)
class NewRun:
    uid: str
    name: str | None
    created_at: float
    note: str | None
    command: list[str] | None
    cwd: str | None
    source: str
    owner: Owner
    tags: tuple[str, ...] = ()
    hyp_id: int | None = None
    sweep_id: str | None = None
    pending: bool = False  # queued on a cluster: started (and owned) later by the node's lab run
    params: Mapping[str, Any] | None = None  # written with the row, in one transaction


@dataclass(frozen=True)
class Owner:
    """The process responsible for a run's status; used to tell running from crashed."""

    host: str
    pid: int
    pid_started: float
    boot_id: str


@dataclass(frozen=True)
class BatchSummary:
    """Summary of one flushed batch of one metric, merged into the stored summary."""

    key: str
    count: int
    nan_count: int
    last: float
    last_step: int | None
    min: float | None
    max: float | None
    sum: float
    lost: int = 0  # points accepted by run.log that could not be kept (a full disk, say)


@dataclass(frozen=True)
class Fields:
    """Names a --where expression may refer to, for resolution and error messages."""

    params: frozenset[str]
    metrics: frozenset[str]
    summary: frozenset[str]


@dataclass(frozen=True)
class RunEvent:
    """A change made to a run after the fact, as the journal keeps it."""

    run_id: int
    at: float
    kind: str  # tag / untag / rename / trash / restore / archive / unarchive / delete
    detail: dict[str, Any]


@dataclass(frozen=True)
class LiveRow:
    id: int
    owner: Owner | None
    heartbeat_at: float | None


class CloseReport(NamedTuple):
    """What a closing writer could not do, for the caller to record or say."""

    lost: dict[str, int]  # points accepted by log() that never reached the disk, per metric
    summaries_stored: bool  # False: the store refused the last summaries (rebuild them from the files)
    warning: str | None  # one line for the user (compaction kept a damaged file, say)
