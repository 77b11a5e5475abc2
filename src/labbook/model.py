"""Plain records passed between the store, the service and the adapters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else self.heartbeat_at
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


# -- hypotheses and predictions --------------------------------------------------------

OPEN = "open"
TESTING = "testing"
RESOLVED = "resolved"
HYP_OUTCOMES = ("supported", "refuted", "inconclusive")
BINARY = "binary"
NUMERIC = "numeric"
POINT = "point"  # a single guessed number (a paper result), scored by its error
PRED_OUTCOMES = ("true", "false", "ambiguous")


@dataclass(frozen=True)
class Hypothesis:
    id: int
    uid: str
    text: str
    problem: str | None
    author: str | None
    created_at: float
    outcome: str | None
    belief: str | None
    resolved_at: float | None
    tags: tuple[str, ...] = ()
    run_ids: tuple[int, ...] = ()
    problem_id: int | None = None  # the problem record it is linked to, if any

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return RESOLVED
        return TESTING if self.run_ids else OPEN

    @property
    def ref(self) -> str:
        return f"H{self.id}"


@dataclass(frozen=True)
class Resolution:
    outcome: str  # true / false / ambiguous
    value: float | None
    how: str  # auto / manual / import
    detail: dict[str, Any] | None
    resolved_at: float


@dataclass(frozen=True)
class Prediction:
    """A forecast written down before its result; never edited, only revised."""

    id: int
    uid: str
    hyp_id: int | None
    text: str
    kind: str
    p: float | None
    low: float | None
    high: float | None
    level: float | None
    point: float | None
    metric: str | None
    agg: str | None
    reduce: str | None
    op: str | None
    value: float | None
    min_runs: int | None
    author: str | None
    created_at: float
    due_at: float | None
    late: bool
    revision_of: int | None
    source: str
    superseded_by: int | None = None
    resolution: Resolution | None = None
    paper_id: int | None = None
    tags: tuple[str, ...] = ()  # its own tags (e.g. from Fatebook), besides its hypothesis's
    #: What a metric-tied prediction is about, beyond all its hypothesis's runs (``targets.Scope``):
    #: {"where": EXPR}, and/or {"a": EXPR, "b": EXPR, "a_spec": .., "b_spec": ..} with "verdict": WORD.
    scope: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        return f"P{self.id}"

    @property
    def scored(self) -> bool:
        """Counted in scores: the latest revision, made before results, resolved unambiguously."""
        return (
            self.superseded_by is None
            and not self.late
            and self.resolution is not None
            and self.resolution.outcome != "ambiguous"
        )

    def flags(self) -> list[str]:
        """What a reader must know beside the forecast: lateness and revisions."""
        out = []
        if self.late:
            out.append("LATE, not scored")
        if self.superseded_by:
            out.append(f"revised by P{self.superseded_by}")
        if self.revision_of:
            out.append(f"revises P{self.revision_of}")
        return out

    def describe(self) -> str:
        """The forecast in a few words: `p=0.7`, `80% in [0.81, 0.86]`, `val_acc.last mean > 0.9`."""
        parts = []
        if self.metric and not self.agg:  # a paper's reported result, not a run metric
            parts.append(self.metric)
        elif self.metric:
            over = (
                f"{self.reduce} over ≥{self.min_runs} runs"
                if (self.min_runs or 1) > 1
                else f"{self.reduce} over runs"
            )
            scope = self.scope or {}
            if "verdict" in scope:
                target = f"lab compare {scope['a_spec']} vs {scope['b_spec']} on {self.metric}.{self.agg}: {scope['verdict']}"
            elif "a" in scope:
                target = f"{self.metric}.{self.agg} ({over}) of {scope['a_spec']} − {scope['b_spec']}"
            else:
                target = f"{self.metric}.{self.agg} ({over})"
            claim = f"{target} {self.op} {self.value:g}" if self.op else target
            parts.append(claim + (f" where {scope['where']}" if scope.get("where") else ""))
        if self.kind == BINARY and self.p is not None:
            parts.append(f"p={self.p:g}")
        if self.kind == NUMERIC:
            level = f"{self.level * 100:g}%" if self.level is not None else "?"
            parts.append(f"{level} in [{self.low:g}, {self.high:g}]")
            if self.point is not None:
                parts.append(f"guess {self.point:g}")
        if self.kind == POINT and self.point is not None:
            parts.append(f"guess {self.point:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    hyp_id: int | None
    run_id: int | None
    against: bool
    author: str | None
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
