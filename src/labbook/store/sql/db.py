"""What the shared repositories need from a database, and the few things the SQL differs in.

The repositories of ``store/sql`` are written once, in the SQL that SQLite (3.35 and
later) and PostgreSQL both speak: ``?`` parameters (the PostgreSQL connection turns them
into its own), ``INSERT ... ON CONFLICT``, ``RETURNING id``, ``IS DISTINCT FROM``. What
cannot be written once is the ``Dialect``: the query compiler, full-text search, the
scalar ``greatest``/``least`` and string aggregation, bulk-load settings and the
exception a unique index raises. Each store provides a ``Database`` with its dialect.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence, Sized
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from labbook.core.query import ExampleField, Expr, SortKey
    from labbook.records.journal import Hit

SQL = tuple[str, list[Any]]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """A connection inside a transaction: what ``Database.tx`` yields."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor: ...


class Compiler(Protocol):
    """A store's compiler of the query tree (``core/query``) into its SQL, every literal bound."""

    def where_sql(self, expr: Expr) -> SQL: ...
    def order_sql(self, keys: Sequence[SortKey]) -> SQL: ...
    def stratum_sql(self, field: ExampleField) -> SQL: ...
    def field_values_sql(self, field: ExampleField, kind: str) -> SQL: ...


class Dialect(Protocol):
    """What differs between the stores' SQL; ``db`` is the database the repository reads."""

    greatest: str  # the scalar maximum of its arguments: max() in SQLite, greatest() in PostgreSQL
    least: str
    no_limit: str  # a LIMIT that limits nothing, for an OFFSET alone

    @property
    def duplicate(self) -> tuple[type[BaseException], ...]:
        """What a unique index refusing a row raises."""
        ...

    def group_concat(self, expr: str, sep: str) -> str: ...
    def compiler(self) -> Compiler: ...
    def search(self, db: Database, query: str, limit: int) -> list[Hit]: ...
    def rank_problems(
        self, db: Database, documents: str, words: Sequence[str], limit: int
    ) -> list[tuple[int, float]]: ...
    def bulk(self, db: Database) -> AbstractContextManager[None]: ...


class Database(Protocol):
    """One connection shared by a store's repositories; safe to share between threads."""

    @property
    def dialect(self) -> Dialect: ...
    @property
    def lock(self) -> threading.RLock: ...

    def tx(self) -> AbstractContextManager[Tx]: ...
    def read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...


def named(record: Any, row: Sequence[Any]) -> dict[str, Any]:
    """A row as keyword arguments of a record whose first fields are the row's columns, in order."""
    return dict(zip((f.name for f in dataclasses.fields(record)), row, strict=False))


def text_view(text: str) -> str:
    """``text`` as a database holds it: UTF-8, with what UTF-8 cannot encode (lone surrogates) as escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def marks(values: Sized) -> str:
    """``?, ?, ?``: one parameter per value."""
    return ", ".join("?" * len(values))
