"""Compacting a long run's closed series segments in the background, so finishing stays short.

A writer file rolls over into a fresh segment every ``SEGMENT_BYTES``. Each closed
segment full of small blocks is compacted by a helper process at the lowest CPU
priority, one at a time, while training goes on: the training process pays one
``posix_spawn`` per segment, not the merge. ``finish()`` then compacts only what the
helper has not reached (normally the last segment), so its cost does not grow with
the run's length.

The helper runs in a session of its own, so ``lab run`` stopping what a command left
running lets it finish its segment (a second of work at most). Compaction is atomic (a
temporary file renamed over the segment), so the helper can still be killed at any point
(a job's end): the segment stays as it was, valid and readable, only less compact, and
its partial ``*.compacting`` copy is left behind, ignored by readers and backups.

    python -m labbook.store.series.compactor FILE...
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: A writer file is closed and a new segment begun past this size.
SEGMENT_BYTES = 16 << 20
#: A segment of fewer blocks is not worth a helper: its blocks are already large.
WORTH_BLOCKS = 4096


class Background:
    """At most one helper at a time; segments queue until it is free."""

    def __init__(self) -> None:
        self._queue: list[Path] = []
        self._job: tuple[Path, subprocess.Popen[bytes]] | None = None
        self._usable = bool(sys.executable)

    def offer(self, path: Path, blocks: int) -> None:
        if blocks >= WORTH_BLOCKS:
            self._queue.append(path)
        self.tend()

    def tend(self) -> None:
        """Reap a finished helper and start the next; cheap enough to call on every append."""
        if self._job is not None and self._job[1].poll() is not None:
            self._job = None
        if self._job is None and self._queue and self._usable:
            path = self._queue.pop(0)
            try:
                self._job = (path, _spawn(path))
            except (OSError, ValueError, subprocess.SubprocessError):
                self._usable = False  # no interpreter to run it: finish() compacts in-process
                self._queue.insert(0, path)

    def finish(self, timeout: float) -> tuple[list[Path], Path | None]:
        """Wait up to ``timeout`` for the running helper; return what is left to compact.

        The second item is a segment the helper is still working on: leave it alone.
        """
        busy = None
        if self._job is not None:
            path, proc = self._job
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                busy = path
            self._job = None
        left, self._queue = self._queue, []
        return left, busy


def _spawn(path: Path) -> subprocess.Popen[bytes]:
    here = str(Path(__file__).resolve().parents[3])  # the directory holding the labbook package
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "labbook.store.series.compactor", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # not one of the command's processes: lab run's cleanup lets it finish
    )


def main(argv: list[str]) -> int:
    from labbook.store.series.compact import FAILED, compact_file

    try:
        os.nice(19)
    except OSError:
        pass
    failed = [p for p in argv if compact_file(Path(p)).status == FAILED]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
