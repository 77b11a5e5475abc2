"""The on-disk format of metric series: append-only, self-describing, and never silent about damage.

Every writer (one SDK process, the stdout parser of ``lab run``) appends to a file of
its own under ``runs/<uid>/metrics/``, so writers never contend for a lock. A file is a
sequence of blocks; each block holds the points of one metric::

    header  <4sIHHIIII  magic b"LBM1", n points, key length, flags,
                         len(steps), len(times), len(values), crc32 of the payload
    payload key (utf-8) | steps | times | values

steps are int64 and times int64 milliseconds since the epoch, both delta-encoded;
values are float64 with their bytes shuffled (all first bytes, then all second bytes,
...), which lets zlib find the shared exponents. With flag ``COMPRESSED`` each column
is zlib-compressed. NaN and ±Inf are stored bit for bit.

What keeps data from being lost or hidden:

- An append lands whole or not at all: a failed write (a full disk) is truncated away,
  and if even that fails the writer carries on in a fresh file, so a torn block is never
  followed by more blocks.
- A reader that meets bytes that do not add up searches forward for the next intact
  block and goes on from there, reporting every region it skipped as a ``Damage``:
  ``"torn tail"`` when the file ends inside a block (a writer killed mid-write, normal
  after a crash), ``"damaged"`` otherwise.
- Compaction streams through the file in bounded memory, copies large blocks verbatim,
  merges runs of small ones, and never rewrites a file that has any damage.

The entry points: ``read(directory, key=None) -> Reading(series, damage)`` (``read_all``
and ``read_series`` return its intact data alone), ``count_points`` (checksums, no
decoding: for ``lab verify``), ``intact_length`` (to trim a copy of a live file),
``SeriesWriter`` and ``compact_file``, whose ``Compaction`` result carries a one-line
``warning``. Reading skips its work on the blocks of other metrics wherever that costs
nothing, so reading one metric of a many-metric file stays proportional to that metric.

The header is outside the CRC (the format predates these checks), so a header counts
only when its lengths are ones the encoder could have written for its ``n``.

Writing and compaction need only the standard library (``import labbook`` must stay
light); reading uses numpy.
"""

from __future__ import annotations

import errno
import gc
import os
import stat
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from operator import sub
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    import numpy as np

    Ints = Sequence[int] | np.ndarray[Any, Any]
    Floats = Sequence[float] | np.ndarray[Any, Any]

MAGIC = b"LBM1"
HEADER = struct.Struct("<4sIHHIIII")
COMPRESSED = 1
SUFFIX = ".lbm"
TORN = "torn tail"
DAMAGED = "damaged"
#: Most points compaction puts in one merged block.
CHUNK = 1 << 19
#: Blocks of this many points are copied as they are: merging them would not make reads faster.
LARGE = 1 << 16
_MIN_COMPRESS = 16  # below this many points, zlib's own overhead outweighs the gain
_NUMPY_WORTH_IT = 1_000_000  # points in one batch that repay importing numpy
_WINDOW = 1 << 18  # bytes read at a time while scanning: one syscall per window, not per block
_PEEK = 1 << 12  # bytes read for the header of a block after a large one
_HELD = 16 << 20  # bytes compaction holds in memory before moving merged blocks to a temp file
_MIN_SAVED = 8  # compaction is skipped unless it removes at least this many blocks
_MAX_RATIO = 1100  # deflate shrinks at most ~1032:1, so a header claiming more is corrupt
_CHECK_BYTES = 1 << 16  # a read of one key still checks other keys' blocks up to this size
_DECODE_BATCH = 1 << 16  # small blocks decoded together (bounds the index arrays)
_THREADS_FROM = 1 << 21  # points from which decoding is spread over threads
_BIG_ENDIAN = sys.byteorder == "big"

Buffer = bytes | bytearray | memoryview


class Block(NamedTuple):
    key: str
    n: int
    flags: int
    steps: Buffer
    times: Buffer
    values: Buffer


