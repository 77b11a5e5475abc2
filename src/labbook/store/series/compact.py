"""Compacting a series file: small blocks merged per key, streamed, atomic, never lossy.

Compaction streams through the file in bounded memory, copies large blocks verbatim,
merges runs of small ones, and never rewrites a file that has any damage: rewriting it
could only lose what a later reader might still recover.
"""

from __future__ import annotations

import errno
import os
import sys
import zlib
from array import array
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from labbook.formats.series import BadBlock, Buffer, merge_np, merge_py, pack
from labbook.store.series.files import WINDOW, GcPaused, Opened, Source, pread, write_all
from labbook.store.series.scan import CHECK, DAMAGED, KEEP, Damage, Entry, scan

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

#: Most points compaction puts in one merged block.
CHUNK = 1 << 19
#: Blocks of this many points are copied as they are: merging them would not make reads faster.
LARGE = 1 << 16
_HELD = 16 << 20  # bytes compaction holds in memory before moving merged blocks to a temp file
_MIN_SAVED = 8  # compaction is skipped unless it removes at least this many blocks


COMPACTED, UNCHANGED, KEPT_DAMAGED, FAILED = "compacted", "unchanged", "damaged", "failed"


class Compaction(NamedTuple):
    """What ``compact_file`` did with one file; ``warning`` is the one line worth showing."""

    path: Path
    status: str  # COMPACTED, UNCHANGED (nothing to gain), KEPT_DAMAGED or FAILED (left as it was)
    blocks_before: int
    blocks_after: int
    damage: list[Damage]
    error: str | None  # why writing the compacted copy failed

    @property
    def warning(self) -> str | None:
        if self.status == KEPT_DAMAGED:
            more = f" (and {len(self.damage) - 1} more)" if len(self.damage) > 1 else ""
            return f"left {self.path} uncompacted to keep every readable point: {self.damage[0]}{more}"
        if self.status == FAILED:
            return f"could not compact {self.path} ({self.error}); it is kept as it was"
        return None


class _Range(NamedTuple):
    """Bytes to copy into the output as they are: a large block, or a merged block spilled to disk."""

    fd: int
    offset: int
    length: int


if TYPE_CHECKING:
    Item = (
        bytes | _Range | Future[bytes]
    )  # of a compaction's output: a block, bytes to copy, one being encoded


class _Run:
    """Consecutive small blocks of one key, their raw (decompressed) columns end to end."""

    def __init__(self, first: _Range) -> None:
        self.steps = bytearray()
        self.times = bytearray()
        self.values = bytearray()
        self.sizes: array[int] = array("q")
        self.n = 0
        self.first = first  # a run of one block is copied, not re-encoded

    def add(self, entry: Entry, payload: Buffer, index: int) -> None:
        n, flags, a = entry[3], entry[4], entry[5]
        b = a + entry[6]
        c = b + entry[7]
        if flags:
            s, t, v = (
                zlib.decompress(payload[a:b]),
                zlib.decompress(payload[b:c]),
                zlib.decompress(payload[c:]),
            )
            if not len(s) == len(t) == len(v) == 8 * n:
                raise BadBlock(index)
            self.steps += s
            self.times += t
            self.values += v
        else:  # the hot path of a file of many small blocks
            self.steps += payload[a:b]
            self.times += payload[b:c]
            self.values += payload[c:]
        self.sizes.append(n)
        self.n += n

    def encode(self, key: str) -> bytes:
        """The run as one block: deltas re-based at each block's start, value planes regrouped.

        Works in place on the run's own buffers, which are of no use afterwards.
        """
        np: Any = sys.modules.get("numpy")
        if np is None and len(self.sizes) >= _NUMPY_BLOCKS:
            import numpy as np
        sizes = [n for n in self.sizes if n]
        if not sizes:  # only empty blocks: one empty block
            return pack(key, 0, b"", b"", b"")
        if np is not None:
            s, t, v = merge_np(np, self.steps, self.times, self.values, sizes)
        else:
            s, t, v = merge_py(self.steps, self.times, self.values, sizes)
        return pack(key, self.n, s, t, v)


_NUMPY_BLOCKS = 1 << 14  # blocks in one run that repay importing numpy to merge them


