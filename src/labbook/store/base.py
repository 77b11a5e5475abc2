"""The store interface: what the notebook service needs from a database.

SQLite is the embedded default (``store.sqlite``); a PostgreSQL implementation for
``lab server`` will satisfy the same protocol and the same contract tests. Only the
service (``labbook.notebook``) talks to a store; adapters never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..model import RunRecord


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
class LiveRow:
    id: int
    owner: Owner | None
    heartbeat_at: float | None


class Store(Protocol):
    def create_run(self, run: NewRun) -> int: ...
    def set_capture(self, run_id: int, capture: dict[str, Any]) -> None: ...
    def set_params(self, run_id: int, params: dict[str, Any]) -> None: ...
    def add_tags(self, run_id: int, tags: tuple[str, ...]) -> None: ...
    def fill_in(self, run_id: int, name: str | None, note: str | None) -> None: ...
    def set_summary(self, run_id: int, values: dict[str, Any]) -> None: ...
    def merge_metrics(self, run_id: int, batches: list[BatchSummary]) -> None: ...
    def replace_metrics(self, run_id: int, summaries: list[BatchSummary]) -> None: ...
    def heartbeat(self, run_id: int, now: float) -> None: ...
    def end_run(self, run_id: int, status: str, ended_at: float, exit_code: int | None) -> bool: ...
    def adopt_run(self, run_id: int, owner: Owner, started_at: float, cwd: str) -> bool: ...
    def set_job(self, run_id: int, job_id: str | None, job_state: str | None) -> None: ...
    def delete_pending(self, ids: list[int]) -> None: ...
    def unfinished_jobs(self) -> list[tuple[int, str, str]]: ...
    def get_run(self, run_id: int) -> RunRecord | None: ...
    def find_run_ids(self, ref: str) -> list[int]: ...
    def query_runs(
        self,
        where: tuple[str, list[Any]] | None,
        order: list[tuple[str, list[Any], bool]],
        limit: int | None,
    ) -> tuple[list[RunRecord], int]: ...
    def live_runs(self) -> list[LiveRow]: ...
    def mark_crashed(self, ids: list[int], now: float) -> None: ...
    def fields(self) -> Fields: ...
    def backup(self, path: Path) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class NewHypothesis:
    uid: str
    text: str
    problem: str | None
    author: str | None
    created_at: float
    tags: tuple[str, ...] = ()
    problem_id: int | None = None  # a problem record (problem then holds its title)
    pile: tuple[int, str, int, int] | None = None  # started from a pile: (sample id, pile, count, reviewed)


@dataclass(frozen=True)
class NewPrediction:
    uid: str
    hyp_id: int | None
    text: str
    kind: str
    p: float | None = None
    low: float | None = None
    high: float | None = None
    level: float | None = None
    point: float | None = None
    metric: str | None = None
    agg: str | None = None
    reduce: str | None = None
    op: str | None = None
    value: float | None = None
    min_runs: int | None = None
    author: str | None = None
    created_at: float = 0.0
    due_at: float | None = None
    revision_of: int | None = None
    source: str = "lab"
    late: bool | None = None  # None: decide from the hypothesis's runs at insert time
    paper_id: int | None = None
    tags: tuple[str, ...] = ()  # a prediction's own tags (imported ones); others use their hypothesis's
    scope: dict[str, Any] | None = None  # what a metric-tied prediction is about (targets.Scope)