class Damage(NamedTuple):
    """A region of a series file that could not be read.

    ``key`` and ``points`` come from the region's header when that header is plausible,
    else they are None (unknown): the header is not covered by the checksum.
    """

    path: Path
    offset: int
    length: int
    kind: str  # TORN or DAMAGED
    key: str | None
    points: int | None

    def __str__(self) -> str:
        what = "unknown points" if self.points is None else f"{self.points:,} points"
        whose = "of an unknown metric" if self.key is None else f"of {self.key!r}"
        return f"{self.path}: {self.kind}, {self.length:,} bytes at offset {self.offset:,} ({what} {whose})"


class Series(NamedTuple):
    """One metric's points in logging order; ``times`` are seconds since the epoch."""

    steps: np.ndarray[Any, Any]
    times: np.ndarray[Any, Any]
    values: np.ndarray[Any, Any]


class Reading(NamedTuple):
    """Every intact point of a run's series, and every region that could not be read."""

    series: dict[str, Series]
    damage: list[Damage]


# -- encoding --------------------------------------------------------------------


def _delta(xs: Sequence[int]) -> array[int]:
    out = array("q", xs[:1])
    out.extend(map(sub, xs[1:], xs[:-1]))
    return out


def _shuffle(raw: bytes, width: int = 8) -> bytes:
    view = memoryview(raw)
    return b"".join(view[i::width].tobytes() for i in range(width))


def _columns_py(steps: Sequence[int], times_ms: Sequence[int], values: Sequence[float]) -> tuple[bytes, ...]:
    return _delta(steps).tobytes(), _delta(times_ms).tobytes(), _shuffle(array("d", values).tobytes())


def _columns_np(np: Any, steps: Any, times_ms: Any, values: Any) -> tuple[bytes, ...]:
    zero = np.zeros(1, dtype="<i8")
    s = np.diff(np.asarray(steps, dtype="<i8"), prepend=zero)
    t = np.diff(np.asarray(times_ms, dtype="<i8"), prepend=zero)
    v = np.asarray(values, dtype="<f8")
    return s.tobytes(), t.tobytes(), v.view(np.uint8).reshape(len(v), 8).T.tobytes()


def to_ms(times: Any) -> Any:
    """Seconds since the epoch → integer milliseconds (an array in, an array out)."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(times, np.ndarray):
        return (times * 1000.0).astype("<i8")
    return list(map(int, map((1000.0).__mul__, times)))


def _pack(key: str, n: int, s: Buffer, t: Buffer, v: Buffer) -> bytes:
    """One block from raw columns, compressed when that pays."""
    kb = key.encode("utf-8")
    flags = 0
    if n >= _MIN_COMPRESS:
        s, t, v = zlib.compress(s, 1), zlib.compress(t, 1), zlib.compress(v, 1)
        flags |= COMPRESSED
    crc = zlib.crc32(v, zlib.crc32(t, zlib.crc32(s, zlib.crc32(kb))))
    return b"".join((HEADER.pack(MAGIC, n, len(kb), flags, len(s), len(t), len(v), crc), kb, s, t, v))


def encode_block(key: str, steps: Ints, times_ms: Ints, values: Floats) -> bytes:
    """Encode one metric's points as a block ready to append.

    Uses numpy when the process has already imported it (or the batch is large enough
    to repay the import); otherwise the standard library, so small runs start fast.
    """
    n = len(values)
    np = sys.modules.get("numpy")
    if np is None and n >= _NUMPY_WORTH_IT:
        import numpy as np
    if np is not None:
        s, t, v = _columns_np(np, steps, times_ms, values)
    else:
        s, t, v = _columns_py(steps, times_ms, values)  # type: ignore[arg-type]  # no numpy: no arrays
    return _pack(key, n, s, t, v)


# -- bounded reads of a file -------------------------------------------------------


def _pread(fd: int, length: int, pos: int) -> bytes:
    """``length`` bytes at ``pos`` (fewer at the end of the file); one pread returns at most ~2 GB."""
    data = os.pread(fd, length, pos)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length and (more := os.pread(fd, length - got, pos + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class _Source:
    """A file read through a sliding window: bounded memory, one syscall per window, not per block.

    Built over bytes (``fd`` -1), the window is the whole buffer and nothing is read.
    """

    def __init__(self, fd: int, size: int, data: bytes = b"") -> None:
        self.fd = fd
        self.size = size
        self.buf = data
        self.view = memoryview(data)
        self.base = 0  # file offset of buf[0]
        self.keys: dict[bytes, str] = {}  # decoded once per file, not once per block

    def _fill(self, pos: int, length: int) -> None:
        """Move the window to ``pos``. After a jump past it (a large block skipped, or read on
        its own), read only a header's worth: the next block is likely large too."""
        want = _WINDOW if pos <= self.base + len(self.buf) else _PEEK
        self.buf = _pread(self.fd, min(max(want, length), self.size - pos), pos)
        self.view = memoryview(self.buf)
        self.base = pos

    def at(self, pos: int, length: int) -> int:
        """Where [pos, pos + length) starts in ``buf``, moving the window there if need be;
        -1 when it is too long for the window (the caller checks it lies inside the file)."""
        i = pos - self.base
        if i < 0 or i + length > len(self.buf):
            if length > _WINDOW // 2:
                return -1
            self._fill(pos, length)
            i = 0
        return i

    def read(self, pos: int, length: int) -> Buffer:
        i = self.at(pos, length)
        return _pread(self.fd, length, pos) if i < 0 else self.view[i : i + length]

    def key(self, pos: int, length: int) -> str | None:
        raw = bytes(self.read(pos, length))
        key = self.keys.get(raw)
        if key is None:
            try:
                key = self.keys[raw] = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return key

    def crc(self, pos: int, length: int) -> int:
        """The CRC-32 of [pos, pos + length), read a window at a time."""
        i = self.at(pos, length)
        if i >= 0:
            return zlib.crc32(self.view[i : i + length])
        crc = 0
        for at in range(pos, pos + length, _WINDOW):
            crc = zlib.crc32(_pread(self.fd, min(_WINDOW, pos + length - at), at), crc)
        return crc

    def find(self, pattern: bytes, pos: int) -> int:
        """The offset of the next ``pattern`` at or after ``pos``, or -1."""
        while self.size - pos >= len(pattern):
            i = self.at(pos, len(pattern))
            found = self.buf.find(pattern, i)
            if found >= 0:
                return self.base + found
            pos = self.base + len(self.buf) - len(pattern) + 1
        return -1


