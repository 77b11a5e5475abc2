"""Artifact rows: which run keeps which content under which name.

The content itself is a file of the files area named by its sha256 (``service/artifacts``);
a row is only ever written once that file is in place, and ``artifacts_hash`` lets the
garbage collector ask whether any row still names a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from labbook.records.artifacts import Artifact
from labbook.store.sql.db import Database

_COLUMNS = "run_id, name, kind, hash, size, source, created_at"
CHUNK = 500  # ids bound per query, well under either store's limit on parameters


def _row(values: tuple[Any, ...]) -> Artifact:
    run_id, name, kind, digest, size, source, created_at = values
    return Artifact(run_id, name, kind, digest, size, source, created_at)


class SqlArtifacts:
    """``ArtifactStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put_artifacts(self, rows: Sequence[Artifact]) -> None:
        """All rows or none; a name the run already has takes the new content (a checkpoint saved again)."""
        if not rows:
            return
        with self.db.tx() as c:
            c.executemany(
                f"INSERT INTO artifacts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, name) DO UPDATE SET kind = excluded.kind, hash = excluded.hash,"
                " size = excluded.size, source = excluded.source, created_at = excluded.created_at",
                [(a.run_id, a.name, a.kind, a.hash, a.size, a.source, a.created_at) for a in rows],
            )

    def artifacts(self, run_id: int) -> list[Artifact]:
        rows = self.db.read(f"SELECT {_COLUMNS} FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))
        return [_row(r) for r in rows]

    def artifacts_of(self, run_ids: Iterable[int]) -> list[Artifact]:
        """The artifacts of many runs (a side of ``lab compare``), by run and name."""
        ids = sorted(set(run_ids))
        out: list[Artifact] = []
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            marks = ", ".join("?" * len(part))
            rows = self.db.read(
                f"SELECT {_COLUMNS} FROM artifacts WHERE run_id IN ({marks}) ORDER BY run_id, name", part
            )
            out += [_row(r) for r in rows]
        return out

    def get_artifact(self, run_id: int, name: str) -> Artifact | None:
        rows = self.db.read(f"SELECT {_COLUMNS} FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name))
        return _row(rows[0]) if rows else None

    def referenced(self, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` some artifact row names (the garbage collector's check)."""
        found: set[str] = set()
        for i in range(0, len(hashes), CHUNK):
            part = list(hashes[i : i + CHUNK])
            marks = ", ".join("?" * len(part))
            found |= {
                r[0]
                for r in self.db.read(f"SELECT DISTINCT hash FROM artifacts WHERE hash IN ({marks})", part)
            }
        return found
