"""The on-disk format of metric series: append-only, self-describing, crash-tolerant.

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

A block is written with one ``write`` call. A reader stops at the first block whose
length or checksum does not add up: that can only be the tail of a writer killed
mid-write, and everything before it is intact.

Writing needs only the standard library (``import labbook`` must stay light);
reading uses numpy.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator, Sequence
from operator import sub
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"LBM1"
HEADER = struct.Struct("<4sIHHIIII")
COMPRESSED = 1
SUFFIX = ".lbm"
_MIN_COMPRESS = 16  # below this many points, zlib's own overhead outweighs the gain
_NUMPY_WORTH_IT = 1_000_000  # points in one batch that repay importing numpy


class Block(NamedTuple):
    key: str
    n: int
    flags: int
    steps: bytes
    times: bytes
    values: bytes


def _delta(xs: Sequence[int]) -> array:
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


def encode_block(key: str, steps: Sequence[int], times_ms: Sequence[int], values: Sequence[float]) -> bytes:
    """Encode one metric's points as a block ready to append.

    Uses numpy when the process has already imported it (or the batch is large enough
    to repay the import); otherwise the standard library, so small runs start fast.
    """
    n = len(values)
    kb = key.encode("utf-8")
    np = sys.modules.get("numpy")
    if np is None and n >= _NUMPY_WORTH_IT:
        import numpy as np
    s, t, v = (
        _columns_np(np, steps, times_ms, values) if np is not None else _columns_py(steps, times_ms, values)
    )
    flags = 0
    if n >= _MIN_COMPRESS:
        s, t, v = zlib.compress(s, 1), zlib.compress(t, 1), zlib.compress(v, 1)
        flags |= COMPRESSED
    payload = kb + s + t + v
    head = HEADER.pack(MAGIC, n, len(kb), flags, len(s), len(t), len(v), zlib.crc32(payload))
    return head + payload


def iter_blocks(data: bytes) -> Iterator[Block]:
    """Yield the intact blocks of a file's bytes, stopping at a torn tail."""
    pos, end = 0, len(data)
    view = memoryview(data)
    while pos + HEADER.size <= end:
        magic, n, klen, flags, ls, lt, lv, crc = HEADER.unpack_from(data, pos)
        body = pos + HEADER.size
        stop = body + klen + ls + lt + lv
        if magic != MAGIC or stop > end or zlib.crc32(view[body:stop]) != crc:
            return
        key = bytes(view[body : body + klen]).decode("utf-8")
        a = body + klen
        yield Block(key, n, flags, view[a : a + ls], view[a + ls : a + ls + lt], view[a + ls + lt : stop])
        pos = stop


def _column(raw: bytes, flags: int) -> bytes:
    return zlib.decompress(raw) if flags & COMPRESSED else bytes(raw)


class Series(NamedTuple):
    """One metric's points in logging order; ``times`` are seconds since the epoch."""

    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray


def _undelta(chunks: list[bytes], lengths: list[int]) -> np.ndarray:
    import numpy as np

    d = np.frombuffer(b"".join(chunks), dtype="<i8")
    c = np.cumsum(d)
    if len(lengths) > 1:
        starts = np.cumsum(lengths)[:-1]
        offsets = np.concatenate(([0], c[starts - 1]))
        c -= np.repeat(offsets, lengths)
    return c


def _unshuffle(chunks: list[bytes], lengths: list[int]) -> np.ndarray:
    import numpy as np

    parts = [
        np.frombuffer(ch, dtype=np.uint8).reshape(8, n).T.copy().view("<f8").ravel()
        for ch, n in zip(chunks, lengths, strict=True)
    ]
    if not parts:
        return np.empty(0, dtype="<f8")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def decode(blocks: Sequence[Block], ms: bool = False) -> Series:
    """Turn the blocks of one metric (in order) into arrays (times in ms if ``ms``)."""
    lengths = [b.n for b in blocks]
    steps = _undelta([_column(b.steps, b.flags) for b in blocks], lengths)
    times = _undelta([_column(b.times, b.flags) for b in blocks], lengths)
    times = times if ms else times / 1000.0
    values = _unshuffle([_column(b.values, b.flags) for b in blocks], lengths)
    return Series(steps, times, values)


def series_files(directory: Path) -> list[Path]:
    """The writer files of one run, oldest first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.name.endswith(SUFFIX)]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def read_blocks(directory: Path, key: str | None = None) -> dict[str, list[Block]]:
    """Group the intact blocks of every writer file by metric key."""
    out: dict[str, list[Block]] = {}
    for path in series_files(directory):
        for block in iter_blocks(path.read_bytes()):
            if key is None or block.key == key:
                out.setdefault(block.key, []).append(block)
    return out


def read_all(directory: Path, key: str | None = None) -> dict[str, Series]:
    """Every metric's points (or only ``key``'s) across every writer, merged in time order."""
    import numpy as np

    several = len(series_files(directory)) > 1
    out = {}
    for name, blocks in read_blocks(directory, key).items():
        s = decode(blocks)
        if several:
            order = np.argsort(s.times, kind="stable")
            s = Series(s.steps[order], s.times[order], s.values[order])
        out[name] = s
    return out


def read_series(directory: Path, key: str) -> Series | None:
    """All points of ``key`` across every writer, or None if it was never logged."""
    return read_all(directory, key).get(key)


def list_keys(directory: Path) -> list[str]:
    return sorted(read_blocks(directory))


class SeriesWriter:
    """Appends blocks to one writer file; one instance per writing process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.blocks = 0

    def append(self, chunks: Sequence[bytes]) -> None:
        if chunks:
            os.write(self._fd, b"".join(chunks))
            self.blocks += len(chunks)

    def close(self, compact: bool = True) -> None:
        """Close, first merging many small blocks into one per metric so reads stay fast."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        if compact and self.blocks > 1:
            compact_file(self.path)


def compact_file(path: Path) -> None:
    """Rewrite a writer file with one block per metric, atomically."""
    grouped: dict[str, list[Block]] = {}
    for block in iter_blocks(path.read_bytes()):
        grouped.setdefault(block.key, []).append(block)
    if all(len(v) == 1 for v in grouped.values()):
        return
    chunks = []
    for key, blocks in grouped.items():
        s = decode(blocks, ms=True)
        chunks.append(encode_block(key, s.steps, s.times, s.values))
    tmp = path.with_suffix(".compacting")
    with open(tmp, "wb") as fh:
        fh.write(b"".join(chunks))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
