"""What the integration tests read back: runs, and every metric's points as (step, value) pairs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labbook.records.runs import RunRecord
from labbook.service.notebook import Notebook

Points = dict[str, list[tuple[int, float]]]


def runs(project: Path) -> list[RunRecord]:
    """Every run of the notebook, oldest first."""
    with Notebook.open(project) as nb:
        found, _ = nb.list_runs(limit=0)
    return sorted(found, key=lambda rec: rec.id)


def read(project: Path, ref: int) -> RunRecord:
    with Notebook.open(project) as nb:
        return nb.get_run(ref)


def stored(project: Path, ref: int) -> Points:
    """Each metric of a run as the notebook returns it, in the order it was logged."""
    with Notebook.open(project) as nb:
        rec = nb.get_run(ref)
        out: Points = {}
        for key in rec.metrics:
            series = nb.series(rec, key)
            out[key] = list(zip(series.steps.tolist(), series.values.tolist(), strict=True))
    return out


def points(logged: Iterable[tuple[Mapping[str, Any], int]]) -> Points:
    """What a framework handed over, ``(values, step)`` at a time, in the same shape."""
    out: Points = {}
    for values, step in logged:
        for key, value in values.items():
            out.setdefault(key, []).append((step, float(value)))
    return out
