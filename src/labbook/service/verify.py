"""``lab verify``: does the notebook still hold everything it accepted?

Two records must agree. The database counts, per metric, every point a writer put on
disk (summaries are merged only after the write); the series files hold the points. A
file region that fails its checksum, a run folder that vanished, or files holding fewer
points than their summary mean data was lost after it was accepted; so do points the
disk refused while a run was logging (``lost``). Each is named with its run and file.

A torn tail (a block cut short) is what a writer killed mid-write leaves: expected in a
crashed, killed or running run, damage in a run that finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labbook.records.runs import FINISHED, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass(frozen=True)
class Problem:
    """One thing wrong, in one line; ``damage`` False for what is expected (a killed writer's tail)."""

    run_id: int | None  # None: the database itself
    kind: str  # database, lost (refused when logged), missing, damaged, torn, short (fewer than counted)
    what: str
    damage: bool = True


@dataclass(frozen=True)
class Report:
    runs: int
    files: int
    problems: list[Problem]

    @property
    def damaged(self) -> bool:
        return any(p.damage for p in self.problems)


def verify(nb: Notebook, runs: list[RunRecord], known: list[Problem] | None = None) -> Report:
    """Check the database and each run's series files against its summaries."""
    problems = [Problem(None, "database", f"database: {line}") for line in nb.store.integrity()]
    problems += known or []
    files = 0
    for run in runs:
        found, n_files = check_run(nb, run)
        problems += found
        files += n_files
    return Report(len(runs), files, problems)


def check_run(nb: Notebook, run: RunRecord) -> tuple[list[Problem], int]:
    """The problems of one run, and how many series files it has."""
    from labbook.store.series.read import count_points, series_files
    from labbook.store.series.scan import DAMAGED

    folder = nb.run_dir(run) / "metrics"
    files = len(series_files(folder))
    problems = [
        Problem(
            run.id,
            "lost",
            f"run {run.id}: {m.lost:,} points of {k!r} were lost when logged (the disk refused them)",
        )
        for k, m in run.metrics.items()
        if m.lost
    ]
    counted = {k: m.count for k, m in run.metrics.items() if m.count}
    if counted and not folder.is_dir():
        what = ", ".join(f"{n:,} of {k!r}" for k, n in sorted(counted.items()))
        gone = f"run {run.id}: its series folder {folder} is missing; the points its summaries count are lost ({what})"
        return [*problems, Problem(run.id, "missing", gone)], 0
    held, damage = count_points(folder)
    for d in damage:
        expected = d.kind != DAMAGED and run.status != FINISHED
        note = f" (a writer stopped mid-write, as expected in a {run.status} run)" if expected else ""
        kind = "damaged" if d.kind == DAMAGED else "torn"
        problems.append(Problem(run.id, kind, f"run {run.id}: {d}{note}", damage=not expected))
    for key, count in sorted(counted.items()):
        kept = held.get(key, 0)
        if kept < count:
            problems.append(
                Problem(
                    run.id,
                    "short",
                    f"run {run.id}: its files hold {kept:,} of the {count:,} points of {key!r} its summary counts",
                )
            )
    return problems, files


def shortfall(nb: Notebook, run: RunRecord) -> list[str]:
    """For ``lab show``: one line per metric whose files hold fewer points than its summary."""
    return [p.what for p in check_run(nb, run)[0] if p.damage and p.kind != "lost"]
