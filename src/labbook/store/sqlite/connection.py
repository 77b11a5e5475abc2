"""The embedded store: one SQLite file in WAL mode (rollback journal on network filesystems).

Writers take ``BEGIN IMMEDIATE`` so that lock upgrades never fail midway, and wait up
to a minute for a busy database: many processes logging at once queue rather than see
"database is locked". ``LABBOOK_BUSY_TIMEOUT`` (seconds, read when connecting) changes the
wait. ``synchronous=NORMAL`` keeps commits off fsync; in WAL mode that loses nothing when
a process is killed, only (at worst) the last commits on power loss.

WAL keeps its index in shared memory, which processes on different machines do not
share: on NFS, Lustre, GPFS and the like (a notebook that Slurm nodes write to) the
database uses the rollback journal instead, which needs only the filesystem's locks.
``LABBOOK_SQLITE_JOURNAL=wal|delete`` overrides the choice.

A notebook whose file or directory is not writable (permissions, a read-only mount) is
opened read-only: ``mode=ro``, which reads a WAL database while its -shm exists or can be
made, else ``immutable=1`` (no locks, no WAL: nobody can be writing it). No journal mode
is set and nothing migrates; every write raises ``NotebookReadOnly`` before touching it.

Failures of the database's surroundings (busy, full, read-only, damaged, I/O) become
``StoreError`` subclasses with one actionable line, in one place: ``Database.tx``, ``Database.read`` and
opening (``Database.translated``). Errors in the SQL itself (``SQLITE_ERROR``, constraints) pass
through unchanged: callers expect some (a bad FTS5 query, a duplicate resolution), and
the rest are labbook's bugs, which the CLI reports as such.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labbook.errors import (
    BadInput,
    LabbookError,
    NotebookBusy,
    NotebookCorrupt,
    NotebookFull,
    NotebookReadOnly,
    QueryError,
    StoreError,
)
from labbook.store.sqlite import migrations
from labbook.store.sqlite.dialect import SQLITE

BUSY_TIMEOUT_S = 60.0
ENV_BUSY_TIMEOUT = "LABBOOK_BUSY_TIMEOUT"


NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph-fuse",
     "fuse.sshfs", "9p", "afs", "glusterfs", "fuse.glusterfs", "panfs", "wekafs"}
)  # fmt: skip


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (from /proc/mounts; None where unknown)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    target = str(path.resolve())
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def journal_mode(path: Path) -> str:
    """``wal`` on local disks, ``delete`` (the rollback journal) where writers may be on other hosts."""
    chosen = os.environ.get("LABBOOK_SQLITE_JOURNAL", "").lower()
    if chosen in ("wal", "delete"):
        return chosen
    return "delete" if filesystem_type(path.parent) in NETWORK_FILESYSTEMS else "wal"


def busy_timeout() -> float:
    """Seconds a writer waits for another's lock: ``$LABBOOK_BUSY_TIMEOUT``, else a minute."""
    raw = os.environ.get(ENV_BUSY_TIMEOUT, "").strip()
    if not raw:
        return BUSY_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= 1e6:
        raise BadInput(f"{ENV_BUSY_TIMEOUT} must be a number of seconds (such as 60), not {raw!r}")
    return seconds


def connect(path: Path, *, read_only: bool = False, timeout: float | None = None) -> sqlite3.Connection:
    """A connection with labbook's settings; ``read_only`` writes nothing, not even a -shm."""
    wait = busy_timeout() if timeout is None else timeout
    if read_only:
        conn = _connect_read_only(path, wait)
    else:
        conn = sqlite3.connect(str(path), timeout=wait, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        if not read_only:
            conn.execute(f"PRAGMA journal_mode = {journal_mode(path).upper()}")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_function("casefold", 1, _casefold, deterministic=True)
    except BaseException:
        conn.close()
        raise
    return conn


def _casefold(value: Any) -> Any:
    """Case folding for every script (SQLite's ``lower`` folds A-Z only); numbers as their text."""
    if value is None or isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(value)).casefold()


