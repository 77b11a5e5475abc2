"""The framing of a W&B transaction log (``run-<id>.wandb``): LevelDB's log format.

A 7-byte ``:W&B`` header, then 32 KiB blocks of chunks, each with a CRC-32 over its type and
bytes; a record is one FULL chunk or FIRST, MIDDLE..., LAST. It follows wandb's own Python
reader (``wandb/sdk/internal/datastore.py`` before 0.30) and wandb-core's ``pkg/leveldb``: a
bad chunk drops the rest of its block and reading goes on at the next one. What the records
say is decoded by wandb's own classes, in ``importers.wandb``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The transaction log's framing, as wandb writes it (wandb/sdk/internal/datastore.py before 0.30).
HEADER = struct.Struct("<4sHB")  # ident, magic, version
IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
CHUNK = struct.Struct("<IHB")  # crc32 of type + data, length, type
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class NotALog(Exception):
    """The file is not a W&B transaction log (a Skipped, with this as the reason)."""


@dataclass
class Damage:
    """What a read of one log could not use: byte ranges lost, and whether the last one runs to the end."""

    size: int = 0
    position: int = 0  # how far reading has come, for progress lines
    lost: list[tuple[int, int]] = field(default_factory=list)
    undecodable: int = 0

    def lose(self, start: int, stop: int) -> None:
        if stop <= start:
            return
        if self.lost and self.lost[-1][1] >= start:
            start = self.lost[-1][0]
            self.lost.pop()
        self.lost.append((start, stop))

    def describe(self, kept: int) -> str:
        """One line for a user, or '' when nothing was lost."""
        parts = []
        cut = self.lost[-1] if self.lost and self.lost[-1][1] >= self.size else None
        inside = [r for r in self.lost if r is not cut]
        if cut:
            parts.append(
                f"cut off at byte {cut[0]}: the last {cut[1] - cut[0]} bytes (an unfinished record) are lost"
            )
        if inside:
            lost = sum(b - a for a, b in inside)
            places = f"{len(inside)} place" + ("s" if len(inside) > 1 else "")
            parts.append(f"{lost} damaged bytes in {places} (checksums do not match) are lost")
        if self.undecodable:
            parts.append(f"{self.undecodable} records this wandb cannot decode are left out")
        if not parts:
            return ""
        return "; ".join(parts) + (f"; the {kept} intact records were imported" if kept else "")


def records(path: Path, damage: Damage) -> Iterator[bytes]:
    """Every intact record of a W&B transaction log, in order; what cannot be read is noted in ``damage``."""
    with open(path, "rb") as fh:
        damage.size = path.stat().st_size
        block = fh.read(BLOCK)
        if len(block) < HEADER.size or HEADER.unpack_from(block) != (IDENT, MAGIC, VERSION):
            raise NotALog(_not_a_log(block))
        base, pos = 0, HEADER.size
        pending, start = bytearray(), -1  # the record being put together from chunks, and its offset
        while block:
            while pos + CHUNK.size <= len(block):
                crc, length, kind = CHUNK.unpack_from(block, pos)
                if crc == length == kind == 0:
                    break  # zeros: the rest of the block is padding
                stop = pos + CHUNK.size + length
                if (
                    stop > len(block)
                    or kind not in (FULL, FIRST, MIDDLE, LAST)
                    or crc != _crc(block, pos, stop)
                ):
                    damage.lose(start if start >= 0 else base + pos, base + len(block))
                    pending, start = bytearray(), -1
                    pos = len(block)  # resynchronise at the next block, as LevelDB does
                    break
                chunk = block[pos + CHUNK.size : stop]
                if kind in (FULL, FIRST):
                    if start >= 0:
                        damage.lose(start, base + pos)  # a record that never got its last chunk
                    pending, start = bytearray(chunk), base + pos
                elif start < 0:
                    damage.lose(base + pos, base + stop)  # the tail of a record whose head was lost
                else:
                    pending += chunk
                pos = stop
                if kind in (FULL, LAST) and start >= 0:
                    yield bytes(pending)
                    pending, start = bytearray(), -1
            if len(block) < BLOCK and block[pos:].strip(b"\x00"):
                damage.lose(start if start >= 0 else base + pos, base + len(block))  # half a chunk header
                start = -1
            base += len(block)
            damage.position = base
            block, pos = fh.read(BLOCK), 0
        if start >= 0:
            damage.lose(start, base)


def _crc(block: bytes, pos: int, stop: int) -> int:
    return zlib.crc32(block[pos + 6 : stop]) & 0xFFFFFFFF  # the type byte, then the data


def _not_a_log(block: bytes) -> str:
    if not block:
        return "empty: not a W&B run file"
    if block[:4] != IDENT:
        return "not a W&B run file (it does not start with W&B's ':W&B' header)"
    return (
        "a W&B run file of a format this reader does not know (a newer wandb?): sync or export it with wandb"
    )