class _Plan:
    """A compaction's output per key, built in one pass in bounded memory.

    Large blocks stay where they are (a ``_Range`` of the source); runs of small ones are
    merged, a big run in a worker thread while the scan goes on (zlib releases the GIL).
    When more than ``_HELD`` bytes are held, merged blocks move to an anonymous temp file
    and the biggest open runs are cut there.
    """

    def __init__(self, fd: int, directory: Path) -> None:
        self.fd = fd
        self.directory = directory
        self.items: dict[str, list[Item]] = {}  # per key, in order
        self.runs: dict[str, _Run] = {}
        self.blocks_in = 0
        self._held = 0
        self._spill: IO[bytes] | None = None
        self._spilled = 0
        self._pool: ThreadPoolExecutor | None = None
        #: The one run being encoded (bounded memory): its key, its place, and its raw size.
        self._pending: tuple[str, int, Future[bytes], int] | None = None

    @property
    def blocks_out(self) -> int:
        return sum(len(v) for v in self.items.values())

    def add(self, entry: Entry, payload: Buffer | None) -> None:
        key, n = entry[2], entry[3]
        self.blocks_in += 1
        run = self.runs.get(key)
        if run is None or run.n + n > CHUNK or n >= LARGE or payload is None:
            run = self._start(entry, payload)
            if run is None:
                return
        run.add(entry, payload, self.blocks_in - 1)  # type: ignore[arg-type]  # _start saw a payload
        self._held += 24 * n
        if self._held > _HELD:
            self._make_room()

    def _start(self, entry: Entry, payload: Buffer | None) -> _Run | None:
        """End the key's open run; a new one for a small block, None for a large one (kept in place)."""
        offset, end, key, n = entry[0], entry[1], entry[2], entry[3]
        self._end_run(key)
        where = _Range(self.fd, offset, end - offset)
        if n >= LARGE or payload is None:
            self.items.setdefault(key, []).append(where)
            return None
        self.items.setdefault(key, [])
        run = self.runs[key] = _Run(where)
        return run

    def finish(self) -> None:
        for key in list(self.runs):
            self._end_run(key)
        self._settle()

    def _end_run(self, key: str) -> None:
        run = self.runs.pop(key, None)
        if run is None:
            return
        items = self.items[key]
        if len(run.sizes) == 1:
            self._held -= 24 * run.n
            items.append(run.first)
        elif run.n < LARGE:
            self._held -= 24 * run.n
            items.append(self._hold(run.encode(key)))
        else:
            self._settle()
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="labbook-compact")
            future = self._pool.submit(run.encode, key)
            items.append(future)
            self._pending = (key, len(items) - 1, future, 24 * run.n)

    def _settle(self) -> None:
        """Wait for the run being encoded: its raw bytes are freed, its block is held or spilled."""
        if self._pending is None:
            return
        key, index, future, raw = self._pending
        self._pending = None
        self._held -= raw
        self.items[key][index] = self._hold(future.result())

    def _hold(self, block: bytes) -> bytes | _Range:
        if self._spill is None:
            self._held += len(block)
            return block
        return self._to_spill(block)

    def _make_room(self) -> None:
        """Spill the merged blocks held, then cut the biggest runs until half the budget is free."""
        self._settle()
        for items in self.items.values():
            items[:] = [self._to_spill(x) if isinstance(x, bytes) else x for x in items]
        self._held = sum(24 * r.n for r in self.runs.values())
        for key in sorted(self.runs, key=lambda k: self.runs[k].n, reverse=True):
            if self._held <= _HELD // 2:
                break
            self._end_run(key)

    def _to_spill(self, block: bytes) -> _Range:
        if self._spill is None:
            import tempfile

            self._spill = tempfile.TemporaryFile(dir=self.directory, prefix=".compacting-")
        fd = self._spill.fileno()
        write_all(fd, block, self._spilled)
        self._spilled += len(block)
        return _Range(fd, self._spilled - len(block), len(block))

    def write(self, fd: int) -> None:
        """Write the output (after ``finish``: every item is bytes or a range by then)."""
        for items in self.items.values():
            for item in items:
                if isinstance(item, _Range):
                    _copy(item, fd)
                else:
                    write_all(fd, item if isinstance(item, bytes) else item.result())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._spill is not None:
            self._spill.close()


def _copy(item: _Range, fd: int) -> None:
    for at in range(item.offset, item.offset + item.length, WINDOW):
        chunk = pread(item.fd, min(WINDOW, item.offset + item.length - at), at)
        if not chunk:
            raise OSError(errno.EIO, "a series file shrank while it was being compacted")
        write_all(fd, chunk)


def _keep_small(key: str, n: int, size: int) -> int:
    return KEEP if n < LARGE else CHECK


def compact_file(path: Path) -> Compaction:
    """Rewrite a writer file grouped by key, small blocks merged, in bounded memory, atomically.

    One pass checks every block and plans the output, decoding only small blocks; large
    ones are then copied verbatim. A file with any damage is left untouched (rewriting it
    could only lose what a later reader might still recover); a failed write (disk full)
    removes the temporary copy and keeps the original. Never raises OSError: the result
    says what happened.
    """
    try:
        opened = Opened(path)
    except OSError as err:
        return Compaction(path, FAILED, 0, 0, [], err.strerror or str(err))
    with opened as src, GcPaused():
        plan = _Plan(src.fd, path.parent)
        try:
            return _compact(path, src, plan)
        except OSError as err:
            return Compaction(path, FAILED, plan.blocks_in, plan.blocks_in, [], err.strerror or str(err))
        finally:
            plan.close()


def _compact(path: Path, src: Source, plan: _Plan) -> Compaction:
    damage: list[Damage] = []
    seen = 0
    for found in scan(src, path, _keep_small):
        if isinstance(found, Damage):
            damage.append(found)
            continue
        seen += 1
        if not damage:
            try:
                plan.add(*found)
            except BadBlock:
                offset, end, key = found[0][:3]
                damage.append(Damage(path, offset, end - offset, DAMAGED, key, None))
    if damage:
        return Compaction(path, KEPT_DAMAGED, seen, seen, damage, None)
    plan.finish()
    before, after = plan.blocks_in, plan.blocks_out
    if before - after < _MIN_SAVED:
        return Compaction(path, UNCHANGED, before, before, [], None)
    _replace(path, plan)
    return Compaction(path, COMPACTED, before, after, [], None)


def _replace(path: Path, plan: _Plan) -> None:
    """Write the plan to a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    tmp = path.with_suffix(".compacting")  # backups skip *.compacting
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            plan.write(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        mtime = path.stat().st_mtime_ns  # readers order a run's files by it: compaction is no new write
        os.utime(tmp, ns=(mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some filesystems cannot fsync a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
