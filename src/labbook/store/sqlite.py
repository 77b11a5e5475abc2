"""The embedded store: one SQLite file in WAL mode (rollback journal on network filesystems).

Writers take ``BEGIN IMMEDIATE`` so that lock upgrades never fail midway, and wait up
to a minute for a busy database: many processes logging at once queue rather than see
"database is locked". ``synchronous=NORMAL`` keeps commits off fsync; in WAL mode that
loses nothing when a process is killed, only (at worst) the last commits on power loss.

WAL keeps its index in shared memory, which processes on different machines do not
share: on NFS, Lustre, GPFS and the like (a notebook that Slurm nodes write to) the
database uses the rollback journal instead, which needs only the filesystem's locks.
``LABBOOK_SQLITE_JOURNAL=wal|delete`` overrides the choice.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..model import CRASHED, PENDING, RUNNING, MetricSummary, RunRecord
from . import migrations
from .base import BatchSummary, Fields, LiveRow, NewRun, Owner
from .failures import FailuresStore
from .journal import JournalStore
from .papers import PapersStore
from .problems import ProblemsStore
from .research import ResearchStore

BUSY_TIMEOUT_S = 60.0

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


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute(f"PRAGMA journal_mode = {journal_mode(path).upper()}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _views(value: Any) -> tuple[str, float | None, str | None]:
    """JSON, numeric and text views of a parameter or summary value."""
    num = None
    text = None
    if isinstance(value, bool):
        num, text = float(value), "true" if value else "false"
    elif isinstance(value, int | float):
        num = float(value) if not (isinstance(value, float) and math.isnan(value)) else None
    elif isinstance(value, str):
        text = value
    return json.dumps(value, default=str, allow_nan=True), num, text


class SQLiteStore(ResearchStore, JournalStore, PapersStore, ProblemsStore, FailuresStore):
    """``Store`` over a SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = connect(path)
            migrations.migrate(self._conn)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open the notebook database {path}: {err}") from None
        self._lock = threading.RLock()

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writes --------------------------------------------------------------
    def create_run(self, run: NewRun) -> int:
        o = run.owner
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

    def _set_keyed(self, table: str, run_id: int, values: dict[str, Any]) -> None:
        rows = [(run_id, k, *_views(v)) for k, v in values.items()]
        with self._tx() as c:
            c.executemany(
                f"INSERT INTO {table} (run_id, key, value, num, text) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value,"
                " num = excluded.num, text = excluded.text",
                rows,
            )

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        self._set_keyed("params", run_id, params)

    def set_summary(self, run_id: int, values: dict[str, Any]) -> None:
        self._set_keyed("summary", run_id, values)

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
                now,
                now,
            )
            for b in batches
        ]
        with self._tx() as c:
            c.executemany(
                "INSERT INTO metrics (run_id, key, count, nan_count, last, last_nan, last_step,"
                " min, max, sum, updated_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, key) DO UPDATE SET"
                " count = count + excluded.count,"
                " nan_count = nan_count + excluded.nan_count,"
                " last = excluded.last, last_nan = excluded.last_nan,"
                " last_step = excluded.last_step,"
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
        if ref.isdigit():
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
        self,
        where: tuple[str, list[Any]] | None,
        order: list[tuple[str, list[Any], bool]],
        limit: int | None,
    ) -> tuple[list[RunRecord], int]:
        clause, params = ("WHERE " + where[0], list(where[1])) if where else ("", [])
        (total,) = self._read(f"SELECT count(*) FROM runs r {clause}", params)[0]
        order_sql, order_params = [], []
        for expr, expr_params, desc in order or [("r.id", [], True)]:
            order_sql.append(f"({expr}) IS NULL, ({expr}) {'DESC' if desc else 'ASC'}")
            order_params += expr_params + expr_params
        sql = f"SELECT {_RUN_COLUMNS} FROM runs r {clause} ORDER BY {', '.join(order_sql)}"
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
        for rid, key, cnt, nans, last, last_nan, step, lo, hi, tot in self._read(
            "SELECT run_id, key, count, nan_count, last, last_nan, last_step, min, max, sum"
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
            with self._lock:
                self._conn.backup(target)
        finally:
            target.close()
