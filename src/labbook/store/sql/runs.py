"""Runs: their rows, tags, params, summaries, metric summaries and owners.

A run's row, tags and params are written in one transaction. A value is kept as its JSON
(so ints beyond 64 bits read back exact) beside the numeric and text views that
``--where`` compares.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labbook.errors import (
    BadInput,
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
from labbook.store.sql.db import Database, Dialect, Tx, named, text_view
from labbook.store.sql.run_edits import RunEdits

if TYPE_CHECKING:
    from labbook.core.query import Expr, SortKey
    from labbook.records.imports import NewImport

_RUN_COLUMNS = (
    "id, uid, name, status, created_at, started_at, ended_at, exit_code, note, command, "
    "cwd, host, pid, source, heartbeat_at, hyp_id, sweep_id, job_id, job_state, trashed_at, archived_at"
)
_CAPTURE_AT = 21  # the capture column's index, after _RUN_COLUMNS

#: Left out of every read of runs but the trash's own.
_VISIBLE = "r.trashed_at IS NULL"


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
        text = text_view(value)
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


_INSERT_METRIC = (
    "INSERT INTO metrics (run_id, key, count, nan_count, last, last_nan, last_step, min, max, sum,"
    " updated_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _metric_row(run_id: int, b: BatchSummary, at: float) -> tuple[Any, ...]:
    nan_last = math.isnan(b.last)
    return (run_id, b.key, b.count, b.nan_count, None if nan_last else b.last, int(nan_last), b.last_step,
            b.min, b.max, b.sum, at, at)  # fmt: skip


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


#: Capture fields that are large and repeat across runs: kept once in ``blobs``.
BLOB_FIELDS = ("packages", "patch")


def put_blob(c: Tx, data: str) -> str:
    digest = "sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()
    c.execute("INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT DO NOTHING", (digest, data))
    return digest


_TAG = "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING"


def merge_metrics_sql(dialect: Dialect) -> str:
    """The upsert adding a batch's summary to a metric's: counts add, min and max widen.

    A batch of only lost points (count 0) adds to ``lost`` and leaves ``last`` as it was.
    """
    least, greatest = dialect.least, dialect.greatest
    return (
        "INSERT INTO metrics AS m (run_id, key, count, nan_count, last, last_nan, last_step,"
        " min, max, sum, lost, updated_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, key) DO UPDATE SET"
        " count = m.count + excluded.count,"
        " nan_count = m.nan_count + excluded.nan_count,"
        " last = CASE WHEN excluded.count > 0 THEN excluded.last ELSE m.last END,"
        " last_nan = CASE WHEN excluded.count > 0 THEN excluded.last_nan ELSE m.last_nan END,"
        " last_step = CASE WHEN excluded.count > 0 THEN excluded.last_step ELSE m.last_step END,"
        " lost = m.lost + excluded.lost,"
        f" min = {least}(coalesce(m.min, excluded.min), coalesce(excluded.min, m.min)),"
        f" max = {greatest}(coalesce(m.max, excluded.max), coalesce(excluded.max, m.max)),"
        " sum = m.sum + excluded.sum,"
        " updated_at = excluded.updated_at"
    )


def metric_row(run_id: int, b: BatchSummary, at: float) -> tuple[Any, ...]:
    """A batch summary as the parameters of ``merge_metrics_sql``."""
    last_nan = math.isnan(b.last)
    return (run_id, b.key, b.count, b.nan_count, None if last_nan else b.last, int(last_nan), b.last_step,
            b.min, b.max, b.sum, b.lost, at, at)  # fmt: skip


class SqlRuns(RunEdits):
    """``RunStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _next_id(self, c: Tx) -> int:
        """One past every id a run has had: the journal still names runs that ``lab gc`` deleted."""
        (top,) = c.execute(
            f"SELECT {self.db.dialect.greatest}(coalesce((SELECT max(id) FROM runs), 0),"
            " coalesce((SELECT max(run_id) FROM run_events), 0))"
        ).fetchone()
        return int(top) + 1

    # -- writes --------------------------------------------------------------
    def create_run(self, run: NewRun) -> int:
        """The run row, its tags and its params in one transaction: all of them or nothing."""
        o = run.owner
        params = _keyed_rows("parameter", run.params or {})
        with self.db.tx() as c:
            run_id = self._next_id(c)
            c.execute(
                "INSERT INTO runs (id, uid, name, status, created_at, started_at, note, command, cwd,"
                " host, pid, pid_started, boot_id, heartbeat_at, source, hyp_id, sweep_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
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
            c.executemany(
                "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(run_id, t) for t in run.tags],
            )
            c.executemany(_UPSERT_KEYED.format(table="params"), [(run_id, *row) for row in params])
        return run_id

    def save_imported(self, run: NewImport) -> tuple[int, bool]:
        """The run of another tool, whole, in one transaction; (run id, whether it is new).

        Found again by its uid, it keeps its id and its notes and links, and everything read
        from the source (params, summaries, metrics, capture) is replaced.
        """
        params = _keyed_rows("parameter", run.params)
        summary = _keyed_rows("summary value", run.summary)
        with self.db.tx() as c:
            found = c.execute("SELECT id FROM runs WHERE uid = ?", (run.uid,)).fetchone()
            row = (run.name, run.status, run.started_at, run.ended_at, run.heartbeat_at, run.source)
            capture = json.dumps(run.capture)
            if found is None:
                run_id = self._next_id(c)
                c.execute(
                    "INSERT INTO runs (id, name, status, started_at, ended_at, heartbeat_at, source, uid,"
                    " created_at, host, capture) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, *row, run.uid, run.created_at, f"{run.source} import", capture),
                )
            else:
                run_id = int(found[0])
                c.execute(
                    "UPDATE runs SET name = ?, status = ?, started_at = ?, ended_at = ?, heartbeat_at = ?,"
                    " source = ?, capture = ? WHERE id = ?",
                    (*row, capture, run_id),
                )
                for table in ("params", "summary", "metrics"):
                    c.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            c.executemany(
                "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(run_id, t) for t in run.tags],
            )
            c.executemany(_UPSERT_KEYED.format(table="params"), [(run_id, *r) for r in params])
            c.executemany(_UPSERT_KEYED.format(table="summary"), [(run_id, *r) for r in summary])
            c.executemany(_INSERT_METRIC, [_metric_row(run_id, b, run.created_at) for b in run.metrics])
        return run_id, found is None

    def set_capture(self, run_id: int, capture: dict[str, Any]) -> None:
        with self.db.tx() as c:
            (raw,) = c.execute("SELECT capture FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = json.loads(raw or "{}")
            for key, value in capture.items():
                if key in BLOB_FIELDS and isinstance(value, str):
                    value = {"blob": put_blob(c, value)}
                merged[key] = value
            c.execute("UPDATE runs SET capture = ? WHERE id = ?", (json.dumps(merged), run_id))

    def _set_keyed(self, table: str, what: str, run_id: int, values: dict[str, Any]) -> None:
        rows = [(run_id, *row) for row in _keyed_rows(what, values)]  # all checked before writing
        with self.db.tx() as c:
            c.executemany(_UPSERT_KEYED.format(table=table), rows)

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        self._set_keyed("params", "parameter", run_id, params)

    def set_summary(self, run_id: int, values: dict[str, Any]) -> None:
        self._set_keyed("summary", "summary value", run_id, values)

    def fill_in(self, run_id: int, name: str | None, note: str | None) -> None:
        with self.db.tx() as c:
            c.execute(
                "UPDATE runs SET name = coalesce(name, ?), note = coalesce(note, ?) WHERE id = ?",
                (name, note, run_id),
            )

    def add_tags(self, run_id: int, tags: tuple[str, ...]) -> None:
        with self.db.tx() as c:
            c.executemany(
                "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(run_id, t) for t in tags],
            )

    def merge_metrics(self, run_id: int, batches: list[BatchSummary]) -> None:
        now = time.time()
        with self.db.tx() as c:
            c.executemany(merge_metrics_sql(self.db.dialect), [metric_row(run_id, b, now) for b in batches])
            c.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = ?", (now, run_id, RUNNING))

    def replace_metrics(self, run_id: int, summaries: list[BatchSummary]) -> None:
        """Set summaries outright (rebuilt from the series files), keeping when each began."""
        now = time.time()
        with self.db.tx() as c:
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
        with self.db.tx() as c:
            c.execute(
                "UPDATE runs SET heartbeat_at = ?, status = ?, ended_at = NULL"
                " WHERE id = ? AND status IN (?, ?)",
                (now, RUNNING, run_id, RUNNING, CRASHED),
            )

    def end_run(self, run_id: int, status: str, ended_at: float, exit_code: int | None) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, heartbeat_at = ?"
                " WHERE id = ? AND status IN (?, ?, ?)",
                (status, ended_at, exit_code, ended_at, run_id, RUNNING, CRASHED, PENDING),
            )
            return cur.rowcount > 0

    def adopt_run(self, run_id: int, owner: Owner, started_at: float, cwd: str) -> bool:
        """A pending run becomes running, owned by the process that now runs it; once only."""
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE runs SET status = ?, started_at = ?, heartbeat_at = ?, cwd = ?,"
                " host = ?, pid = ?, pid_started = ?, boot_id = ? WHERE id = ? AND status = ?",
                (RUNNING, started_at, started_at, cwd, owner.host, owner.pid, owner.pid_started,
                 owner.boot_id, run_id, PENDING),
            )  # fmt: skip
            return cur.rowcount > 0

    def delete_pending(self, ids: list[int]) -> None:
        with self.db.tx() as c:
            c.executemany("DELETE FROM runs WHERE id = ? AND status = ?", [(i, PENDING) for i in ids])

    def set_job(self, run_id: int, job_id: str | None, job_state: str | None) -> None:
        with self.db.tx() as c:
            c.execute(
                "UPDATE runs SET job_id = coalesce(?, job_id), job_state = coalesce(?, job_state)"
                " WHERE id = ?",
                (job_id, job_state, run_id),
            )

    def mark_crashed(self, ids: list[int], now: float) -> None:
        if not ids:
            return
        with self.db.tx() as c:
            c.executemany(
                "UPDATE runs SET status = ?, ended_at = coalesce(heartbeat_at, ?)"
                " WHERE id = ? AND status = ?",
                [(CRASHED, now, i, RUNNING) for i in ids],
            )

    # -- reads ---------------------------------------------------------------
    def live_runs(self) -> list[LiveRow]:
        rows = self.db.read(
            "SELECT id, host, pid, pid_started, boot_id, heartbeat_at FROM runs WHERE status = ?",
            (RUNNING,),
        )
        return [LiveRow(i, Owner(h, p, ps, b) if h and p else None, hb) for i, h, p, ps, b, hb in rows]

    def find_run_ids(self, ref: str, in_trash: bool = False) -> list[int]:
        """Ids of the runs ``ref`` names (id, name, uid prefix): those out of the trash, or those in it."""
        trash = " AND trashed_at IS NOT NULL" if in_trash else " AND trashed_at IS NULL"
        if ref.isascii() and ref.isdigit():
            if len(ref) > 19 or int(ref) >= 2**63:  # beyond any row id: SQLite binds 64 bits at most
                return []
            return [r[0] for r in self.db.read(f"SELECT id FROM runs WHERE id = ?{trash}", (int(ref),))]
        by_name = self.db.read(f"SELECT id FROM runs WHERE name = ?{trash} ORDER BY id", (ref,))
        if by_name:
            return [r[0] for r in by_name]
        if len(ref) >= 4 and all(ch in "0123456789abcdef" for ch in ref.lower()):
            pattern = ref.lower().replace("%", "") + "%"
            return [r[0] for r in self.db.read(f"SELECT id FROM runs WHERE uid LIKE ?{trash}", (pattern,))]
        return []

    def run_id_of_uid(self, uid: str) -> int | None:
        """The run with exactly this uid, in the trash or not (a uid of digits is still a uid)."""
        rows = self.db.read("SELECT id FROM runs WHERE uid = ?", (uid,))
        return int(rows[0][0]) if rows else None

    def unfinished_jobs(self) -> list[tuple[int, str, str]]:
        """(run id, job id, status) of pending or running runs that a cluster job runs."""
        rows = self.db.read(
            "SELECT id, job_id, status FROM runs WHERE status IN (?, ?) AND job_id IS NOT NULL",
            (PENDING, RUNNING),
        )
        return [(int(i), str(j), str(s)) for i, j, s in rows]

    def trashed_runs(self) -> list[RunRecord]:
        """The trash, most recently removed first."""
        return self._load(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE trashed_at IS NOT NULL ORDER BY trashed_at DESC, id",
            [],
            False,
        )

    def get_run(self, run_id: int) -> RunRecord | None:
        runs = self._load(f"SELECT {_RUN_COLUMNS}, capture FROM runs WHERE id = ?", [run_id], True)
        return runs[0] if runs else None

    def blob(self, digest: str) -> str | None:
        rows = self.db.read("SELECT data FROM blobs WHERE hash = ?", (digest,))
        return rows[0][0] if rows else None

    def query_runs(
        self,
        where: Expr | None,
        order: Sequence[SortKey],
        limit: int | None,
        archived: bool = True,
        offset: int = 0,
    ) -> tuple[list[RunRecord], int]:
        """Runs not in the trash (and not archived, unless ``archived``) matching ``where``.

        Ties are broken by id, newest first, so pages of one order never overlap.
        """
        conds, params = [_VISIBLE], list[Any]()
        if not archived:
            conds.append("r.archived_at IS NULL")
        if where is not None:
            cond, params = self.db.dialect.compiler().where_sql(where)
            conds.append(f"({cond})")
        clause = "WHERE " + " AND ".join(conds)
        (total,) = self.db.read(f"SELECT count(*) FROM runs r {clause}", params)[0]
        ordering, order_params = "r.id DESC", list[Any]()
        if order:
            ordering, order_params = self.db.dialect.compiler().order_sql(order)
            ordering += ", r.id DESC"
        sql = f"SELECT {_RUN_COLUMNS} FROM runs r {clause} ORDER BY {ordering}"
        if limit or offset:
            sql += f" LIMIT {int(limit) if limit else self.db.dialect.no_limit} OFFSET {max(int(offset), 0)}"
        return self._load(sql, params + order_params, False), total

    def _load(self, sql: str, params: list[Any], with_capture: bool) -> list[RunRecord]:
        rows = self.db.read(sql, params)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        tags: dict[int, list[str]] = {}
        for rid, tag in self.db.read(
            f"SELECT run_id, tag FROM tags WHERE run_id IN ({marks}) ORDER BY tag", ids
        ):
            tags.setdefault(rid, []).append(tag)
        params_by = self._keyed("params", ids, marks)
        summary_by = self._keyed("summary", ids, marks)
        metrics: dict[int, dict[str, MetricSummary]] = {}
        for rid, key, cnt, nans, last, last_nan, step, lo, hi, tot, lost in self.db.read(
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
            capture = json.loads(row[_CAPTURE_AT] or "{}") if with_capture else {}
            out.append(
                RunRecord(
                    **named(RunRecord, head),
                    tags=tuple(tags.get(rid, ())),
                    params=params_by.get(rid, {}),
                    metrics=metrics.get(rid, {}),
                    summary=summary_by.get(rid, {}),
                    capture=capture,
                    hyp_id=row[15],
                    sweep_id=row[16],
                    job_id=row[17],
                    job_state=row[18],
                    trashed_at=row[19],
                    archived_at=row[20],
                )
            )
        return out

    def _keyed(self, table: str, ids: list[int], marks: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for rid, key, value in self.db.read(
            f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks}) ORDER BY key", ids
        ):
            out.setdefault(rid, {})[key] = json.loads(value) if value is not None else None
        return out

    def fields(self) -> Fields:
        def keys(table: str) -> frozenset[str]:
            return frozenset(r[0] for r in self.db.read(f"SELECT DISTINCT key FROM {table}"))

        return Fields(keys("params"), keys("metrics"), keys("summary"))
