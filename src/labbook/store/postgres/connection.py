"""One psycopg connection for the PostgreSQL store, with the guarantees SQLite's ``Database`` gives.

- **One writer at a time.** Every write transaction first takes one advisory lock, as
  SQLite's ``BEGIN IMMEDIATE`` takes the write lock: a read-then-write (the next run id,
  a prediction's lateness) sees no other writer in between, whatever the isolation level.
- **The shared SQL as written.** The repositories write ``?`` parameters; they become
  psycopg's ``%s`` here (and a literal ``%`` becomes ``%%``), once per statement text.
  NaN binds as NULL and ``True`` as 1, as SQLite binds them.
- **Outages are one line.** A server that is down, restarting or unreachable is a
  ``StoreUnreachable``; the next call connects again, so a restarted database is used as
  soon as it is back. A read is retried once on a fresh connection; a write never is (the
  caller's batch ids make its own resend harmless).
- **No JIT.** PostgreSQL would compile a long ``--where`` (a thousand ids) to machine
  code for seconds before running it in milliseconds.
- **Errors of the surroundings become ``StoreError``s in one place** (``translated``);
  errors in the SQL itself pass through, as in SQLite.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput, LabbookError, QueryError, StoreError, StoreUnreachable
from labbook.store.postgres import migrations
from labbook.store.postgres.dialect import POSTGRES

if TYPE_CHECKING:
    import psycopg

WRITE_LOCK = 0x6C61_6231  # the advisory lock every write transaction holds ("lab1")
CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=4096)
def paramstyle(sql: str) -> str:
    """``?`` → ``%s``, a literal ``%`` → ``%%`` (the shared SQL never has ``?`` inside a string)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _value(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is True or v is False:
        return int(v)
    return v


def bound(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: _value(v) for k, v in params.items()}
    return [_value(v) for v in params]


class Tx:
    """A connection inside a transaction, speaking the shared SQL."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = (), /) -> psycopg.Cursor[Any]:
        return self.conn.execute(paramstyle(sql), bound(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cur = self.conn.cursor()
        cur.executemany(paramstyle(sql), [bound(r) for r in rows])
        return cur


def where(url: str) -> str:
    """``host:port/database`` of a URL, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:
        return "the configured PostgreSQL server"
    host = info.get("host") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


def translate(err: Exception, url: str) -> LabbookError | None:
    """The one-line error a user gets for ``err``; None for an error in the SQL itself."""
    import psycopg
    from psycopg import errors as e

    at = where(url)
    if isinstance(err, e.DiskFull):
        return StoreError(f"the disk of the notebook database at {at} is full; free some space and try again")
    if isinstance(err, (e.StatementTooComplex, e.ProgramLimitExceeded)):
        return QueryError(f"the query is too complex for the database ({err}); simplify the --where")
    if isinstance(err, psycopg.OperationalError) and not isinstance(err, e.QueryCanceled):
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1]
        return StoreUnreachable(
            f"the notebook database at {at} does not answer ({first}); check that PostgreSQL is running"
        )
    if isinstance(err, e.NumericValueOutOfRange):
        return BadInput(
            "a number is beyond what the notebook database holds (64-bit integers); keep it as text"
        )
    if isinstance(err, e.UntranslatableCharacter) or (
        isinstance(err, psycopg.DataError) and "0x00" in str(err)
    ):
        return BadInput("text with a NUL character cannot be stored; remove the \\x00")
    if isinstance(err, e.InsufficientPrivilege):
        return StoreError(f"the notebook database at {at} refused: {err}; check the role's privileges")
    return None


class Database:
    """One connection shared by the PostgreSQL store's repositories; safe to share between threads."""

    dialect = POSTGRES

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        self.read_only = False
        self.lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        with self.translated():
            conn = self._connect()
            if migrate:
                migrations.migrate(conn)
            else:
                migrations.pending(conn)
            self._conn = conn

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection without JIT: compiling a long --where takes seconds, running it milliseconds."""
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        conn.execute("SET jit = off")
        return conn

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The connection, opened again if the server dropped it (a restart, a network cut)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            conn = self._connect()
            migrations.pending(conn)  # a database replaced under us by a newer one says so
            self._conn = conn
        return self._conn

    @contextmanager
    def translated(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as err:
            failure = translate(err, self.url)
            if failure is None:
                raise
            raise failure from None

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self.lock, self.translated():
            conn = self.conn
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield Tx(conn)

    def read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self.lock, self.translated():
            try:
                return self.conn.execute(paramstyle(sql), bound(params)).fetchall()
            except psycopg.OperationalError:
                if self._conn is not None and not self._conn.broken:
                    raise
                return self.conn.execute(paramstyle(sql), bound(params)).fetchall()  # once, on a fresh one

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
