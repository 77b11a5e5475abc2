"""SQLite's part of the shared repositories' SQL: FTS5 search, the compiler, bulk-load settings.

The ``search`` FTS5 table is kept by triggers (migrations v4, v12, v14); problems are
ranked in an FTS5 table built in TEMP for the one query. Both rank with bm25.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from labbook.errors import BadInput

if TYPE_CHECKING:
    from labbook.records.journal import Hit
    from labbook.store.sql.db import Compiler, Database
    from labbook.store.sqlite.connection import Database as SQLiteDatabase

#: The page cache of one bulk import (KiB, negative as SQLite wants it): the index of a
#: 1M-example run fits, so inserting ids in any order does not thrash.
IMPORT_CACHE_KIB = -262144
DEFAULT_CACHE_KIB = -2000


def fts_query(text: str) -> str:
    """User words → an FTS5 query that cannot be a syntax error: every word quoted, all required.

    A trailing ``*`` keeps prefix search (``calib*``).
    """
    terms = []
    for word in text.split():
        prefix = word.endswith("*")
        word = word.rstrip("*").replace('"', '""')
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    if not terms:
        raise BadInput("the search query is empty; give a word or two")
    return " ".join(terms)


def any_of(words: Sequence[str]) -> str:
    """Words → an FTS5 query matching any of them (bm25 weighs the rare ones)."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


class SQLiteDialect:
    greatest = "max"
    least = "min"
    no_limit = "-1"
    duplicate: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def group_concat(self, expr: str, sep: str) -> str:
        return f"group_concat({expr}, {sep})"

    def compiler(self) -> Compiler:
        from labbook.store.sqlite import query  # a query's first use pays for the tree

        return query

    def search(self, db: Database, query: str, limit: int) -> list[Hit]:
        from labbook.records.journal import Hit

        try:
            rows = db.read(
                "SELECT kind, ref, title, snippet(search, -1, '[', ']', '…', 12), bm25(search, 0, 0, 2.0, 1.0)"
                " FROM search WHERE search MATCH ? AND NOT (kind = 'run' AND ref IN"
                " (SELECT id FROM runs WHERE trashed_at IS NOT NULL))"
                " ORDER BY bm25(search, 0, 0, 2.0, 1.0) LIMIT ?",
                (fts_query(query), limit),
            )
        except sqlite3.OperationalError as err:
            raise BadInput(f"cannot search for {query!r}: {err}") from None
        return [Hit(kind, int(ref), title, snippet, rank) for kind, ref, title, snippet, rank in rows]

    def rank_problems(
        self, db: Database, documents: str, words: Sequence[str], limit: int
    ) -> list[tuple[int, float]]:
        """bm25 negated, so that higher means more relevant, over a TEMP index of ``documents``."""
        sdb: SQLiteDatabase = db  # type: ignore[assignment]  # only ever given its own database
        with sdb.lock, sdb.translated():
            c = sdb.conn
            c.execute("DROP TABLE IF EXISTS temp.problem_match")
            c.execute(
                "CREATE VIRTUAL TABLE temp.problem_match USING"
                " fts5(pid UNINDEXED, title, body, hyps, tokenize = 'porter unicode61')"
            )
            try:
                c.execute(f"INSERT INTO temp.problem_match (pid, title, body, hyps) {documents}")
                rows = c.execute(
                    "SELECT pid, -bm25(problem_match, 0, 3.0, 2.0, 1.0) FROM temp.problem_match"
                    " WHERE problem_match MATCH ? ORDER BY bm25(problem_match, 0, 3.0, 2.0, 1.0) LIMIT ?",
                    (any_of(words), limit),
                ).fetchall()
            finally:
                c.execute("DROP TABLE IF EXISTS temp.problem_match")
        return [(int(pid), float(score)) for pid, score in rows]

    @contextmanager
    def bulk(self, db: Database) -> Iterator[None]:
        """A large page cache, set and reset inside one hold of the connection (the cache is its own)."""
        sdb: SQLiteDatabase = db  # type: ignore[assignment]
        with sdb.lock:
            sdb.conn.execute(f"PRAGMA cache_size = {IMPORT_CACHE_KIB}")
            try:
                yield
            finally:
                sdb.conn.execute(f"PRAGMA cache_size = {DEFAULT_CACHE_KIB}")


SQLITE = SQLiteDialect()
