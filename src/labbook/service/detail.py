"""Everything recorded about one run, gathered once for ``lab show`` and the web's run page."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labbook.errors import BadInput
from labbook.records.artifacts import Artifact
from labbook.records.runs import RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

#: (metric, original last, rerun last, matched) per metric of the original.
RerunRow = tuple[str, float, float, bool]


@dataclass
class RunDetail:
    run: RunRecord
    patch: str
    packages: str
    files: dict[str, int]  # each file in the run's folder with its size: a missing log is seen
    damage: list[str]
    rerun: tuple[int, list[RerunRow]] | None  # for a rerun: the original's id and how it matched
    artifacts: list[Artifact]


def detail(nb: Notebook, ref: str | int) -> RunDetail:
    record = nb.get_run(ref)
    return RunDetail(
        record,
        nb.blob(record.capture.get("patch")) or "",
        nb.blob(record.capture.get("packages")) or "",
        run_files(nb, record),
        nb.damage(record),
        _rerun_rows(nb, record),
        nb.artifacts.list(record),
    )


def run_files(nb: Notebook, run: RunRecord) -> dict[str, int]:
    base = nb.run_dir(run)
    if not base.is_dir():
        return {}
    return {str(p.relative_to(base)): p.stat().st_size for p in sorted(base.rglob("*")) if p.is_file()}


def _rerun_rows(nb: Notebook, run: RunRecord) -> tuple[int, list[RerunRow]] | None:
    original_id = run.capture.get("rerun_of")
    if original_id is None:
        return None
    try:
        original = nb.get_run(original_id)
    except BadInput:
        return original_id, []
    return original_id, rerun_match(original, run)


def rerun_match(original: RunRecord, rerun: RunRecord, rel_tol: float = 1e-9) -> list[RerunRow]:
    """Whether each metric of the original (sys/ aside) ended at the same last value in the rerun."""
    rows = []
    for key, m in sorted(original.metrics.items()):
        if key.startswith("sys/"):
            continue
        other = rerun.metrics.get(key)
        value = other.last if other is not None else math.nan
        same = other is not None and (
            (math.isnan(m.last) and math.isnan(value))
            or math.isclose(m.last, value, rel_tol=rel_tol, abs_tol=0.0)
        )
        rows.append((key, m.last, value, same))
    return rows
