"""Runs of other trackers brought into the notebook (``lab import``).

An importer (``labbook.importers``) reads a source and hands over whole runs; each is
written here as one run: its points into a series file of its own, then its row, params,
tags and summaries in one transaction. A run is named for good by its source and the
source's id for it, so importing again updates the same labbook run (same id, notes and
links kept) and never adds a second one.

The series file is written beside the old one and put in its place only once the
transaction has committed, so an import that fails leaves the run as it was.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput
from labbook.records.imports import ImportedRun, ImportedSeries, NewImport, Skipped
from labbook.records.runs import RUNNING, BatchSummary

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

SERIES_FILE = "import.lbm"
_BLOCK = 1 << 18  # points per block
SOURCES = ("tensorboard", "mlflow", "wandb")


def uid_for(source: str, source_id: str) -> str:
    """The labbook uid of a source's run: the same on every import, from every machine."""
    return hashlib.sha256(f"{source}\0{source_id}".encode()).hexdigest()[:32]


@dataclass
class ImportReport:
    """What one ``lab import`` did."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    points: int = 0


class Imports:
    """The import part of the notebook service (``notebook.imports``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    def run_all(
        self, items: Iterable[ImportedRun | Skipped], progress: Callable[[str], None] | None = None
    ) -> ImportReport:
        """Write every run the importer yields; what it skips is reported, never fatal alone."""
        report = ImportReport()
        for item in items:
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            run_id, created, points = self.write(item)
            (report.added if created else report.updated).append(run_id)
            report.points += points
            if progress is not None:
                progress(f"{item.source}: run {run_id} ({item.name or item.source_id}), {points:,} points")
        if not report.added and not report.updated:
            why = "; ".join(f"{s.item}: {s.reason}" for s in report.skipped[:3]) or "it holds no runs"
            raise BadInput(f"nothing could be imported ({why})")
        return report

    def write(self, run: ImportedRun) -> tuple[int, bool, int]:
        """One run, whole; returns (run id, whether it is new, points written)."""
        if run.source not in SOURCES:
            raise BadInput(f"unknown import source {run.source!r}")
        uid = uid_for(run.source, run.source_id)
        run_dir = self.nb.run_dir(uid)
        metrics = run_dir / "metrics"
        metrics.mkdir(parents=True, exist_ok=True)
        staged = metrics / f"{SERIES_FILE}.new"  # not a series file until it is renamed
        summaries, points = _write_series(staged, run.series)
        try:
            run_id, created = self.store.runs.save_imported(self._row(uid, run, summaries))
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        os.replace(staged, metrics / SERIES_FILE)
        if run.output:
            (run_dir / "output.log").write_text(run.output, encoding="utf-8", errors="replace")
        return run_id, created, points

    def _row(self, uid: str, run: ImportedRun, summaries: list[BatchSummary]) -> NewImport:
        now = time.time()
        started = run.started_at if run.started_at is not None else now
        capture: dict[str, Any] = {
            "import": {"source": run.source, "id": run.source_id, "origin": run.origin, "imported_at": now},
        }
        if run.artifacts:
            capture["import"]["artifacts"] = run.artifacts
        if run.details:
            capture["import"]["details"] = run.details
        return NewImport(
            uid=uid,
            source=run.source,
            name=run.name,
            status=run.status,
            created_at=started,
            started_at=started,
            ended_at=run.ended_at,
            heartbeat_at=now if run.status == RUNNING else None,
            params=run.params,
            tags=run.tags,
            summary=run.summary,
            metrics=summaries,
            capture=capture,
        )


def _write_series(path: Path, series: list[ImportedSeries]) -> tuple[list[BatchSummary], int]:
    """Every point into ``path`` (fsynced), block by block; the summary of each metric."""
    import numpy as np

    from labbook.core.summaries import summarize
    from labbook.formats.series import encode_block

    summaries, points = [], 0
    with open(path, "wb") as fh:
        for s in series:
            steps = np.asarray(s.steps, dtype="<i8")
            times = np.round(np.asarray(s.times, dtype="<f8") * 1000.0).astype("<i8")
            values = np.asarray(s.values, dtype="<f8")
            if not (len(steps) == len(times) == len(values)):
                raise BadInput(f"metric {s.key!r}: steps, times and values differ in length")
            if not len(values):
                continue
            for at in range(0, len(values), _BLOCK):
                end = at + _BLOCK
                fh.write(encode_block(s.key, steps[at:end], times[at:end], values[at:end]))
            summaries.append(summarize(s.key, steps, values))
            points += len(values)
        fh.flush()
        os.fsync(fh.fileno())
    return summaries, points