class _GcPaused:
    """Pause the cyclic collector while a scan allocates a few acyclic objects per block;
    otherwise it walks all of them again and again (a file of many blocks reads 2x slower)."""

    def __enter__(self) -> None:
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was:
            gc.enable()


class _Opened:
    """A series file opened for reading, as a ``_Source``; closes its descriptor on exit."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def __enter__(self) -> _Source:
        return _Source(self.fd, os.fstat(self.fd).st_size)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


# -- scanning: intact blocks, and damage between them --------------------------------

#: An intact block: (offset, end, key, n, flags, key length, len(steps), len(times)).
#: A plain tuple: a scan makes one per block, and a NamedTuple costs 8x more to build.
Entry = tuple[int, int, str, int, int, int, int, int]
Found = tuple[Entry, Buffer | None]  # the payload, when the policy keeps it
_SKIP, _CHECK, _KEEP = 0, 1, 2  # what a scan does with a payload: trust it, verify it, return it
Policy = Callable[[str, int, int], int]  # (key, n, payload size) -> _SKIP / _CHECK / _KEEP
_Head = tuple[int, int, int, int, int, int, int]  # n, klen, flags, ls, lt, lv, crc
_unpack = HEADER.unpack_from


def _check_all(key: str, n: int, size: int) -> int:
    return _CHECK


def _keep_all(key: str, n: int, size: int) -> int:
    return _KEEP


def _plausible(n: int, flags: int, ls: int, lt: int, lv: int) -> bool:
    """Whether the encoder could have written these lengths for ``n`` points."""
    if flags == 0:
        return ls == lt == lv == 8 * n
    shortest = min(ls, lt, lv)
    return flags == COMPRESSED and shortest >= 8 and 8 * n <= _MAX_RATIO * shortest


def _header(src: _Source, pos: int) -> _Head | None:
    """The fields of a plausible header at ``pos``, else None."""
    if pos + HEADER.size > src.size:
        return None
    i = src.at(pos, HEADER.size)  # before reading src.buf: it may move the window
    magic, n, klen, flags, ls, lt, lv, crc = _unpack(src.buf, i)
    if magic != MAGIC or not _plausible(n, flags, ls, lt, lv):
        return None
    return n, klen, flags, ls, lt, lv, crc


def _block_end(pos: int, head: _Head) -> int:
    return pos + HEADER.size + head[1] + head[3] + head[4] + head[5]


def _block_at(src: _Source, pos: int, policy: Policy) -> Found | None:
    """The block at ``pos`` (with its payload if the policy keeps it), or None if it does not add up.

    This is the definition of an intact block; ``_window_blocks`` is a faster copy of it.
    """
    head = _header(src, pos)
    if head is None:
        return None
    n, klen, flags, ls, lt, _, crc = head
    body, end = pos + HEADER.size, _block_end(pos, head)
    if end > src.size or (key := src.key(body, klen)) is None:
        return None
    payload = None
    mode = policy(key, n, end - body)
    if mode == _KEEP:
        payload = src.read(body, end - body)
        if zlib.crc32(payload) != crc:
            return None
    elif mode == _CHECK and src.crc(body, end - body) != crc:
        return None
    return (pos, end, key, n, flags, klen, ls, lt), payload


def _window_blocks(src: _Source, pos: int, policy: Policy) -> Generator[Found, None, int]:
    """The intact blocks from ``pos`` that lie wholly in the current window; returns where it
    stopped. The hot loop of every scan: a file of many small blocks spends its time here."""
    if pos + HEADER.size > src.size:
        return pos
    i = src.at(pos, HEADER.size)
    buf, view, base, keys = src.buf, src.view, src.base, src.keys
    crc32, last = zlib.crc32, len(buf) - HEADER.size
    while i <= last:
        magic, n, klen, flags, ls, lt, lv, crc = _unpack(buf, i)
        body = i + HEADER.size
        end = body + klen + ls + lt + lv
        if magic != MAGIC or body + klen > len(buf) or not _plausible(n, flags, ls, lt, lv):
            break
        key = keys.get(buf[body : body + klen])
        if key is None:  # a key not seen yet: the general path decodes it
            break
        mode = policy(key, n, end - body)
        if end > len(buf):  # only a block that need not be read can be passed over from here
            if mode != _SKIP or base + end > src.size:
                break
            payload = None
        else:
            payload = view[body:end] if mode == _KEEP else None
            if mode != _SKIP and crc32(view[body:end] if payload is None else payload) != crc:
                break
        yield (base + i, base + end, key, n, flags, klen, ls, lt), payload
        i = end
    return base + i


def _next_block(src: _Source, pos: int) -> int:
    """The offset of the first intact block at or after ``pos``, or -1."""
    while (pos := src.find(MAGIC, pos)) >= 0:
        if _block_at(src, pos, _check_all) is not None:
            return pos
        pos += 1
    return -1


def _runs_past_end(src: _Source, pos: int, head: _Head | None) -> bool:
    """Whether the bytes at ``pos`` begin a block that the file ends inside."""
    rest = src.size - pos
    if rest < HEADER.size:
        start = min(rest, len(MAGIC))
        return bytes(src.read(pos, start)) == MAGIC[:start]
    return head is not None and _block_end(pos, head) > src.size


def _damage(src: _Source, path: Path, pos: int, stop: int) -> Iterator[Damage]:
    """Name the unreadable region [pos, stop): one record per block while the headers chain.

    Only a piece that reaches the end of the file and begins a block the file ends
    inside is a torn tail; anything else is damage.
    """
    while pos < stop:
        head = _header(src, pos)
        end = stop if head is None else min(stop, _block_end(pos, head))
        key = points = None
        if head is not None:
            points = head[0]
            if pos + HEADER.size + head[1] <= src.size:
                key = src.key(pos + HEADER.size, head[1])
        torn = end == src.size and _runs_past_end(src, pos, head)
        yield Damage(path, pos, end - pos, TORN if torn else DAMAGED, key, points)
        pos = end


def _scan(src: _Source, path: Path, policy: Policy) -> Iterator[Found | Damage]:
    """Every intact block in file order, and a ``Damage`` for each region between them."""
    pos = 0
    while pos < src.size:
        pos = yield from _window_blocks(src, pos, policy)
        if pos >= src.size:
            return
        found = _block_at(src, pos, policy)  # across the window's edge, large, a new key, or bad
        if found is not None:
            yield found
            pos = found[0][1]
            continue
        nxt = _next_block(src, pos + 1)
        yield from _damage(src, path, pos, src.size if nxt < 0 else nxt)
        if nxt < 0:
            return
        pos = nxt


def _scan_path(path: Path, policy: Policy) -> Iterator[Found | Damage]:
    """``_scan`` of one file; nothing for a file removed since it was listed."""
    try:
        opened = _Opened(path)
    except FileNotFoundError:
        return
    with opened as src:
        yield from _scan(src, path, policy)


def _columns(entry: Entry, payload: Buffer) -> tuple[memoryview, memoryview, memoryview]:
    """The (maybe compressed) steps, times and values of a block, as views of its payload."""
    view = memoryview(payload)
    a = entry[5]
    b = a + entry[6]
    c = b + entry[7]
    return view[a:b], view[b:c], view[c:]


def _to_block(entry: Entry, payload: Buffer, own: bool = False) -> Block:
    """A ``Block`` viewing ``payload``, or (``own``) holding copies, which do not keep a
    scan's window alive."""
    s, t, v = _columns(entry, payload)
    if own:
        return Block(entry[2], entry[3], entry[4], s.tobytes(), t.tobytes(), v.tobytes())
    return Block(entry[2], entry[3], entry[4], s, t, v)


