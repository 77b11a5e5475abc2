"""PostgreSQL's part of the shared repositories' SQL: text search, the compiler, string aggregation.

Search reads the ``search`` table the schema's triggers keep (see ``schema``). The
user's words become a ``tsquery`` built here from letters and digits only, so no input
can be a syntax error: every word is required, a word of several parts (``okapi-run``)
is a phrase, and a trailing ``*`` is a prefix, as in the SQLite store. Problems are
ranked by ``ts_rank`` over documents built for the one query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from labbook.errors import BadInput

if TYPE_CHECKING:
    from labbook.records.journal import Hit
    from labbook.store.sql.db import Compiler, Database

_WORD = re.compile(r"[^\W_]+")
#: ts_rank's weights, for D, C, B, A: a title (A) counts twice a body (B), as bm25's weights in SQLite.
_SEARCH_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"
_PROBLEM_WEIGHTS = "{0.0, 0.33, 0.67, 1.0}"  # title 3, body 2, linked hypotheses and notes 1
_HEADLINE = "StartSel=[, StopSel=], MaxWords=12, MinWords=4, ShortWord=1, MaxFragments=1"


def search_query(text: str) -> str | None:
    """User words → a tsquery every word of which must match; None when no word has a letter or digit."""
    words = text.split()
    if not words:
        raise BadInput("the search query is empty; give a word or two")
    terms = []
    for word in words:
        parts = _WORD.findall(word)
        if parts:
            terms.append("(" + " <-> ".join(parts) + (":*" if word.endswith("*") else "") + ")")
    return " & ".join(terms) or None


class PostgresDialect:
    greatest = "greatest"
    least = "least"
    no_limit = "ALL"

    @property
    def duplicate(self) -> tuple[type[BaseException], ...]:
        from psycopg import errors

        return (errors.UniqueViolation,)

    def group_concat(self, expr: str, sep: str) -> str:
        return f"string_agg({expr}, {sep})"

    def compiler(self) -> Compiler:
        from labbook.store.postgres import query

        return query

    def search(self, db: Database, query: str, limit: int) -> list[Hit]:
        from labbook.records.journal import Hit

        ts = search_query(query)
        if ts is None:
            return []
        rows = db.read(
            f"SELECT kind, ref, title, ts_headline('labbook', title || ' ' || body, q, '{_HEADLINE}'),"
            f" -ts_rank('{_SEARCH_WEIGHTS}', doc, q, 1) AS rank"
            " FROM search, to_tsquery('labbook', ?) AS q"
            " WHERE doc @@ q AND NOT (kind = 'run' AND ref IN (SELECT id FROM runs WHERE trashed_at IS NOT NULL))"
            " ORDER BY rank, kind, ref LIMIT ?",
            (ts, limit),
        )
        return [Hit(kind, int(ref), title, snippet, float(rank)) for kind, ref, title, snippet, rank in rows]

    def rank_problems(
        self, db: Database, documents: str, words: Sequence[str], limit: int
    ) -> list[tuple[int, float]]:
        """ts_rank of each active problem's document against any of ``words``, best first."""
        ts = " | ".join(p for w in words for p in _WORD.findall(w))
        if not ts:
            return []
        rows = db.read(
            f"WITH d (pid, title, body, hyps) AS ({documents}),"
            " v AS (SELECT pid, setweight(to_tsvector('labbook', title), 'A')"
            " || setweight(to_tsvector('labbook', body), 'B') || setweight(to_tsvector('labbook', hyps), 'C') AS doc"
            " FROM d)"
            f" SELECT pid, ts_rank('{_PROBLEM_WEIGHTS}', doc, q, 1) AS score FROM v, to_tsquery('labbook', ?) AS q"
            " WHERE doc @@ q ORDER BY score DESC, pid LIMIT ?",
            (ts, limit),
        )
        return [(int(pid), float(score)) for pid, score in rows]

    def bulk(self, db: Database) -> AbstractContextManager[None]:
        return nullcontext()


POSTGRES = PostgresDialect()
