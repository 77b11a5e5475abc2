"""The intact blocks of one series file, and the damage between them.

A reader that meets bytes that do not add up searches forward for the next intact block
and goes on from there, reporting every region it skipped as a ``Damage``: ``"torn
tail"`` when the file ends inside a block (a writer killed mid-write, normal after a
crash), ``"damaged"`` otherwise. A *policy* says per block whether its payload is
trusted, checked or returned, so a scan does no work on blocks nobody asked for.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import NamedTuple

from labbook.formats.series import HEADER, MAGIC, Buffer, plausible
from labbook.store.series.files import Opened, Source

TORN = "torn tail"
DAMAGED = "damaged"


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


#: An intact block: (offset, end, key, n, flags, key length, len(steps), len(times)).
#: A plain tuple: a scan makes one per block, and a NamedTuple costs 8x more to build.
Entry = tuple[int, int, str, int, int, int, int, int]
Found = tuple[Entry, Buffer | None]  # the payload, when the policy keeps it
SKIP, CHECK, KEEP = 0, 1, 2  # what a scan does with a payload: trust it, verify it, return it
Policy = Callable[[str, int, int], int]  # (key, n, payload size) -> SKIP / CHECK / KEEP
_Head = tuple[int, int, int, int, int, int, int]  # n, klen, flags, ls, lt, lv, crc
_unpack = HEADER.unpack_from


def check_all(key: str, n: int, size: int) -> int:
    return CHECK


def keep_all(key: str, n: int, size: int) -> int:
    return KEEP


def _header(src: Source, pos: int) -> _Head | None:
    """The fields of a plausible header at ``pos``, else None."""
    if pos + HEADER.size > src.size:
        return None
    i = src.at(pos, HEADER.size)  # before reading src.buf: it may move the window
    magic, n, klen, flags, ls, lt, lv, crc = _unpack(src.buf, i)
    if magic != MAGIC or not plausible(n, flags, ls, lt, lv):
        return None
    return n, klen, flags, ls, lt, lv, crc


def _block_end(pos: int, head: _Head) -> int:
    return pos + HEADER.size + head[1] + head[3] + head[4] + head[5]


def _block_at(src: Source, pos: int, policy: Policy) -> Found | None:
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
    if mode == KEEP:
        payload = src.read(body, end - body)
        if zlib.crc32(payload) != crc:
            return None
    elif mode == CHECK and src.crc(body, end - body) != crc:
        return None
    return (pos, end, key, n, flags, klen, ls, lt), payload


def _window_blocks(src: Source, pos: int, policy: Policy) -> Generator[Found, None, int]:
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
        if magic != MAGIC or body + klen > len(buf) or not plausible(n, flags, ls, lt, lv):
            break
        key = keys.get(buf[body : body + klen])
        if key is None:  # a key not seen yet: the general path decodes it
            break
        mode = policy(key, n, end - body)
        if end > len(buf):  # only a block that need not be read can be passed over from here
            if mode != SKIP or base + end > src.size:
                break
            payload = None
        else:
            payload = view[body:end] if mode == KEEP else None
            if mode != SKIP and crc32(view[body:end] if payload is None else payload) != crc:
                break
        yield (base + i, base + end, key, n, flags, klen, ls, lt), payload
        i = end
    return base + i


def _next_block(src: Source, pos: int) -> int:
    """The offset of the first intact block at or after ``pos``, or -1."""
    while (pos := src.find(MAGIC, pos)) >= 0:
        if _block_at(src, pos, check_all) is not None:
            return pos
        pos += 1
    return -1


def _runs_past_end(src: Source, pos: int, head: _Head | None) -> bool:
    """Whether the bytes at ``pos`` begin a block that the file ends inside."""
    rest = src.size - pos
    if rest < HEADER.size:
        start = min(rest, len(MAGIC))
        return bytes(src.read(pos, start)) == MAGIC[:start]
    return head is not None and _block_end(pos, head) > src.size


def _damage(src: Source, path: Path, pos: int, stop: int) -> Iterator[Damage]:
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


def scan(src: Source, path: Path, policy: Policy) -> Iterator[Found | Damage]:
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


def scan_path(path: Path, policy: Policy) -> Iterator[Found | Damage]:
    """``scan`` of one file; nothing for a file removed since it was listed."""
    try:
        opened = Opened(path)
    except FileNotFoundError:
        return
    with opened as src:
        yield from scan(src, path, policy)