# -- reading ---------------------------------------------------------------------


def iter_blocks(data: bytes) -> Iterator[Block]:
    """Yield the intact blocks of a file's bytes, skipping any damage between them."""
    for found in _scan(_Source(-1, len(data), data), Path(), _keep_all):
        if not isinstance(found, Damage) and found[1] is not None:
            yield _to_block(found[0], found[1])


def series_files(directory: Path) -> list[Path]:
    """The writer files of one run, oldest first (regular files only: reading a FIFO would hang)."""
    if not directory.is_dir():
        return []
    files = []
    for p in directory.iterdir():
        if p.name.endswith(SUFFIX):
            try:
                st = p.stat()
            except FileNotFoundError:  # removed since it was listed
                continue
            if stat.S_ISREG(st.st_mode):
                files.append((st.st_mtime_ns, p.name, p))
    return [p for _, _, p in sorted(files)]


def _reading_policy(key: str | None) -> Policy:
    """Keep the wanted blocks; check the others when that costs no extra read, else skip them.

    Skipping large blocks of other keys keeps reading one metric of a many-metric file
    proportional to that metric; ``read(directory)`` and ``count_points`` check everything.
    """

    def policy(k: str, n: int, size: int) -> int:
        if key is None or k == key:
            return _KEEP
        return _CHECK if size <= _CHECK_BYTES else _SKIP

    return policy


