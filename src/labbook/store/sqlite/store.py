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
``StoreError`` subclasses with one actionable line, in one place: ``_tx``, ``_read`` and
opening (``_translated``). Errors in the SQL itself (``SQLITE_ERROR``, constraints) pass
through unchanged: callers expect some (a bad FTS5 query, a duplicate resolution), and
the rest are labbook's bugs, which the CLI reports as such.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labbook.core.query import Expr, RunField, SortKey
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
from labbook.records.runs import (
    CRASHED,
    PENDING,
    RUNNING,
    BatchSummary,
    Fields,
    LiveRow,
    MetricSummary,
    NewRun,
    Owner,
    RunRecord,
)
from labbook.store.sqlite import migrations
from labbook.store.sqlite.failures import FailuresStore
from labbook.store.sqlite.journal import JournalStore
from labbook.store.sqlite.papers import PapersStore
from labbook.store.sqlite.problems import ProblemsStore
from labbook.store.sqlite.query import order_sql, where_sql
from labbook.store.sqlite.research import ResearchStore

BUSY_TIMEOUT_S = 60.0
ENV_BUSY_TIMEOUT = "LABBOOK_BUSY_TIMEOUT"

_NEWEST_FIRST = (SortKey(RunField("id"), desc=True),)
_RUN_COLUMNS = (
    "id, uid, name, status, created_at, started_at, ended_at, exit_code, note, command, "
    "cwd, host, pid, source, heartbeat_at, hyp_id, sweep_id, job_id, job_state"
)


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
    except BaseException:
        conn.close()
        raise
    return conn


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


