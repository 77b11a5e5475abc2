"""The team server's store: one PostgreSQL database, one connection, the shared repositories.

``PostgresStore(url)`` connects (and migrates, unless ``migrate=False``, which only
checks the schema) and builds the same repositories ``SQLiteStore`` does over its
``Database``. ``backup(path)`` writes a SQLite notebook database holding every row, ids
and all, so a copy of the team's notebook opens anywhere with ``lab --dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.store.postgres.connection import Database
from labbook.store.sql.areas import Areas
from labbook.store.sql.runs import SqlRuns

if TYPE_CHECKING:
    import sqlite3

    import psycopg

#: Tables in an order that satisfies every foreign key, with the columns both schemas share.
BACKUP_TABLES = (
    "blobs", "hypotheses", "runs", "tags", "params", "summary", "metrics", "hypothesis_tags",
    "papers", "paper_settings", "paper_citekeys", "predictions", "prediction_tags", "resolutions",
    "notes", "problems", "problem_links", "problem_matches", "ideas", "idea_ratings", "tasks",
    "examples", "example_fields", "example_sets", "samples", "sample_items", "pile_members",
    "hypothesis_piles", "settings", "run_events", "artifacts", "tokens", "uploads", "sync_state",
)  # fmt: skip


class PostgresStore(Areas):
    """``Store`` over a PostgreSQL database; safe to share between threads of one process."""

    db: Database

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.db = Database(url, migrate=migrate)
        self.url = url
        self.runs = SqlRuns(self.db)

    @property
    def read_only(self) -> bool:
        return False

    def reopen(self) -> PostgresStore:
        return PostgresStore(self.url, migrate=False)

    def close(self) -> None:
        self.db.close()

    def backup(self, path: Path) -> None:
        """Every row into a new SQLite notebook database at ``path``, in one snapshot of this one."""
        import sqlite3

        from labbook.store.sqlite.store import SQLiteStore

        SQLiteStore(path).close()  # the latest SQLite schema, empty
        target = sqlite3.connect(str(path), isolation_level=None)
        try:
            target.execute("BEGIN")
            with self.db.lock, self.db.translated():
                conn = self.db.conn
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    for table in BACKUP_TABLES:
                        self._copy(conn, target, table)
            target.execute("COMMIT")
        except BaseException:
            if target.in_transaction:
                target.execute("ROLLBACK")
            raise
        finally:
            target.close()

    @staticmethod
    def _copy(conn: psycopg.Connection[Any], target: sqlite3.Connection, table: str) -> None:
        columns = [r[1] for r in target.execute(f"PRAGMA table_info({table})")]
        names = ", ".join(columns)
        with conn.cursor() as cur:
            cur.execute(f"SELECT {names} FROM {table}")
            marks = ", ".join("?" * len(columns))
            while rows := cur.fetchmany(2000):
                target.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def integrity(self) -> list[str]:
        """Nothing to report: PostgreSQL checks its own pages; ``lab verify`` checks the files."""
        return []