Located = tuple[Path, Entry, Block]


def _read_file(path: Path, key: str | None, blocks: dict[str, list[Located]], damage: list[Damage]) -> None:
    for found in _scan_path(path, _reading_policy(key)):
        if isinstance(found, Damage):
            damage.append(found)
        elif (payload := found[1]) is not None:
            entry = found[0]
            block = _to_block(entry, payload, own=isinstance(payload, memoryview))  # not the window
            blocks.setdefault(entry[2], []).append((path, entry, block))


def _located_blocks(directory: Path, key: str | None) -> tuple[dict[str, list[Located]], list[Damage], int]:
    blocks: dict[str, list[Located]] = {}
    damage: list[Damage] = []
    files = series_files(directory)
    with _GcPaused():
        for path in files:
            _read_file(path, key, blocks, damage)
    return blocks, damage, len(files)


def read(directory: Path, key: str | None = None) -> Reading:
    """Every intact point of every metric (or only ``key``'s) across every writer, in time
    order, with a ``Damage`` for each region that could not be read."""
    import numpy as np

    located, damage, files = _located_blocks(directory, key)
    out = {}
    for name, items in located.items():
        s = _decode_located(items, damage)
        if files > 1 and not _ordered(np, s.times):  # a writer's own segments already are
            order = np.argsort(s.times, kind="stable")
            s = Series(s.steps[order], s.times[order], s.values[order])
        out[name] = s
    return Reading(out, damage)


def _ordered(np: Any, times: Any) -> bool:
    return len(times) < 2 or bool(np.all(times[1:] >= times[:-1]))