def _views(value: Any) -> tuple[str, float | None, str | None]:
    """JSON, numeric and text views of a parameter or summary value.

    ``value`` (JSON) is what reads back, so it must be exact: Python's json writes ints
    of any size, so 10**400 is kept to the last digit, and lone surrogates as escapes.
    ``num`` is what ``--where`` compares: a float, so an int beyond a double's range is
    ±inf (still above or below every finite bound, as the int is, though ``==`` cannot
    tell two such ints apart), and NaN, text and lists are NULL (no order makes sense).
    ``text`` is the text view of a string (``~``), with what UTF-8 cannot encode shown as
    escapes. Raises ``ValueError`` for a value JSON cannot hold (a circular or too deep
    structure, an int longer than Python will print, 4300 digits by default): the caller
    names the key and refuses it before writing anything.
    """
    num = None
    text = None
    if isinstance(value, bool):
        num, text = float(value), "true" if value else "false"
    elif isinstance(value, int):
        try:
            num = float(value)
        except OverflowError:
            num = math.inf if value > 0 else -math.inf
    elif isinstance(value, float):
        num = None if math.isnan(value) else value
    elif isinstance(value, str):
        text = value if _encodable(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        as_json = json.dumps(value, default=str, allow_nan=True)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (TypeError, ValueError) as err:
        if "integer string conversion" in str(err):
            raise ValueError(f"an integer of more than {sys.get_int_max_str_digits()} digits") from None
        raise ValueError(str(err).splitlines()[0] or type(err).__name__) from None
    return as_json, num, text


def _encodable(text: str) -> bool:
    """Whether SQLite can hold ``text`` as TEXT (UTF-8: no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_UPSERT_KEYED = (
    "INSERT INTO {table} (run_id, key, value, num, text) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num, text = excluded.text"
)


def _keyed_rows(what: str, values: Mapping[str, Any]) -> list[tuple[str, str, float | None, str | None]]:
    """(key, value, num, text) rows, every one checked first: BadInput names what cannot be stored."""
    rows = []
    for key, value in values.items():
        name = key if isinstance(key, str) else str(key)
        shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
        if not _encodable(name):
            raise BadInput(f"the {what} name {shown} is not valid Unicode text (a lone surrogate); rename it")
        try:
            rows.append((name, *_views(value)))
        except ValueError as err:
            raise BadInput(
                f"the {what} {shown} cannot be stored ({err}); give a number, text, or a list or mapping of them"
            ) from None
    return rows


class SQLiteStore(ResearchStore, JournalStore, PapersStore, ProblemsStore, FailuresStore):
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.busy_timeout = busy_timeout()
        self.read_only = not writable(path)  # also set by _open when SQLite finds out on its own
        self._lock = threading.RLock()
        with self._translated():
            self._conn = self._open()

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

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The store boundary: sqlite3 errors of the surroundings become one-line StoreErrors."""
        try:
            yield
        except sqlite3.Error as err:
            failure = _translate(err, self.path, self.busy_timeout)
            if failure is None:
                raise
            raise failure from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise NotebookReadOnly.at(self.path.parent)
        with self._lock, self._translated():
            conn = self._conn
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

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._translated():
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writes --------------------------------------------------------------
    def create_run(self, run: NewRun) -> int:
        """The run row, its tags and its params in one transaction: all of them or nothing."""
        o = run.owner
        params = _keyed_rows("parameter", run.params or {})
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO runs (uid, name, status, created_at, started_at, note, command, cwd,"
                " host, pid, pid_started, boot_id, heartbeat_at, source, hyp_id, sweep_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.uid,
                    run.name,
                    PENDING if run.pending else RUNNING,
                    run.created_at,
                    None if run.pending else run.created_at,
                    run.note,
                    json.dumps(run.command) if run.command is not None else None,
                    run.cwd,
                    o.host,
                    o.pid,
                    o.pid_started,
                    o.boot_id,
                    run.created_at,
                    run.source,
                    run.hyp_id,
                    run.sweep_id,
                ),
            )
            run_id = int(cur.lastrowid or 0)
            c.executemany(
                "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?, ?)",
                [(run_id, t) for t in run.tags],
            )
            c.executemany(_UPSERT_KEYED.format(table="params"), [(run_id, *row) for row in params])
        return run_id

    def set_capture(self, run_id: int, capture: dict[str, Any]) -> None:
        with self._tx() as c:
            (raw,) = c.execute("SELECT capture FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = json.loads(raw or "{}")
            for key, value in capture.items():
                if key in migrations.BLOB_FIELDS and isinstance(value, str):
                    value = {"blob": migrations.put_blob(c, value)}
                merged[key] = value
            c.execute("UPDATE runs SET capture = ? WHERE id = ?", (json.dumps(merged), run_id))

    def _set_keyed(self, table: str, what: str, run_id: int, values: dict[str, Any]) -> None:
        rows = [(run_id, *row) for row in _keyed_rows(what, values)]  # all checked before writing
        with self._tx() as c:
            c.executemany(_UPSERT_KEYED.format(table=table), rows)

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        self._set_keyed("params", "parameter", run_id, params)

    def set_summary(self, run_id: int, values: dict[str, Any]) -> None:
        self._set_keyed("summary", "summary value", run_id, values)

    def fill_in(self, run_id: int, name: str | None, note: str | None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET name = coalesce(name, ?), note = coalesce(note, ?) WHERE id = ?",
                (name, note, run_id),
            )

    def add_tags(self, run_id: int, tags: tuple[str, ...]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?, ?)", [(run_id, t) for t in tags]
            )

    def merge_metrics(self, run_id: int, batches: list[BatchSummary]) -> None:
        now = time.time()
        rows = [
            (
                run_id,
                b.key,
                b.count,
                b.nan_count,
                None if math.isnan(b.last) else b.last,
                int(math.isnan(b.last)),
                b.last_step,
                b.min,
                b.max,
                b.sum,
                b.lost,
                now,
                now,
            )
            for b in batches
        ]
        # A batch of only lost points (count 0) adds to ``lost`` and leaves ``last`` as it was.
        with self._tx() as c:
            c.executemany(
                "INSERT INTO metrics (run_id, key, count, nan_count, last, last_nan, last_step,"
                " min, max, sum, lost, updated_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, key) DO UPDATE SET"
                " count = count + excluded.count,"
                " nan_count = nan_count + excluded.nan_count,"
                " last = CASE WHEN excluded.count > 0 THEN excluded.last ELSE last END,"
                " last_nan = CASE WHEN excluded.count > 0 THEN excluded.last_nan ELSE last_nan END,"
                " last_step = CASE WHEN excluded.count > 0 THEN excluded.last_step ELSE last_step END,"
                " lost = lost + excluded.lost,"
                " min = min(coalesce(min, excluded.min), coalesce(excluded.min, min)),"
                " max = max(coalesce(max, excluded.max), coalesce(excluded.max, max)),"
                " sum = sum + excluded.sum,"
                " updated_at = excluded.updated_at",
                rows,
            )
            c.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = ?", (now, run_id, RUNNING))

    def replace_metrics(self, run_id: int, summaries: list[BatchSummary]) -> None:
        """Set summaries outright (rebuilt from the series files), keeping when each began."""
        now = time.time()
        with self._tx() as c:
            for b in summaries:
                nan_last = math.isnan(b.last)
                c.execute(
                    "INSERT INTO metrics (run_id, key, count, nan_count, last, last_nan, last_step, min, max, sum,"
                    " updated_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, key) DO UPDATE SET count = excluded.count,"
                    " nan_count = excluded.nan_count, last = excluded.last, last_nan = excluded.last_nan,"
                    " last_step = excluded.last_step, min = excluded.min, max = excluded.max, sum = excluded.sum,"
                    " updated_at = excluded.updated_at",
                    (
                        run_id,
                        b.key,
                        b.count,
                        b.nan_count,
                        None if nan_last else b.last,
                        int(nan_last),
                        b.last_step,
                        b.min,
                        b.max,
                        b.sum,
                        now,
                        now,
                    ),
                )

    def heartbeat(self, run_id: int, now: float) -> None:
        # A run wrongly taken for crashed (its host was unreachable) comes back to life.
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET heartbeat_at = ?, status = ?, ended_at = NULL"
                " WHERE id = ? AND status IN (?, ?)",
                (now, RUNNING, run_id, RUNNING, CRASHED),
            )

    def end_run(self, run_id: int, status: str, ended_at: float, exit_code: int | None) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, heartbeat_at = ?"
                " WHERE id = ? AND status IN (?, ?, ?)",
                (status, ended_at, exit_code, ended_at, run_id, RUNNING, CRASHED, PENDING),
            )
            return cur.rowcount > 0

    def adopt_run(self, run_id: int, owner: Owner, started_at: float, cwd: str) -> bool:
        """A pending run becomes running, owned by the process that now runs it; once only."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, started_at = ?, heartbeat_at = ?, cwd = ?,"
                " host = ?, pid = ?, pid_started = ?, boot_id = ? WHERE id = ? AND status = ?",
                (RUNNING, started_at, started_at, cwd, owner.host, owner.pid, owner.pid_started,
                 owner.boot_id, run_id, PENDING),
            )  # fmt: skip
            return cur.rowcount > 0

    def delete_pending(self, ids: list[int]) -> None:
        with self._tx() as c:
            c.executemany("DELETE FROM runs WHERE id = ? AND status = ?", [(i, PENDING) for i in ids])

    def set_job(self, run_id: int, job_id: str | None, job_state: str | None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET job_id = coalesce(?, job_id), job_state = coalesce(?, job_state)"
                " WHERE id = ?",
                (job_id, job_state, run_id),
            )

    def mark_crashed(self, ids: list[int], now: float) -> None:
        if not ids:
            return
        with self._tx() as c:
            c.executemany(
                "UPDATE runs SET status = ?, ended_at = coalesce(heartbeat_at, ?)"
                " WHERE id = ? AND status = ?",
                [(CRASHED, now, i, RUNNING) for i in ids],
            )

    # -- reads ---------------------------------------------------------------
    def live_runs(self) -> list[LiveRow]:
        rows = self._read(
            "SELECT id, host, pid, pid_started, boot_id, heartbeat_at FROM runs WHERE status = ?",
            (RUNNING,),
        )
        return [LiveRow(i, Owner(h, p, ps, b) if h and p else None, hb) for i, h, p, ps, b, hb in rows]

    def find_run_ids(self, ref: str) -> list[int]:
        if ref.isascii() and ref.isdigit():
            if len(ref) > 19 or int(ref) >= 2**63:  # beyond any row id: SQLite binds 64 bits at most
                return []
            return [r[0] for r in self._read("SELECT id FROM runs WHERE id = ?", (int(ref),))]
        by_name = self._read("SELECT id FROM runs WHERE name = ? ORDER BY id", (ref,))
        if by_name:
            return [r[0] for r in by_name]
        if len(ref) >= 4 and all(ch in "0123456789abcdef" for ch in ref.lower()):
            pattern = ref.lower().replace("%", "") + "%"
            return [r[0] for r in self._read("SELECT id FROM runs WHERE uid LIKE ?", (pattern,))]
        return []

    def unfinished_jobs(self) -> list[tuple[int, str, str]]:
        """(run id, job id, status) of pending or running runs that a cluster job runs."""
        rows = self._read(
            "SELECT id, job_id, status FROM runs WHERE status IN (?, ?) AND job_id IS NOT NULL",
            (PENDING, RUNNING),
        )
        return [(int(i), str(j), str(s)) for i, j, s in rows]

    def get_run(self, run_id: int) -> RunRecord | None:
        runs = self._load(f"SELECT {_RUN_COLUMNS}, capture FROM runs WHERE id = ?", [run_id], True)
        return runs[0] if runs else None

    def blob(self, digest: str) -> str | None:
        rows = self._read("SELECT data FROM blobs WHERE hash = ?", (digest,))
        return rows[0][0] if rows else None

    def query_runs(
        self, where: Expr | None, order: Sequence[SortKey], limit: int | None
    ) -> tuple[list[RunRecord], int]:
        clause, params = "", []
        if where is not None:
            cond, params = where_sql(where)
            clause = "WHERE " + cond
        (total,) = self._read(f"SELECT count(*) FROM runs r {clause}", params)[0]
        ordering, order_params = order_sql(order or _NEWEST_FIRST)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs r {clause} ORDER BY {ordering}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._load(sql, params + order_params, False), total

    def _load(self, sql: str, params: list[Any], with_capture: bool) -> list[RunRecord]:
        rows = self._read(sql, params)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        tags: dict[int, list[str]] = {}
        for rid, tag in self._read(
            f"SELECT run_id, tag FROM tags WHERE run_id IN ({marks}) ORDER BY tag", ids
        ):
            tags.setdefault(rid, []).append(tag)
        params_by = self._keyed("params", ids, marks)
        summary_by = self._keyed("summary", ids, marks)
        metrics: dict[int, dict[str, MetricSummary]] = {}
        for rid, key, cnt, nans, last, last_nan, step, lo, hi, tot, lost in self._read(
            "SELECT run_id, key, count, nan_count, last, last_nan, last_step, min, max, sum, lost"
            f" FROM metrics WHERE run_id IN ({marks}) ORDER BY key",
            ids,
        ):
            nan = math.nan
            metrics.setdefault(rid, {})[key] = MetricSummary(
                key,
                cnt,
                nans,
                nan if last_nan or last is None else last,
                step,
                nan if lo is None else lo,
                nan if hi is None else hi,
                tot or 0.0,
                lost,
            )
        out = []
        for row in rows:
            head = list(row[:15])  # the RunRecord fields in column order, up to heartbeat_at
            rid, command = head[0], head[9]
            head[9] = json.loads(command) if command else None
            capture = json.loads(row[19] or "{}") if with_capture else {}
            out.append(
                RunRecord(
                    *head,
                    tuple(tags.get(rid, ())),
                    params_by.get(rid, {}),
                    metrics.get(rid, {}),
                    summary_by.get(rid, {}),
                    capture,
                    row[15],  # hyp_id
                    row[16],  # sweep_id
                    row[17],  # job_id
                    row[18],  # job_state
                )
            )
        return out

    def _keyed(self, table: str, ids: list[int], marks: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for rid, key, value in self._read(
            f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks}) ORDER BY key", ids
        ):
            out.setdefault(rid, {})[key] = json.loads(value) if value is not None else None
        return out

    def fields(self) -> Fields:
        def keys(table: str) -> frozenset[str]:
            return frozenset(r[0] for r in self._read(f"SELECT DISTINCT key FROM {table}"))

        return Fields(keys("params"), keys("metrics"), keys("summary"))

    # -- maintenance ---------------------------------------------------------
    def backup(self, path: Path) -> None:
        target = sqlite3.connect(str(path))
        try:
            with self._lock, self._translated():
                self._conn.backup(target)
        finally:
            target.close()

    def integrity(self) -> list[str]:
        """What SQLite's ``integrity_check`` finds wrong (empty when the database is sound)."""
        try:
            rows = [str(r[0]) for r in self._read("PRAGMA integrity_check")]
        except NotebookCorrupt as err:  # too damaged for the check itself to finish
            return [str(err)]
        if rows == ["ok"]:
            return []
        lines = (line.strip() for row in rows for line in row.splitlines())
        return [line for line in lines if line and not line.startswith("*** in database")]
