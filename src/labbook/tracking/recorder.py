"""Metric points from ``run.log`` to disk, off the hot path, whatever the disk and database do.

``log`` only validates and appends to in-memory lists under a lock. Two background
threads do the rest, so that neither the disk nor the database can hold up the other:

- the *writer* swaps the buffer out every ``FLUSH_S`` (``BUSY_FLUSH_S`` under heavy
  logging; counted from the start of the previous swap, so a slow write does not stretch
  the cycle), encodes one block per metric and appends them to this writer's own series
  file. It never touches the database.
- the *keeper* merges the summaries of what was written (count, NaN count, last, min,
  max, sum) into the store, heartbeats, samples system metrics and, inside ``lab run``,
  watches the supervisor. It may wait on a locked database as long as it must: nothing
  else waits for it.

``log`` waits only when the writer has fallen more than ``MAX_LAG_S`` behind (a tight
loop logging faster than its points can be encoded): then it blocks until the next write
completes. That back-pressure is what keeps every point logged more than a second before
a ``kill -9`` on disk. A failing disk switches it off: points stay buffered (up to
``MAX_BUFFERED``), one line on stderr says what is happening, writing resumes when space
returns, and the points that could not be kept are counted per metric (``lost``) and
shown on the run.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from labbook.core.summaries import combine, lost_summaries, summarize
from labbook.errors import MetricValueError
from labbook.formats.series import encode_block, to_ms
from labbook.records.runs import BatchSummary, CloseReport
from labbook.store.protocols import Store
from labbook.store.series.write import SeriesWriter

FLUSH_S = 0.5
#: Under heavy logging (a write of at least ``BUSY_POINTS``) the writer cycles twice as fast,
#: so a tight loop's points are on disk well within a second; light logging keeps the
#: longer cycle and half as many small blocks.
BUSY_FLUSH_S = 0.25
BUSY_POINTS = 10_000
#: log() waits for the writer once the newest completed write covers only points older than this.
MAX_LAG_S = 0.75
BUSY_LAG_S = 0.5  # the same under heavy logging, where the writer cycles every BUSY_FLUSH_S
MERGE_S = 0.5  # how often summaries are merged into the store (two small transactions a second)
RETRY_S = 1.0  # how often a failing disk is tried again
MAX_BUFFERED = 4_000_000  # points held in memory while the disk refuses them (~100 MB)
WATCH_S = 1.0  # how often an attached writer checks that lab run is still there
_NUMPY_BATCH = 50_000  # points in one write that repay importing numpy (in the writer thread)
_now = time.time
_BIG = 2**1000  # ints beyond this are checked for fitting a float64
MAX_KEY_LEN = 256

Columns = tuple[list[int], list[float], list[float]]


def _coerce(key: Any, value: Any) -> float:
    """Slow path for values that are not plain float/int (numpy scalars, tensors, bools)."""
    if isinstance(value, str | bytes | complex) or value is None or isinstance(value, Mapping):
        raise MetricValueError(
            f"metric {key!r} got {type(value).__name__} {value!r:.40}; log numbers only "
            "(put text in run.summary or a note)"
        )
    name = type(value).__name__
    if callable(getattr(value, "item", None)):
        value = _one_element(key, value, name)
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise MetricValueError(
            f"metric {key!r} got {name} that is not a single number; "
            "log one scalar per key (e.g. value.item())"
        ) from None


def _one_element(key: Any, value: Any, name: str) -> Any:
    """The Python number inside a one-element array or tensor (duck-typed, so torch and
    numpy are never imported here). A tensor is detached first: converting one that
    requires grad would warn, and its value is all a metric needs."""
    if callable(getattr(value, "detach", None)):
        value = value.detach()
    shape = getattr(value, "shape", ())
    try:
        size = math.prod(shape)
    except TypeError:  # a shape with unknown dimensions
        size = -1
    if size != 1:
        raise MetricValueError(
            f"metric {key!r} got {name} of shape {tuple(shape)}; "
            "log one scalar per key (e.g. value.mean().item())"
        )
    try:
        return value.item()
    except (TypeError, ValueError, RuntimeError):
        raise MetricValueError(f"metric {key!r} got {name} whose value cannot be read as a number") from None


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LEN or "\0" in key:
        raise MetricValueError(
            f"metric name {key!r:.60} is not valid; "
            f"use a non-empty string of at most {MAX_KEY_LEN} characters"
        )


def _check_step(step: Any) -> int:
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise MetricValueError(f"step must be an integer, got {step!r:.40}")
    whole = int(step)
    if not -(2**63) <= whole < 2**63:
        raise MetricValueError(f"step {whole} does not fit in 64 bits")
    return whole


def _prepare(steps: list[int], times: list[float], values: list[float]) -> tuple[Any, Any, Any]:
    """Columns as numpy arrays when numpy is loaded, else lists."""
    np = sys.modules.get("numpy")
    if np is not None and len(values) > 64:
        return (
            np.asarray(steps, dtype="<i8"),
            to_ms(np.asarray(times, dtype="<f8")),
            np.asarray(values, dtype="<f8"),
        )
    return steps, to_ms(times), values


class Recorder:
    """Buffers one writer's points and writes them in the background."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        metrics_dir: Path,
        writer: str,
        *,
        heartbeat_s: float | None = None,
        sampler: Callable[[], dict[str, float]] | None = None,
        sample_s: float = 10.0,
        flush_s: float = FLUSH_S,
        watch: Callable[[], bool] | None = None,
        on_orphaned: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._series = SeriesWriter(metrics_dir / f"{writer}.lbm", background=True)
        self._buf: dict[str, Columns] = {}
        self._lock = threading.Lock()  # the buffer
        self._io_lock = threading.Lock()  # the series file
        self._written = threading.Condition(threading.Lock())  # notified after every write attempt
        self._pending: dict[str, BatchSummary] = {}  # written to disk, not yet in the store
        self._pending_lock = threading.Lock()
        self._store_lock = threading.Lock()  # one summary merge at a time
        self._next_step = 0
        self._sys_step = 0
        #: Acknowledgement: every point logged before this time is on disk.
        self.written_upto = _now()
        #: Acknowledgement: how many points this writer has put on disk.
        self.written_points = 0
        #: Set to a list to record ``(covers_from, completed_at, points)`` per write (benchmarks):
        #: every point of a write was logged after ``covers_from``.
        self.trace: list[tuple[float, float, int]] | None = None
        self._lag = BUSY_LAG_S  # until the first write shows how heavily this run logs
        self._deadline = self.written_upto + self._lag  # log() waits for the writer after this
        self._failing: str | None = None  # why the disk refuses writes, while it does
        self._buffered = 0  # points held while the disk refuses them
        self._lost: dict[str, int] = {}  # dropped for want of memory or disk, not yet in the store
        self._lost_total = 0
        self._heartbeat_s = heartbeat_s
        self._sampler = sampler
        self._sample_s = sample_s
        self._flush_s = flush_s
        self._watch = watch
        self._on_orphaned = on_orphaned
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._warned: set[str] = set()
        self.closed = False
        self._report: CloseReport | None = None
        self._writer = threading.Thread(target=self._write_loop, name="labbook-writer", daemon=True)
        self._keeper = threading.Thread(target=self._keep_loop, name="labbook-keeper", daemon=True)
        self._writer.start()
        self._keeper.start()

    # -- hot path ------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        if self.closed:
            raise MetricValueError("this run has finished; start a new one with labbook.init()")
        t = _now()
        if t > self._deadline:
            self._catch_up(t)
        with self._lock:
            if step is None:
                step = self._next_step
            elif step.__class__ is not int:
                step = _check_step(step)
            before, self._next_step = self._next_step, step + 1
            buf = self._buf
            if self._failing is not None and not self._room(data):
                return
            key = None
            try:
                for key, value in data.items():
                    cls = value.__class__
                    if cls is not float and (cls is not int or not -_BIG < value < _BIG):
                        value = _coerce(key, value)
                    cols = buf.get(key)
                    if cols is None:
                        _check_key(key)
                        cols = buf[key] = ([], [], [])
                    cols[0].append(step)
                    cols[1].append(t)
                    cols[2].append(value)
            except MetricValueError:
                self._take_back(data, key, before)
                raise

    def _take_back(self, data: Mapping[str, Any], failed: Any, next_step: int) -> None:
        """A call with a bad value logs none of its values (the caller holds ``_lock``)."""
        for key in data:
            if key == failed:
                break
            cols = self._buf[key]
            for col in cols:
                col.pop()
            if not cols[2]:
                del self._buf[key]
        self._next_step = next_step
        if self._failing is not None:
            self._buffered -= len(data)

    def log_points(self, key: str, steps: list[int], times: list[float], values: list[float]) -> None:
        """Points that carry their own steps and times (read from a TensorBoard event file):
        kept as they were logged, apart from ``log``'s step counter and back-pressure."""
        _check_key(key)
        with self._lock:
            if self._failing is not None:
                if self._buffered + len(values) > MAX_BUFFERED:
                    self._lost[key] = self._lost.get(key, 0) + len(values)
                    self._lost_total += len(values)
                    return
                self._buffered += len(values)
            cols = self._buf.get(key) or self._buf.setdefault(key, ([], [], []))
            cols[0].extend(steps)
            cols[1].extend(times)
            cols[2].extend(values)

    def _room(self, data: Mapping[str, Any]) -> bool:
        """While the disk refuses writes: keep points up to the bound, count the rest as lost."""
        if self._buffered + len(data) <= MAX_BUFFERED:
            self._buffered += len(data)
            return True
        for key in data:
            _check_key(key)
            self._lost[key] = self._lost.get(key, 0) + 1
        self._lost_total += len(data)
        return False

    def _catch_up(self, t: float) -> None:
        """Back-pressure: wait (GIL released) until a write covers the points older than the lag."""
        with self._written:
            while t > self._deadline and not self._stop.is_set() and self._writer.is_alive():
                self._wake.set()
                self._written.wait(0.5)

    def log_system(self, data: Mapping[str, float]) -> None:
        """System samples carry their own step counter, apart from the user's."""
        if not data:
            return
        t = time.time()
        with self._lock:
            for key, value in data.items():
                cols = self._buf.setdefault(key, ([], [], []))
                cols[0].append(self._sys_step)
                cols[1].append(t)
                cols[2].append(float(value))
            self._sys_step += 1

    # -- the writer ------------------------------------------------------------
    def _write_loop(self) -> None:
        next_at = time.monotonic() + BUSY_FLUSH_S
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_at - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            start = time.monotonic()
            before = self.written_points
            self.write()
            busy = self.written_points - before >= BUSY_POINTS
            self._lag = BUSY_LAG_S if busy else MAX_LAG_S
            period = RETRY_S if self._failing is not None else BUSY_FLUSH_S if busy else self._flush_s
            next_at = start + period

    def write(self) -> bool:
        """Append what is buffered to the series file; False if the disk refused it (kept buffered)."""
        with self._io_lock:
            with self._lock:
                buf, self._buf = self._buf, {}
                held, self._buffered = self._buffered, 0
                swapped_at = _now()
            before = self.written_points
            ok = not buf or self._append(buf, held)
            if ok:
                if self.trace is not None and buf:
                    self.trace.append((self.written_upto, _now(), self.written_points - before))
                self.written_upto = swapped_at
            self._deadline = self.written_upto + self._lag if self._failing is None else math.inf
        with self._written:
            self._written.notify_all()
        return ok

    def _append(self, buf: dict[str, Columns], held: int) -> bool:
        try:
            if "numpy" not in sys.modules and sum(len(c[2]) for c in buf.values()) >= _NUMPY_BATCH:
                import numpy  # noqa: F401  # a batch this large is encoded several times faster with it
            prepared = {key: _prepare(*cols) for key, cols in buf.items()}
            self._series.append([encode_block(key, *cols) for key, cols in prepared.items()])
        except Exception as err:  # OSError from a full disk above all; the file was left as it was
            self._requeue(buf, held)
            self._fail(err)
            return False
        if self._failing is not None:
            self._failing = None
            self._say(f"writing the metrics of run {self._run_id} again{self._lost_note()}")
        self.written_points += sum(len(cols[2]) for cols in buf.values())
        summaries = [summarize(key, cols[0], cols[2]) for key, cols in prepared.items()]
        with self._pending_lock:
            for s in summaries:
                old = self._pending.get(s.key)
                self._pending[s.key] = s if old is None else combine(old, s)
        return True

    def _requeue(self, old: dict[str, Columns], held: int) -> None:
        with self._lock:
            for key, (s, t, v) in old.items():
                cols = self._buf.setdefault(key, ([], [], []))
                cols[0][:0], cols[1][:0], cols[2][:0] = s, t, v
            self._buffered += held or sum(len(cols[2]) for cols in old.values())

    def _fail(self, err: Exception) -> None:
        if self._failing is None:
            reason = getattr(err, "strerror", None) or str(err)
            self._failing = reason
            self._say(
                f"cannot write the metrics of run {self._run_id} to {self._series.path.parent} ({reason}); "
                f"keeping up to {MAX_BUFFERED:,} points in memory and retrying every {RETRY_S:g} s"
            )

    def _lost_note(self) -> str:
        return f"; {self._lost_total:,} points could not be kept" if self._lost_total else ""

    def _say(self, message: str) -> None:
        try:
            print(f"labbook: {message}", file=sys.stderr, flush=True)
        except (OSError, ValueError):  # no stderr left (a closed pipe): the run goes on regardless
            pass

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            self._say(message)

    # -- the keeper --------------------------------------------------------------
    def _keep_loop(self) -> None:
        now = time.monotonic()
        next_beat = now + (self._heartbeat_s or math.inf)
        next_sample = now + (self._sample_s if self._sampler else math.inf)
        next_watch = now + (WATCH_S if self._watch else math.inf)
        while not self._stop.wait(MERGE_S):
            self.store_summaries()
            now = time.monotonic()
            if now >= next_sample and self._sampler is not None:
                next_sample = now + self._sample_s
                try:
                    self.log_system(self._sampler())
                except Exception:
                    pass
            if now >= next_beat:
                next_beat = now + (self._heartbeat_s or math.inf)
                try:
                    self._store.runs.heartbeat(self._run_id, time.time())
                except Exception as err:
                    self._warn_once("heartbeat", f"could not heartbeat run {self._run_id} ({err})")
            if now >= next_watch and self._watch is not None:
                next_watch = now + WATCH_S
                if not self._watch():
                    self.write()
                    if self._on_orphaned is not None:
                        self._on_orphaned()
                    next_watch = math.inf

    def _take_lost(self) -> list[BatchSummary]:
        with self._lock:
            lost, self._lost = self._lost, {}
        return lost_summaries(lost.items())

    def store_summaries(self) -> bool:
        """Merge what was written (and what was lost) into the store; True when nothing is left over."""
        with self._store_lock:
            with self._pending_lock:
                batch, self._pending = self._pending, {}
            for extra in self._take_lost():
                old = batch.get(extra.key)
                batch[extra.key] = extra if old is None else combine(old, extra)
            if not batch:
                return True
            try:
                self._store.runs.merge_metrics(self._run_id, list(batch.values()))
                return True
            except Exception as err:  # a busy, full or read-only database: keep them for the next try
                with self._pending_lock:
                    for key, s in batch.items():
                        newer = self._pending.get(key)
                        self._pending[key] = s if newer is None else combine(s, newer)
                self._warn_once(
                    "summaries",
                    f"could not update the metric summaries of run {self._run_id} ({err}); retrying",
                )
                return False

    def flush(self) -> None:
        """Write everything buffered and merge its summaries now (the caller is about to read them)."""
        self.write()
        self.store_summaries()

    # -- closing -------------------------------------------------------------------
    def close(self) -> CloseReport:
        """Stop the threads, write everything, merge the summaries and compact the series file."""
        if self._report is not None:
            return self._report
        self.closed = True
        self._stop.set()
        self._wake.set()
        for thread in (self._writer, self._keeper):
            if thread is not threading.current_thread():
                thread.join()
        if not self.write():
            self._drop_buffer()
        stored = self.store_summaries()
        lost = {} if stored else self._unstored_lost()
        warning = self._series.close(compact=self._series.blocks > 32).warning
        self._report = CloseReport(lost, stored, warning)
        return self._report

    def _drop_buffer(self) -> None:
        """The disk still refuses the last points as the run ends: they are lost, and counted."""
        with self._lock:
            buf, self._buf = self._buf, {}
            for key, cols in buf.items():
                self._lost[key] = self._lost.get(key, 0) + len(cols[2])
                self._lost_total += len(cols[2])
        self._say(f"run {self._run_id} ends with its disk still refusing writes{self._lost_note()}")

    def _unstored_lost(self) -> dict[str, int]:
        with self._pending_lock:
            return {key: s.lost for key, s in self._pending.items() if s.lost}


def writer_name() -> str:
    return f"{os.getpid()}-{os.urandom(3).hex()}"