def _decode_located(items: list[Located], damage: list[Damage]) -> Series:
    """Decode, setting aside (as damage) blocks whose columns are not as long as their header says."""
    while True:
        try:
            return decode([b for _, _, b in items])
        except _BadBlock as bad:
            path, entry, _ = items.pop(bad.index)
            damage.append(Damage(path, entry[0], entry[1] - entry[0], DAMAGED, entry[2], None))


def read_blocks(directory: Path, key: str | None = None) -> dict[str, list[Block]]:
    """Group the intact blocks of every writer file by metric key."""
    located, _, _ = _located_blocks(directory, key)
    return {name: [b for _, _, b in items] for name, items in located.items()}


def read_all(directory: Path, key: str | None = None) -> dict[str, Series]:
    """Every metric's intact points (or only ``key``'s) across every writer, merged in time order."""
    return read(directory, key).series


def read_series(directory: Path, key: str) -> Series | None:
    """All intact points of ``key`` across every writer, or None if it was never logged."""
    return read(directory, key).series.get(key)


def count_points(directory: Path) -> tuple[dict[str, int], list[Damage]]:
    """Points per metric in the intact blocks of every writer, and the damage; checks every
    checksum but decompresses nothing (a header's ``n`` is trusted once its payload checks)."""
    counts: dict[str, int] = {}
    damage: list[Damage] = []
    with _GcPaused():
        for path in series_files(directory):
            for found in _scan_path(path, _check_all):
                if isinstance(found, Damage):
                    damage.append(found)
                else:
                    key, n = found[0][2], found[0][3]
                    counts[key] = counts.get(key, 0) + n
    return counts, damage


def list_keys(directory: Path) -> list[str]:
    """The metrics with at least one intact block, in name order."""
    return sorted(count_points(directory)[0])


def intact_length(path: Path) -> int:
    """The file's length without its torn tail, if it has one: a copy of a live file trimmed
    there reads as the original does. Damage elsewhere is kept, so that readers of the copy
    still name it."""
    last: Damage | None = None
    with _Opened(path) as src, _GcPaused():
        for found in _scan(src, path, _check_all):
            if isinstance(found, Damage):
                last = found
        size = src.size
    return last.offset if last is not None and last.kind == TORN else size


# -- decoding --------------------------------------------------------------------


class _BadBlock(ValueError):
    """A block whose columns are not as long as its header says (its ``n`` was corrupted)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"block {index} holds fewer or more points than its header says")
        self.index = index


def _raw(block: Block, index: int) -> tuple[Buffer, Buffer, Buffer]:
    """The block's columns decompressed, checked against its ``n``."""
    if not block.flags:  # their lengths were checked against n with the header
        return block.steps, block.times, block.values
    cols = zlib.decompress(block.steps), zlib.decompress(block.times), zlib.decompress(block.values)
    if any(len(c) != 8 * block.n for c in cols):
        raise _BadBlock(index)
    return cols


def _batches(blocks: Sequence[Block]) -> Iterator[tuple[int, int, int]]:
    """(first block, end block, first point) of the groups decoded together: a large block
    alone, consecutive small ones up to ``_DECODE_BATCH`` points."""
    start = point = count = 0
    for i, b in enumerate(blocks):
        if i > start and count + b.n > _DECODE_BATCH:
            yield start, i, point
            start, point, count = i, point + count, 0
        count += b.n
    if start < len(blocks):
        yield start, len(blocks), point


def _undelta_into(out: np.ndarray[Any, Any], chunks: list[Buffer], lengths: list[int]) -> None:
    """Running sums of the deltas into ``out``; into float seconds (from ms) if ``out`` is float."""
    import numpy as np

    d = np.frombuffer(chunks[0] if len(chunks) == 1 else b"".join(chunks), dtype="<i8")
    acc = out if out.dtype.kind == "i" else np.empty(len(d), dtype="<i8")
    np.cumsum(d, out=acc)
    if len(lengths) > 1:  # each block's first delta is absolute: undo the carry from the blocks before
        starts = np.cumsum(lengths)[:-1]
        acc -= np.repeat(np.concatenate(([0], acc[starts - 1])), lengths)
    if acc is not out:
        np.divide(acc, 1000.0, out=out)


