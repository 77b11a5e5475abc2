"""The embedded store: one SQLite file, one connection, one repository per area.

``SQLiteStore(path)`` opens (and migrates) the database once (``connection.Database``:
WAL or the rollback journal, busy waits, read-only notebooks, the one place where
sqlite3 errors become ``StoreError``) and hands the connection to each area's
repository; the service reaches them as ``store.runs``, ``store.research`` and so on.
"""

from __future__ import annotations

from pathlib import Path

from labbook.store.sqlite.connection import Database
from labbook.store.sqlite.failures import SQLiteFailures
from labbook.store.sqlite.journal import SQLiteJournal
from labbook.store.sqlite.papers import SQLitePapers
from labbook.store.sqlite.problems import SQLiteProblems
from labbook.store.sqlite.research import SQLiteResearch
from labbook.store.sqlite.runs import SQLiteRuns


class SQLiteStore:
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.path = path
        self.runs = SQLiteRuns(self.db)
        self.research = SQLiteResearch(self.db)
        self.journal = SQLiteJournal(self.db)
        self.papers = SQLitePapers(self.db)
        self.problems = SQLiteProblems(self.db)
        self.failures = SQLiteFailures(self.db)

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    def close(self) -> None:
        self.db.close()

    def backup(self, path: Path) -> None:
        self.db.backup(path)

    def integrity(self) -> list[str]:
        """What SQLite's ``integrity_check`` finds wrong (empty when the database is sound)."""
        return self.db.integrity()
