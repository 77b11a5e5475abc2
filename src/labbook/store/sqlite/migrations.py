"""Versioned schema migrations for the SQLite store.

The schema version is ``PRAGMA user_version``. Each migration moves the schema up by one
and runs inside the same transaction as the version bump, so a notebook is always at a
whole version. Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from labbook.errors import SchemaTooNew
from labbook.store.sqlite.schema import V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15


def _script(script: str) -> Callable[[sqlite3.Connection], None]:
    """Statements that may contain ';' inside BEGIN ... END (triggers), split by sqlite itself."""

    def apply(conn: sqlite3.Connection) -> None:
        buffer = ""
        for line in script.splitlines(keepends=True):
            buffer += line
            if sqlite3.complete_statement(buffer):
                conn.execute(buffer)
                buffer = ""
        if buffer.strip():
            raise ValueError(f"incomplete statement in migration: {buffer[:60]!r}")

    return apply


#: Capture fields that are large and repeat across runs: kept once in ``blobs``.
BLOB_FIELDS = ("packages", "patch")


def put_blob(conn: sqlite3.Connection, data: str) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()
    conn.execute("INSERT OR IGNORE INTO blobs(hash, data) VALUES (?, ?)", (digest, data))
    return digest


def _v2(conn: sqlite3.Connection) -> None:
    """Add user summaries and move the bulky capture fields into content-addressed blobs."""
    _sql(V2)(conn)
    rows = conn.execute("SELECT id, capture FROM runs").fetchall()
    for run_id, raw in rows:
        capture = json.loads(raw or "{}")
        changed = False
        for name in BLOB_FIELDS:
            value = capture.get(name)
            if isinstance(value, str):
                capture[name] = {"blob": put_blob(conn, value)}
                changed = True
        if changed:
            conn.execute("UPDATE runs SET capture = ? WHERE id = ?", (json.dumps(capture), run_id))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _sql(script: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in _statements(script):
            conn.execute(statement)

    return apply


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _sql(V1),
    _v2,
    _sql(V3),
    _script(V4),
    _sql(V5),
    _sql(V6),
    _script(V7),
    _sql(V8),
    _sql(V9),
    _sql(V10),
    _sql(V11),
    _script(V12),
    _sql(V13),
    _script(V14),
    _sql(V15),
]
LATEST = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring the schema to ``target``; returns the version it started from.

    The connection must be in autocommit mode; each step runs in its own
    ``BEGIN IMMEDIATE`` so two processes opening a new notebook cannot both migrate.
    """
    start = version(conn)
    if start > LATEST:
        raise SchemaTooNew(
            f"this notebook has schema v{start} but this labbook knows only v{LATEST}; "
            "upgrade labbook (pip install -U labbook)"
        )
    if start >= target:
        return start  # the common case: no write lock taken just to open
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = version(conn)
            if current >= target:
                conn.execute("COMMIT")
                return start
            MIGRATIONS[current](conn)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