def _unshuffle_into(out: np.ndarray[Any, Any], chunks: list[Buffer], lengths: list[int]) -> None:
    import numpy as np

    u8 = out.view(np.uint8).reshape(-1, 8)
    if len(u8) >= 64 * len(chunks):  # large blocks: each on its own, a plane at a time
        at = 0
        for chunk, n in zip(chunks, lengths, strict=True):
            planes = np.frombuffer(chunk, dtype=np.uint8).reshape(8, n)
            for i in range(8):  # twice as fast as one transposing copy
                u8[at : at + n, i] = planes[i]
            at += n
        return
    raw = np.frombuffer(b"".join(chunks), dtype=np.uint8)  # many small blocks: one gather
    sizes = np.asarray(lengths)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)  # each point's block's first point
    plane0 = 7 * first + np.arange(len(u8))  # 8 * first + (point - first)
    u8[:] = raw[plane0[:, None] + np.repeat(sizes, sizes)[:, None] * np.arange(8)]


def _decode_batch(
    out: tuple[np.ndarray[Any, Any], ...], blocks: Sequence[Block], batch: tuple[int, int, int]
) -> None:
    lo, hi, point = batch
    group = [(i, b) for i, b in enumerate(blocks[lo:hi], lo) if b.n]  # an empty block breaks the carries
    if not group:
        return
    cols = [_raw(b, i) for i, b in group]
    lengths = [b.n for _, b in group]
    span = slice(point, point + sum(lengths))
    _undelta_into(out[0][span], [c[0] for c in cols], lengths)
    _undelta_into(out[1][span], [c[1] for c in cols], lengths)
    _unshuffle_into(out[2][span], [c[2] for c in cols], lengths)


def decode(blocks: Sequence[Block], ms: bool = False) -> Series:
    """Turn the blocks of one metric (in order) into arrays (times in ms if ``ms``).

    Each group of blocks is decoded straight into its slice of the result; a big series
    is spread over threads (zlib and numpy's copies release the GIL).
    """
    import numpy as np

    total = sum(b.n for b in blocks)
    times = np.empty(total, dtype="<i8" if ms else "<f8")
    out = (np.empty(total, dtype="<i8"), times, np.empty(total, dtype="<f8"))
    batches = list(_batches(blocks))
    if total >= _THREADS_FROM and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda b: _decode_batch(out, blocks, b), batches))
    else:
        for batch in batches:
            _decode_batch(out, blocks, batch)
    return Series(*out)


# -- writing ---------------------------------------------------------------------