def _connect_read_only(path: Path, wait: float) -> sqlite3.Connection:
    """``mode=ro`` if SQLite can read that way, else ``immutable=1`` (see the module docstring)."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(
        f"{uri}?mode=ro", uri=True, timeout=wait, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL index, if any
        return conn
    except sqlite3.OperationalError as err:
        conn.close()
        if _primary(err) not in (SQLITE_READONLY, SQLITE_CANTOPEN):
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # immutable=1 would ignore the WAL and show an older notebook as if it were current.
        raise NotebookReadOnly(
            f"the notebook at {path.parent} is read-only and its latest writes are still in {wal.name},"
            " which SQLite reads only with write access; open it once where it is writable"
        )
    return sqlite3.connect(
        f"{uri}?mode=ro&immutable=1", uri=True, timeout=wait, isolation_level=None, check_same_thread=False
    )


def writable(path: Path) -> bool:
    """Whether SQLite may write the database and create its -wal/-shm/-journal beside it."""
    if not path.exists():
        return True  # to be created; a directory that cannot hold it fails when connecting
    effective = os.access in os.supports_effective_ids
    return all(os.access(p, os.W_OK, effective_ids=effective) for p in (path, path.parent))


# Primary result codes (the low byte of an extended code) of the failures _translate knows.
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY = 3, 5, 6, 7, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL = 10, 11, 13, 14, 15
SQLITE_TOOBIG, SQLITE_NOTADB = 18, 26
_TOO_COMPLEX = ("parser stack overflow", "Expression tree is too large")  # SQLITE_ERROR, but the input's size


def _primary(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _translate(err: sqlite3.Error, path: Path, wait: float) -> LabbookError | None:
    """The one-line error a user gets for ``err``; None for an error in the SQL itself."""
    code = _primary(err)
    where = path.parent
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return NotebookBusy(
            f"the notebook database {path} stayed locked by another process for {wait:g} s;"
            f" try again when it is done (${ENV_BUSY_TIMEOUT} sets how long to wait)"
        )
    if code == SQLITE_FULL or (code == SQLITE_IOERR and _disk_full(where)):
        return NotebookFull.at(where)
    if code == SQLITE_READONLY:
        return NotebookReadOnly.at(where)
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return NotebookCorrupt(f"the notebook database {path} is damaged ({err}); run `lab verify`")
    if code == SQLITE_IOERR:
        return StoreError(
            f"a disk I/O error on the notebook database {path}; check the disk, then run `lab verify`"
        )
    if code in (SQLITE_CANTOPEN, SQLITE_PERM):
        return StoreError(
            f"cannot open the notebook database {path} ({err}); check that it exists and that you may read it"
        )
    if code == SQLITE_TOOBIG:
        return BadInput(
            "a value is larger than the notebook database holds (1 GB); keep it in a file instead"
        )
    if code == SQLITE_NOMEM:
        return StoreError("SQLite ran out of memory; close other programs or ask for less (--limit)")
    if any(str(err).startswith(text) for text in _TOO_COMPLEX):
        # Only generated SQL nests or grows with what the user typed: a --where, a list of ids.
        return QueryError(f"the query is too complex for SQLite ({err}); simplify the --where")
    if code is None or code in (1, 19, 20, 21, 25):  # ERROR, CONSTRAINT, MISMATCH, MISUSE, RANGE
        return None
    return StoreError(f"the notebook database {path} failed: {err}")  # PROTOCOL, AUTH, ...: rare, not SQL


def _disk_full(directory: Path) -> bool:
    """Whether the filesystem holding ``directory`` has (next to) no space left for us."""
    import shutil

    try:
        return shutil.disk_usage(directory).free < 64 * 1024
    except OSError:
        return False


class Database:
    """One SQLite connection, shared by the repositories of a store; safe to share between threads."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.busy_timeout = busy_timeout()
        self.read_only = not writable(path)  # also set by _open when SQLite finds out on its own
        self.lock = threading.RLock()
        with self.translated():
            self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        """Read-write and migrated; else read-only, checked against this labbook's schema."""
        if not self.read_only:
            conn = None
            try:
                conn = connect(self.path, timeout=self.busy_timeout)
                migrations.migrate(conn)
                return conn
            except BaseException as err:
                if conn is not None:
                    conn.close()
                if not (isinstance(err, sqlite3.OperationalError) and _primary(err) == SQLITE_READONLY):
                    raise
                self.read_only = True  # e.g. a mount the access check could not see through
        conn = connect(self.path, read_only=True, timeout=self.busy_timeout)
        try:
            current = migrations.version(conn)
            if current > migrations.LATEST:
                migrations.migrate(conn)  # raises SchemaTooNew before writing anything
            if current < migrations.LATEST:
                raise NotebookReadOnly(
                    f"the notebook at {self.path.parent} needs an upgrade (schema v{current} to"
                    f" v{migrations.LATEST}) but is read-only; open it once with write access,"
                    " or copy it (cp -r) somewhere writable and use the copy"
                )
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def translated(self) -> Iterator[None]:
        """The store boundary: sqlite3 errors of the surroundings become one-line StoreErrors."""
        try:
            yield
        except sqlite3.Error as err:
            failure = _translate(err, self.path, self.busy_timeout)
            if failure is None:
                raise
            raise failure from None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise NotebookReadOnly.at(self.path.parent)
        with self.lock, self.translated():
            conn = self.conn
            if conn.in_transaction:  # inside this thread's own (the lock is held): a savepoint in it
                yield from self._savepoint(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk, say)
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error being raised says more than this one
                raise

    @staticmethod
    def _savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("SAVEPOINT inner_tx")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO inner_tx")
                conn.execute("RELEASE inner_tx")
            raise
        conn.execute("RELEASE inner_tx")

    def read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self.lock, self.translated():
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # -- maintenance ---------------------------------------------------------
    def backup(self, path: Path) -> None:
        target = sqlite3.connect(str(path))
        try:
            with self.lock, self.translated():
                self.conn.backup(target)
        finally:
            target.close()

    def integrity(self) -> list[str]:
        """What SQLite's ``integrity_check`` finds wrong (empty when the database is sound)."""
        try:
            rows = [str(r[0]) for r in self.read("PRAGMA integrity_check")]
        except NotebookCorrupt as err:  # too damaged for the check itself to finish
            return [str(err)]
        if rows == ["ok"]:
            return []
        lines = (line.strip() for row in rows for line in row.splitlines())
        return [line for line in lines if line and not line.startswith("*** in database")]
