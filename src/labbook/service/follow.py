"""Following a run as it goes: its saved output as it grows, one metric's points as they land.

Both poll every ``POLL_S`` and stop when the run does. The run's status is read before
each look at its files, through ``Notebook.get_run`` (which also marks a run whose owner
died as crashed), so the look after the status says "ended" sees everything the run
wrote: ``lab run`` closes the logs and the writers before it records the end.

Metric points are remembered per writer file, by how many of the key's points that file
has given so far. A writer's points never move between its files (a new segment is a
new file) and compaction rewrites a file with the same points in the same order, so no
point is printed twice or skipped, whichever file grows, rolls over or is compacted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from labbook.errors import NotFound
from labbook.records.runs import PENDING, UNFINISHED, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

POLL_S = 0.25
CHUNK = 1 << 16

#: One metric point as printed: (step, value, time in seconds since the epoch).
Point = tuple[int, float, float]


def no_output(run: RunRecord) -> NotFound:
    """Why a run has no saved output: never recorded is an error, unlike a run that printed nothing."""
    if run.status == PENDING:
        return NotFound(f"run {run.id} has not started yet; its output is saved once it runs")
    return NotFound(f"run {run.id} saved no output (it was not started with lab run)")


def until_ended(nb: Notebook, run: RunRecord, look: Callable[[], None], poll_s: float = POLL_S) -> RunRecord:
    """Call ``look`` every ``poll_s`` while ``run`` is pending or running, once more after; the run as it ended."""
    while True:
        now = nb.get_run(run.id)
        look()
        if now.status not in UNFINISHED:
            return now
        time.sleep(poll_s)


def follow_output(
    nb: Notebook, run: RunRecord, stream: str, write: Callable[[bytes], None], poll_s: float = POLL_S
) -> None:
    """Pass ``stream``'s saved output (``output`` or ``stderr``) to ``write`` as it arrives, until the run ends."""
    path = nb.output_path(run, stream)
    if run.source == "sdk" and not path.exists():
        raise no_output(run)  # a script's own run: nothing saves its output, so none will come
    tail = _Tail(path, write)
    try:
        ended = until_ended(nb, run, tail.copy, poll_s)
    finally:
        tail.close()
    if not tail.found:
        raise no_output(ended)


class _Tail:
    """A file read from where the last read stopped; it may not exist yet."""

    def __init__(self, path: Path, write: Callable[[bytes], None]) -> None:
        self.path, self.write = path, write
        self.fh: IO[bytes] | None = None
        self.found = False

    def copy(self) -> None:
        if self.fh is None:
            try:
                self.fh = self.path.open("rb")
            except FileNotFoundError:
                return
            self.found = True
        while chunk := self.fh.read(CHUNK):
            self.write(chunk)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def follow_metric(
    nb: Notebook, run: RunRecord, key: str, emit: Callable[[list[Point]], None], poll_s: float = POLL_S
) -> RunRecord:
    """Hand ``emit`` each batch of ``key``'s new points, in time order, until the run ends.

    The end is read once more through ``Notebook.series``, so damage is said as ``lab
    metrics`` says it, and a key the run never logged is the same error.
    """
    points = MetricPoints(nb.run_dir(run) / "metrics", key)

    def look() -> None:
        fresh = points.new()
        if fresh:
            emit(fresh)

    ended = until_ended(nb, run, look, poll_s)
    nb.series(ended, key)
    return ended


class MetricPoints:
    """The points of one metric that no earlier call returned, across every writer file."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder, self.key = folder, key
        self._given: dict[str, int] = {}  # file name → points of ``key`` already returned
        self._seen: dict[str, tuple[int, int, int]] = {}  # file name → (inode, size, mtime) when read

    def new(self) -> list[Point]:
        from labbook.store.series.read import series_files

        fresh: list[Point] = []
        for path in series_files(self.folder):
            fresh += self._new_in(path)
        fresh.sort(key=lambda p: p[2])  # several writers: in the order they were logged
        return fresh

    def _new_in(self, path: Path) -> list[Point]:
        """The file's points beyond those already given; an unchanged file is not read again."""
        from labbook.formats.series import decode
        from labbook.store.series.read import iter_blocks

        try:
            st = os.stat(path)
        except FileNotFoundError:  # compacted away between listing and reading: listed again next time
            return []
        mark = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._seen.get(path.name) == mark:
            return []
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        self._seen[path.name] = mark
        given = self._given.get(path.name, 0)
        blocks = [b for b in iter_blocks(data) if b.key == self.key]  # a torn tail in flight is left out
        first, before = 0, 0  # blocks skipped whole, and their points
        while first < len(blocks) and before + blocks[first].n <= given:
            before += blocks[first].n
            first += 1
        if first == len(blocks):
            return []
        s = decode(blocks[first:])
        skip = given - before
        self._given[path.name] = before + len(s.values)
        return list(
            zip(s.steps[skip:].tolist(), s.values[skip:].tolist(), s.times[skip:].tolist(), strict=True)
        )
