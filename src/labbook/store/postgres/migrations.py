"""Versioned schema migrations for the PostgreSQL store.

The version is the one row of ``labbook_schema``. Each migration runs in one
transaction with its version bump, under an advisory lock, so two servers starting on
one database cannot both migrate and a database is always at a whole version. Never edit
a migration that has shipped: append a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labbook.errors import SchemaTooNew
from labbook.store.postgres.schema import SCRIPTS

if TYPE_CHECKING:
    import psycopg

LATEST = len(SCRIPTS)
MIGRATE_LOCK = 0x6C61_6230  # the advisory lock of a migration ("lab0")


def version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The schema version; 0 for an empty database."""
    row = conn.execute("SELECT to_regclass('labbook_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT version FROM labbook_schema").fetchone()
    return int(found[0]) if found else 0  # type: ignore[call-overload]


def check(current: int) -> None:
    if current > LATEST:
        raise SchemaTooNew(
            f"this notebook database has schema v{current} but this labbook knows only v{LATEST}; "
            "upgrade labbook (pip install -U 'labbook[server]')"
        )


def pending(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int]:
    """(current version, latest version); raises SchemaTooNew for a database newer than this labbook."""
    current = version(conn)
    check(current)
    return current, LATEST


def migrate(conn: psycopg.Connection[tuple[object, ...]], target: int = LATEST) -> int:
    """Bring the schema to ``target``; returns the version it started from."""
    start = version(conn)
    check(start)
    if start >= target:
        return start  # the common case: no lock taken just to open
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            current = version(conn)
            if current >= target:
                return start
            conn.execute(SCRIPTS[current])  # psycopg sends a script without parameters whole
            if current == 0:
                conn.execute("CREATE TABLE labbook_schema (version integer NOT NULL)")
                conn.execute("INSERT INTO labbook_schema (version) VALUES (1)")
            else:
                conn.execute("UPDATE labbook_schema SET version = %s", (current + 1,))
