"""Runs read from another tracker (TensorBoard, MLflow, W&B), as an importer hands them over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from labbook.records.runs import FINISHED, BatchSummary


@dataclass(frozen=True)
class ImportedSeries:
    """Every point of one metric, in the order the source logged them (no sampling)."""

    key: str
    steps: Sequence[int]
    times: Sequence[float]  # seconds since the epoch
    values: Sequence[float]


@dataclass
class ImportedRun:
    """One run of another tool, whole: written in one transaction, or not at all.

    ``source`` and ``source_id`` (the tool's own id for the run) name it for good: importing
    the same run again updates the labbook run it became, and never adds a second one.
    """

    source: str  # "tensorboard", "mlflow" or "wandb"
    source_id: str
    origin: str  # where it was read from: a path or a URI, shown by lab show
    name: str | None = None
    status: str = FINISHED
    started_at: float | None = None
    ended_at: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)  # the source's final values, beside the metrics
    series: list[ImportedSeries] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)  # names the source lists; the files stay there
    details: dict[str, Any] = field(default_factory=dict)  # anything else worth showing (experiment, ...)
    output: str | None = None  # the run's console output, where the source kept it


@dataclass(frozen=True)
class Skipped:
    """Something in the source that could not be imported, and why (counted, never fatal alone)."""

    item: str
    reason: str


@dataclass(frozen=True)
class NewImport:
    """An imported run as the store writes it: the row, its params, tags, user summary and the
    summaries of its metrics (whose points are already in its series file)."""

    uid: str
    source: str
    name: str | None
    status: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None  # an import of a run still running elsewhere: when it was read
    params: dict[str, Any]
    tags: tuple[str, ...]
    summary: dict[str, Any]
    metrics: list[BatchSummary]
    capture: dict[str, Any]
