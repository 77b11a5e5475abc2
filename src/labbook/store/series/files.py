"""Reading a series file in bounded memory, and writing every byte of a block.

A scan reads through a sliding window, one syscall per window rather than per block, so
a file of many small blocks costs few reads and a huge one never sits in memory whole.
"""

from __future__ import annotations

import errno
import gc
import os
import zlib
from pathlib import Path

from labbook.formats.series import Buffer

WINDOW = 1 << 18  # bytes read at a time while scanning: one syscall per window, not per block
_PEEK = 1 << 12  # bytes read for the header of a block after a large one


def pread(fd: int, length: int, pos: int) -> bytes:
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


class Source:
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
        want = WINDOW if pos <= self.base + len(self.buf) else _PEEK
        self.buf = pread(self.fd, min(max(want, length), self.size - pos), pos)
        self.view = memoryview(self.buf)
        self.base = pos

    def at(self, pos: int, length: int) -> int:
        """Where [pos, pos + length) starts in ``buf``, moving the window there if need be;
        -1 when it is too long for the window (the caller checks it lies inside the file)."""
        i = pos - self.base
        if i < 0 or i + length > len(self.buf):
            if length > WINDOW // 2:
                return -1
            self._fill(pos, length)
            i = 0
        return i

    def read(self, pos: int, length: int) -> Buffer:
        i = self.at(pos, length)
        return pread(self.fd, length, pos) if i < 0 else self.view[i : i + length]

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
        for at in range(pos, pos + length, WINDOW):
            crc = zlib.crc32(pread(self.fd, min(WINDOW, pos + length - at), at), crc)
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


class GcPaused:
    """Pause the cyclic collector while a scan allocates a few acyclic objects per block;
    otherwise it walks all of them again and again (a file of many blocks reads 2x slower)."""

    def __enter__(self) -> None:
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was:
            gc.enable()


class Opened:
    """A series file opened for reading, as a ``Source``; closes its descriptor on exit."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def __enter__(self) -> Source:
        return Source(self.fd, os.fstat(self.fd).st_size)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def write_all(fd: int, data: Buffer, offset: int | None = None) -> None:
    """Write every byte: on a full disk ``write`` returns a short count before it fails."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[done:]
        if offset is not None:
            offset += done
