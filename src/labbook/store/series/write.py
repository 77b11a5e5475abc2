"""``SeriesWriter``: appends that land whole or not at all, in segments compacted as they close.

A failed write (a full disk) is truncated away, and if even that fails the writer carries
on in a fresh file, so a torn block is never followed by more blocks: the caller keeps
its points and retries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from labbook.formats.series import HEADER
from labbook.store.series.compact import UNCHANGED, Compaction, compact_file
from labbook.store.series.files import write_all
from labbook.store.series.read import SUFFIX, intact_length

_unpack = HEADER.unpack_from

_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
#: How long ``close`` waits for the background helper before leaving it its segment.
JOIN_S = 1.0


class SeriesWriter:
    """Appends blocks to one writer file; one instance per writing process.

    An append lands whole or not at all, so the caller can keep the points and retry.
    ``path`` is the file being written: it changes if a failed append could not be cut
    back, because a torn block must never be followed by more blocks.
    """

    def __init__(self, path: Path, background: bool = False, segment_bytes: int | None = None) -> None:
        from labbook.store.series.compactor import SEGMENT_BYTES, Background

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.blocks = 0  # blocks written, across files
        self.points = 0  # points in them
        self._stem = path.name.removesuffix(SUFFIX)
        self._abandoned: list[tuple[Path, int]] = []  # (file, the length it should have)
        self._result: Compaction | None = None
        self._segment_bytes = segment_bytes or SEGMENT_BYTES
        self._segment_blocks = 0  # blocks in the file being written
        self._closed: list[tuple[Path, int]] = []  # earlier segments and their block counts
        self._background = Background() if background else None
        self._fd = os.open(path, _APPEND, 0o644)
        self._length = os.fstat(self._fd).st_size  # of the intact file: O_APPEND hides the offset
        if self._length and intact_length(path) != self._length:
            self._abandon()  # it ends inside an earlier writer's block: appending would bury it

    def append(self, chunks: Sequence[bytes]) -> None:
        """Append encoded blocks; on any error leave the file as it was and re-raise."""
        if self._result is not None:
            raise ValueError(f"{self.path} is closed")
        if not chunks:
            return
        if self._fd < 0:
            self._open_fresh()
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            write_all(self._fd, data)
        except BaseException:
            self._cut_back()
            raise
        self._length += len(data)
        self.blocks += len(chunks)
        self._segment_blocks += len(chunks)
        self.points += sum(_unpack(c)[1] for c in chunks)
        if self._length >= self._segment_bytes:
            self._roll()
        elif self._background is not None:
            self._background.tend()

    def _roll(self) -> None:
        """End this segment (the next append opens a fresh one) and hand it to the background.

        Never raises: the append before it has landed, and a caller seeing an error would
        write its points again.
        """
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = -1
        self._closed.append((self.path, self._segment_blocks))
        if self._background is not None:
            self._background.offer(self.path, self._segment_blocks)
        self._length = self._segment_blocks = 0  # close() has no current segment until the next append

    def _cut_back(self) -> None:
        """Truncate a failed append away; if even that fails, leave the file for a fresh one."""
        try:
            if os.fstat(self._fd).st_size != self._length:
                os.ftruncate(self._fd, self._length)
        except OSError:
            self._abandon()

    def _abandon(self) -> None:
        self._abandoned.append((self.path, self._length))
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = -1  # if no fresh file can be opened now, the next append tries again
        try:
            self._open_fresh()
        except OSError:
            pass

    def _open_fresh(self) -> None:
        """Open ``<stem>.<k>.lbm`` beside the first file (readers find every ``*.lbm``)."""
        k = 1
        while True:
            path = self.path.with_name(f"{self._stem}.{k}{SUFFIX}")
            try:
                self._fd = os.open(path, _APPEND | os.O_EXCL, 0o644)
            except FileExistsError:
                k += 1
                continue
            self.path, self._length, self._segment_blocks = path, 0, 0
            return

    def close(self, compact: bool = True) -> Compaction:
        """Close, then (with ``compact``) merge small blocks so reads stay fast (``compact_file``).

        With a background helper, only the segments it has not reached are compacted here,
        after waiting briefly for the one it is working on. A file left behind by a failed
        truncation gets one more try at it first. The result is the first compaction with
        a warning, else that of the last segment.
        """
        if self._result is None:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._repair_abandoned()
            results = [compact_file(p) for p in self._left_to_compact()] if compact else []
            last = Compaction(self.path, UNCHANGED, self._segment_blocks, self._segment_blocks, [], None)
            if compact and self._segment_blocks > 1 and self._length:
                last = compact_file(self.path)
            self._result = next((r for r in results if r.warning), last)
        return self._result

    def _left_to_compact(self) -> list[Path]:
        if self._background is None:
            return [path for path, blocks in self._closed if blocks > 1]
        left, _busy = self._background.finish(JOIN_S)
        return left

    def _repair_abandoned(self) -> None:
        for path, length in self._abandoned:
            try:
                if path.stat().st_size > length:
                    os.truncate(path, length)
            except OSError:
                pass  # still torn: readers name it as a torn tail
