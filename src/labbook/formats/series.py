"""The block format of metric series: encoding and decoding, pure, no file I/O.

A series file (``store/series/``) is a sequence of blocks; each block holds the points
of one metric::

    header  <4sIHHIIII  magic b"LBM1", n points, key length, flags,
                         len(steps), len(times), len(values), crc32 of the payload
    payload key (utf-8) | steps | times | values

steps are int64 and times int64 milliseconds since the epoch, both delta-encoded;
values are float64 with their bytes shuffled (all first bytes, then all second bytes,
...), which lets zlib find the shared exponents. With flag ``COMPRESSED`` each column
is zlib-compressed. NaN and ±Inf are stored bit for bit.

The header is outside the CRC (the format predates these checks), so a header counts
only when its lengths are ones the encoder could have written for its ``n``
(``plausible``).

Compaction merges consecutive small blocks of one key through ``merge_py`` /
``merge_np``: deltas re-based at each block's start, value planes regrouped.

Encoding needs only the standard library (``import labbook`` must stay light);
decoding uses numpy.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator, Sequence
from operator import sub
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

    Ints = Sequence[int] | np.ndarray[Any, Any]
    Floats = Sequence[float] | np.ndarray[Any, Any]

MAGIC = b"LBM1"
HEADER = struct.Struct("<4sIHHIIII")
COMPRESSED = 1
_MIN_COMPRESS = 16  # below this many points, zlib's own overhead outweighs the gain
_NUMPY_WORTH_IT = 1_000_000  # points in one batch that repay importing numpy
_MAX_RATIO = 1100  # deflate shrinks at most ~1032:1, so a header claiming more is corrupt
_DECODE_BATCH = 1 << 16  # small blocks decoded together (bounds the index arrays)
_THREADS_FROM = 1 << 21  # points from which decoding is spread over threads
_POPULATE_FROM = 4 << 20  # bytes of a column from which its pages are mapped up front
_BIG_ENDIAN = sys.byteorder == "big"


Buffer = bytes | bytearray | memoryview


class Block(NamedTuple):
    key: str
    n: int
    flags: int
    steps: Buffer
    times: Buffer
    values: Buffer


class Series(NamedTuple):
    """One metric's points in logging order; ``times`` are seconds since the epoch."""

    steps: np.ndarray[Any, Any]
    times: np.ndarray[Any, Any]
    values: np.ndarray[Any, Any]


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


def pack(key: str, n: int, s: Buffer, t: Buffer, v: Buffer) -> bytes:
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
    return pack(key, n, s, t, v)


def plausible(n: int, flags: int, ls: int, lt: int, lv: int) -> bool:
    """Whether the encoder could have written these lengths for ``n`` points."""
    if flags == 0:
        return ls == lt == lv == 8 * n
    shortest = min(ls, lt, lv)
    return flags == COMPRESSED and shortest >= 8 and 8 * n <= _MAX_RATIO * shortest


class BadBlock(ValueError):
    """A block whose columns are not as long as its header says (its ``n`` was corrupted)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"block {index} holds fewer or more points than its header says")
        self.index = index


def _column(group: list[tuple[int, Block]], c: int) -> list[Buffer]:
    """Column ``c`` (steps, times, values) of every block in the group, decompressed and
    checked against its ``n``.

    One column at a time, so that a single buffer of a block's size is alive at once: the
    allocator then reuses it for the next block instead of returning it to the kernel and
    taking fresh, faulting pages (three live buffers of 2 MB pass its trim threshold).
    """
    out: list[Buffer] = []
    for index, block in group:
        raw: Buffer = (block.steps, block.times, block.values)[c]
        if block.flags:  # uncompressed lengths were checked against n with the header
            raw = zlib.decompress(raw, bufsize=8 * block.n)
            if len(raw) != 8 * block.n:
                raise BadBlock(index)
        out.append(raw)
    return out


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
    acc = out if out.dtype.kind == "i" else out.view("<i8")  # float seconds: summed as int ms in place
    np.cumsum(d, out=acc)
    if len(lengths) > 1:  # each block's first delta is absolute: undo the carry from the blocks before
        starts = np.cumsum(lengths)[:-1]
        acc -= np.repeat(np.concatenate(([0], acc[starts - 1])), lengths)
    if acc is not out:
        np.divide(acc, 1000.0, out=out)  # element by element over the same memory: no copy


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
    lengths = [b.n for _, b in group]
    span = slice(point, point + sum(lengths))
    _undelta_into(out[0][span], _column(group, 0), lengths)
    _undelta_into(out[1][span], _column(group, 1), lengths)
    _unshuffle_into(out[2][span], _column(group, 2), lengths)


def _empty(n: int, dtype: str) -> np.ndarray[Any, Any]:
    """A column of the result; a large one with its pages mapped in one call (Linux).

    A fresh process pays for every page it first touches. numpy asks for transparent huge
    pages for large arrays, which is fast when the kernel has them free and stalls while it
    compacts memory when it has not: 0.06-0.95 s to first touch 240 MB (10M points) on the
    same machine. Mapping the 4 KiB pages up front (``MAP_POPULATE``) costs 0.15 s every time.
    """
    import numpy as np

    if 8 * n < _POPULATE_FROM or not hasattr(mmap, "MAP_POPULATE"):
        return np.empty(n, dtype=dtype)
    area = mmap.mmap(-1, 8 * n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
    return np.frombuffer(area, dtype=dtype)  # the array keeps the mapping, unmapped with it


def decode(blocks: Sequence[Block], ms: bool = False) -> Series:
    """Turn the blocks of one metric (in order) into arrays (times in ms if ``ms``).

    Each group of blocks is decoded straight into its slice of the result; a big series
    is spread over threads (zlib and numpy's copies release the GIL).
    """
    total = sum(b.n for b in blocks)
    out = (_empty(total, "<i8"), _empty(total, "<i8" if ms else "<f8"), _empty(total, "<f8"))
    batches = list(_batches(blocks))
    if total >= _THREADS_FROM and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda b: _decode_batch(out, blocks, b), batches))
    else:
        for batch in batches:
            _decode_batch(out, blocks, batch)
    return Series(*out)


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


def merge_py(s: bytearray, t: bytearray, v: bytearray, sizes: list[int]) -> tuple[Buffer, ...]:
    return _rebase_py(s, sizes), _rebase_py(t, sizes), _planes_py(v, sizes)


def merge_np(np: Any, s: bytearray, t: bytearray, v: bytearray, sizes: list[int]) -> tuple[Buffer, ...]:
    """``merge_py`` vectorised."""
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
