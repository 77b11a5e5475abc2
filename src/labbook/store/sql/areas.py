"""The areas of a SQL store, each repository built on its first use (so ``lab ls`` loads only runs).

``SQLiteStore`` and ``PostgresStore`` set ``db`` (their ``Database``) and ``runs``; the rest
is here, the same for both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.store.sql.artifacts import SqlArtifacts
    from labbook.store.sql.db import Database
    from labbook.store.sql.failures import SqlFailures
    from labbook.store.sql.journal import SqlJournal
    from labbook.store.sql.papers import SqlPapers
    from labbook.store.sql.problems import SqlProblems
    from labbook.store.sql.research import SqlResearch
    from labbook.store.sql.runs import SqlRuns
    from labbook.store.sql.server import SqlServer
    from labbook.store.sql.settings import SqlSettings


class Areas:
    """One repository per area over ``db``."""

    db: Database
    runs: SqlRuns

    def atomic(self) -> AbstractContextManager[Any]:
        """One transaction around many repository calls (each one's own becomes a savepoint in it):
        all of them written, or none."""
        return self.db.tx()

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
