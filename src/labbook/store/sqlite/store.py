"""The embedded store: one SQLite file, one connection, one repository per area.

``SQLiteStore(path)`` opens (and migrates) the database once (``connection.Database``:
WAL or the rollback journal, busy waits, read-only notebooks, the one place where
sqlite3 errors become ``StoreError``) and hands the connection to each area's
repository; the service reaches them as ``store.runs``, ``store.research`` and so on.
Every area but runs is built on first use, so ``lab ls`` loads only what it reads.
"""

from __future__ import annotations

from pathlib import Path

from labbook.store.sql.areas import Areas
from labbook.store.sql.runs import SqlRuns
from labbook.store.sqlite.connection import Database


class SQLiteStore(Areas):
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    db: Database

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.path = path
        self.runs = SqlRuns(self.db)

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    def reopen(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    def close(self) -> None:
        self.db.close()

    def backup(self, path: Path) -> None:
        self.db.backup(path)

    def integrity(self) -> list[str]:
        """What SQLite's ``integrity_check`` finds wrong (empty when the database is sound)."""
        return self.db.integrity()
