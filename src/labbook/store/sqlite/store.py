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

from labbook.store.sql.runs import SqlRuns
from labbook.store.sqlite.connection import Database

if TYPE_CHECKING:
    from labbook.store.sql.artifacts import SqlArtifacts
    from labbook.store.sql.failures import SqlFailures
    from labbook.store.sql.journal import SqlJournal
    from labbook.store.sql.papers import SqlPapers
    from labbook.store.sql.problems import SqlProblems
    from labbook.store.sql.research import SqlResearch
    from labbook.store.sql.server import SqlServer
    from labbook.store.sql.settings import SqlSettings


class SQLiteStore:
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.path = path
        self.runs = SqlRuns(self.db)

    @cached_property
    def research(self) -> SqlResearch:
        from labbook.store.sql.research import SqlResearch

        return SqlResearch(self.db)

    @cached_property
    def journal(self) -> SqlJournal:
        from labbook.store.sql.journal import SqlJournal

        return SqlJournal(self.db)

    @cached_property
    def papers(self) -> SqlPapers:
        from labbook.store.sql.papers import SqlPapers

        return SqlPapers(self.db)

    @cached_property
    def problems(self) -> SqlProblems:
        from labbook.store.sql.problems import SqlProblems

        return SqlProblems(self.db)

    @cached_property
    def failures(self) -> SqlFailures:
        from labbook.store.sql.failures import SqlFailures

        return SqlFailures(self.db)

    @cached_property
    def settings(self) -> SqlSettings:
        from labbook.store.sql.settings import SqlSettings

        return SqlSettings(self.db)

    @cached_property
    def artifacts(self) -> SqlArtifacts:
        from labbook.store.sql.artifacts import SqlArtifacts

        return SqlArtifacts(self.db)

    @cached_property
    def server(self) -> SqlServer:
        from labbook.store.sql.server import SqlServer

        return SqlServer(self.db)

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
