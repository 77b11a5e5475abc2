"""The embedded store: one SQLite file, one connection, one repository per area.

``SQLiteStore(path)`` opens (and migrates) the database once (``connection.Database``:
WAL or the rollback journal, busy waits, read-only notebooks, the one place where
sqlite3 errors become ``StoreError``) and hands the connection to each area's
repository; the service reaches them as ``store.runs``, ``store.research`` and so on.
Every area but runs is built on first use, so ``lab ls`` loads only what it reads.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.store.sqlite.connection import Database
from labbook.store.sqlite.runs import SQLiteRuns

if TYPE_CHECKING:
    from labbook.store.sqlite.artifacts import SQLiteArtifacts
    from labbook.store.sqlite.failures import SQLiteFailures
    from labbook.store.sqlite.journal import SQLiteJournal
    from labbook.store.sqlite.papers import SQLitePapers
    from labbook.store.sqlite.problems import SQLiteProblems
    from labbook.store.sqlite.research import SQLiteResearch
    from labbook.store.sqlite.settings import SQLiteSettings


class SQLiteStore:
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.path = path
        self.runs = SQLiteRuns(self.db)

    @cached_property
    def research(self) -> SQLiteResearch:
        from labbook.store.sqlite.research import SQLiteResearch

        return SQLiteResearch(self.db)

    @cached_property
    def journal(self) -> SQLiteJournal:
        from labbook.store.sqlite.journal import SQLiteJournal

        return SQLiteJournal(self.db)

    @cached_property
    def papers(self) -> SQLitePapers:
        from labbook.store.sqlite.papers import SQLitePapers

        return SQLitePapers(self.db)

    @cached_property
    def problems(self) -> SQLiteProblems:
        from labbook.store.sqlite.problems import SQLiteProblems

        return SQLiteProblems(self.db)

    @cached_property
    def failures(self) -> SQLiteFailures:
        from labbook.store.sqlite.failures import SQLiteFailures

        return SQLiteFailures(self.db)

    @cached_property
    def settings(self) -> SQLiteSettings:
        from labbook.store.sqlite.settings import SQLiteSettings

        return SQLiteSettings(self.db)

    @cached_property
    def artifacts(self) -> SQLiteArtifacts:
        from labbook.store.sqlite.artifacts import SQLiteArtifacts

        return SQLiteArtifacts(self.db)

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
