"""Reading a run's series: every writer file of its ``metrics/`` directory, merged.

``read(directory, key=None) -> Reading(series, damage)``; ``read_all`` and
``read_series`` return its intact data alone; ``count_points`` checks every checksum
without decoding (for ``lab verify``); ``intact_length`` is where to trim a copy of a
live file. Reading skips its work on the blocks of other metrics wherever that costs
nothing, so reading one metric of a many-metric file stays proportional to that metric.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from labbook.formats.series import BadBlock, Block, Buffer, Series, decode
from labbook.store.series.files import GcPaused, Opened, Source
from labbook.store.series.scan import (
    CHECK,
    DAMAGED,
    KEEP,
    SKIP,
    TORN,
    Damage,
    Entry,
    Policy,
    check_all,
    keep_all,
    scan,
    scan_path,
)

SUFFIX = ".lbm"
_CHECK_BYTES = 1 << 16  # a read of one key still checks other keys' blocks up to this size


class Reading(NamedTuple):
    """Every intact point of a run's series, and every region that could not be read."""

    series: dict[str, Series]
    damage: list[Damage]


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


def iter_blocks(data: bytes) -> Iterator[Block]:
    """Yield the intact blocks of a file's bytes, skipping any damage between them."""
    for found in scan(Source(-1, len(data), data), Path(), keep_all):
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
            return KEEP
        return CHECK if size <= _CHECK_BYTES else SKIP

    return policy


Located = tuple[Path, Entry, Block]


def _read_file(path: Path, key: str | None, blocks: dict[str, list[Located]], damage: list[Damage]) -> None:
    for found in scan_path(path, _reading_policy(key)):
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
    with GcPaused():
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
        except BadBlock as bad:
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
    with GcPaused():
        for path in series_files(directory):
            for found in scan_path(path, check_all):
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
    with Opened(path) as src, GcPaused():
        for found in scan(src, path, check_all):
            if isinstance(found, Damage):
                last = found
        size = src.size
    return last.offset if last is not None and last.kind == TORN else size