def _write_all(fd: int, data: Buffer, offset: int | None = None) -> None:
    """Write every byte: on a full disk ``write`` returns a short count before it fails."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[done:]
        if offset is not None:
            offset += done


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
        from labbook.store.compactor import SEGMENT_BYTES, Background

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
            _write_all(self._fd, data)
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


# -- compaction ------------------------------------------------------------------

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
                raise _BadBlock(index)
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
            return _pack(key, 0, b"", b"", b"")
        if np is not None:
            s, t, v = _merge_np(np, self.steps, self.times, self.values, sizes)
        else:
            s, t, v = _merge_py(self.steps, self.times, self.values, sizes)
        return _pack(key, self.n, s, t, v)


_NUMPY_BLOCKS = 1 << 14  # blocks in one run that repay importing numpy to merge them


def _wrap(x: int) -> int:
    """``x`` as int64 arithmetic leaves it (numpy's cumsum on read wraps the same way)."""
    return (x + (1 << 63)) % (1 << 64) - (1 << 63)


def _rebase_py(raw: bytearray, sizes: list[int]) -> Buffer:
    """Make each block's first delta (an absolute value) relative to the previous block's last value."""
    if _BIG_ENDIAN:
        swapped: array[int] = array("q", raw)
        swapped.byteswap()
        d = memoryview(swapped)
    else:
        d = memoryview(raw).cast("q")
    pos = prev = 0
    for n in sizes:
        last = _wrap(sum(d[pos : pos + n]))  # the block's last value: its deltas sum to it
        if pos:
            d[pos] = _wrap(d[pos] - prev)
        prev, pos = last, pos + n
    if _BIG_ENDIAN:
        swapped.byteswap()
        return swapped.tobytes()
    return raw


def _planes_py(raw: bytearray, sizes: list[int]) -> Buffer:
    """Values shuffled per block → shuffled across the run: plane i of every block, then i + 1."""
    total = sum(sizes)
    out = bytearray(8 * total)
    pos = start = 0
    for n in sizes:
        for i in range(8):
            at = i * total + start
            out[at : at + n] = raw[pos + i * n : pos + (i + 1) * n]
        pos, start = pos + 8 * n, start + n
    return out


def _merge_py(s: bytearray, t: bytearray, v: bytearray, sizes: list[int]) -> tuple[Buffer, ...]:
    return _rebase_py(s, sizes), _rebase_py(t, sizes), _planes_py(v, sizes)


def _merge_np(np: Any, s: bytearray, t: bytearray, v: bytearray, sizes: list[int]) -> tuple[Buffer, ...]:
    """``_merge_py`` vectorised."""
    n = np.asarray(sizes, dtype=np.int64)
    starts = np.cumsum(n) - n
    for raw in (s, t):
        d = np.frombuffer(raw, dtype="<i8")  # a writable view of the bytearray
        if len(n) > 1:
            d[starts[1:]] -= np.add.reduceat(d, starts)[:-1]
    return s, t, _planes_np(np, v, n, starts)


def _planes_np(np: Any, raw: bytearray, n: Any, starts: Any) -> memoryview:
    u8 = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty((8, int(n.sum())), dtype=np.uint8)
    lo = 0
    while lo < len(n):  # a batch of blocks at a time bounds the index arrays
        hi = max(lo + 1, int(np.searchsorted(starts, starts[lo] + _DECODE_BATCH)))
        a, b = int(starts[lo]), int(starts[hi - 1] + n[hi - 1])
        count = n[lo:hi]
        plane0 = 7 * np.repeat(starts[lo:hi], count) + np.arange(a, b)  # see _unshuffle_into
        size = np.repeat(count, count)
        for i in range(8):
            out[i, a:b] = u8[plane0 + i * size]
        lo = hi
    return memoryview(out).cast("B")


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
        _write_all(fd, block, self._spilled)
        self._spilled += len(block)
        return _Range(fd, self._spilled - len(block), len(block))

    def write(self, fd: int) -> None:
        """Write the output (after ``finish``: every item is bytes or a range by then)."""
        for items in self.items.values():
            for item in items:
                if isinstance(item, _Range):
                    _copy(item, fd)
                else:
                    _write_all(fd, item if isinstance(item, bytes) else item.result())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._spill is not None:
            self._spill.close()


def _copy(item: _Range, fd: int) -> None:
    for at in range(item.offset, item.offset + item.length, _WINDOW):
        chunk = _pread(item.fd, min(_WINDOW, item.offset + item.length - at), at)
        if not chunk:
            raise OSError(errno.EIO, "a series file shrank while it was being compacted")
        _write_all(fd, chunk)


def _keep_small(key: str, n: int, size: int) -> int:
    return _KEEP if n < LARGE else _CHECK


def compact_file(path: Path) -> Compaction:
    """Rewrite a writer file grouped by key, small blocks merged, in bounded memory, atomically.

    One pass checks every block and plans the output, decoding only small blocks; large
    ones are then copied verbatim. A file with any damage is left untouched (rewriting it
    could only lose what a later reader might still recover); a failed write (disk full)
    removes the temporary copy and keeps the original. Never raises OSError: the result
    says what happened.
    """
    try:
        opened = _Opened(path)
    except OSError as err:
        return Compaction(path, FAILED, 0, 0, [], err.strerror or str(err))
    with opened as src, _GcPaused():
        plan = _Plan(src.fd, path.parent)
        try:
            return _compact(path, src, plan)
        except OSError as err:
            return Compaction(path, FAILED, plan.blocks_in, plan.blocks_in, [], err.strerror or str(err))
        finally:
            plan.close()


def _compact(path: Path, src: _Source, plan: _Plan) -> Compaction:
    damage: list[Damage] = []
    seen = 0
    for found in _scan(src, path, _keep_small):
        if isinstance(found, Damage):
            damage.append(found)
            continue
        seen += 1
        if not damage:
            try:
                plan.add(*found)
            except _BadBlock:
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
