"""Metric points from ``run.log`` to disk, off the hot path.

``log`` only validates and appends to in-memory lists under a lock (no I/O, no
database). A background thread wakes every ``FLUSH_S``: it swaps the buffer out, appends
one block per metric to this writer's series file, and merges a per-batch summary
(count, NaN count, last, min, max, sum) into the store in a single transaction. So a
process killed with ``kill -9`` loses at most the last ``FLUSH_S`` or so of points (and
never more than ``MAX_LAG_S`` plus one write: when the thread falls behind a tight loop,
``log`` writes itself), and the database sees about two small transactions a second per
logging process however fast it logs.

The owner of a run (the process responsible for its status) also heartbeats and, if
asked, samples system metrics from the same thread.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import MetricValueError
from .series import SeriesWriter, encode_block, to_ms
from .store.base import BatchSummary, Store

FLUSH_S = 0.5
#: If the last completed write covers only points older than this, log() writes itself:
#: in a tight loop the flush thread gets too little of the GIL to keep the 1 s promise.
MAX_LAG_S = 0.75
_now = time.time
_BIG = 2**1000  # ints beyond this are checked for fitting a float64
MAX_KEY_LEN = 256

Columns = tuple[list[int], list[float], list[float]]


def _coerce(key: Any, value: Any) -> float:
    """Slow path for values that are not plain float/int (numpy scalars, 0-d tensors, bools)."""
    if isinstance(value, str | bytes | complex) or value is None or isinstance(value, Mapping):
        raise MetricValueError(
            f"metric {key!r} got {type(value).__name__} {value!r:.40}; log numbers only "
            "(put text in run.summary or a note)"
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise MetricValueError(
            f"metric {key!r} got {type(value).__name__} that is not a single number; "
            "log one scalar per key (e.g. value.item())"
        ) from None


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
    step = int(step)
    if not -(2**63) <= step < 2**63:
        raise MetricValueError(f"step {step} does not fit in 64 bits")
    return step


def summarize(key: str, steps: Sequence[int], values: Sequence[float]) -> BatchSummary:
    np = sys.modules.get("numpy")
    if np is not None and isinstance(values, np.ndarray):
        finite = values[~np.isnan(values)]
        lo, hi, total = (
            (float(finite.min()), float(finite.max()), float(finite.sum()))
            if finite.size
            else (None, None, 0.0)
        )
        return BatchSummary(
            key, len(values), len(values) - len(finite), float(values[-1]), int(steps[-1]), lo, hi, total
        )
    kept = [v for v in values if v == v]
    return BatchSummary(
        key=key,
        count=len(values),
        nan_count=len(values) - len(kept),
        last=values[-1],
        last_step=steps[-1],
        min=min(kept) if kept else None,
        max=max(kept) if kept else None,
        sum=sum(kept),
    )


def _prepare(steps: list[int], times: list[float], values: list[float]) -> tuple[Any, Any, Any]:
    """Columns as numpy arrays when numpy is already loaded (faster), else as lists."""
    np = sys.modules.get("numpy")
    if np is not None and len(values) > 64:
        return (
            np.asarray(steps, dtype="<i8"),
            to_ms(np.asarray(times, dtype="<f8")),
            np.asarray(values, dtype="<f8"),
        )
    return steps, to_ms(times), values


class Recorder:
    """Buffers one writer's points and flushes them in the background."""

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
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._series = SeriesWriter(metrics_dir / f"{writer}.lbm")
        self._buf: dict[str, Columns] = {}
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._pending: list[BatchSummary] = []
        self._next_step = 0
        self._sys_step = 0
        self._written_upto = _now()  # every point logged before this is on disk
        self._heartbeat_s = heartbeat_s
        self._sampler = sampler
        self._sample_s = sample_s
        self._flush_s = flush_s
        self._stop = threading.Event()
        self._warned = False
        self.closed = False
        self._thread = threading.Thread(target=self._loop, name="labbook-recorder", daemon=True)
        self._thread.start()

    # -- hot path ------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        if self.closed:
            raise MetricValueError("this run has finished; start a new one with labbook.init()")
        t = _now()
        if t - self._written_upto > MAX_LAG_S:
            self.flush()  # the background thread is falling behind (a tight loop): help it
        with self._lock:
            if step is None:
                step = self._next_step
            elif step.__class__ is not int:
                step = _check_step(step)
            self._next_step = step + 1
            buf = self._buf
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

    # -- background ----------------------------------------------------------
    def flush(self) -> None:
        with self._io_lock:
            with self._lock:
                buf, self._buf = self._buf, {}
                swapped_at = _now()
            if buf:
                prepared = {key: _prepare(*cols) for key, cols in buf.items()}
                chunks = [encode_block(key, *cols) for key, cols in prepared.items()]
                try:
                    self._series.append(chunks)
                except OSError as err:
                    self._requeue(buf)
                    self._written_upto = swapped_at  # retry on the next cycle, not on every log()
                    self._warn(f"could not write metrics ({err}); keeping them in memory and retrying")
                    return
                self._pending += [summarize(key, cols[0], cols[2]) for key, cols in prepared.items()]
            self._written_upto = swapped_at
            if self._pending:
                try:
                    self._store.merge_metrics(self._run_id, self._pending)
                    self._pending = []
                except Exception as err:  # the store may be busy or briefly unwritable
                    self._warn(f"could not update metric summaries ({err}); retrying")

    def _requeue(self, old: dict[str, Columns]) -> None:
        with self._lock:
            for key, (s, t, v) in old.items():
                cols = self._buf.setdefault(key, ([], [], []))
                cols[0][:0], cols[1][:0], cols[2][:0] = s, t, v

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            print(f"labbook: {message}", file=sys.stderr)

    def _loop(self) -> None:
        now = time.monotonic()
        next_beat = now + (self._heartbeat_s or math.inf)
        next_sample = now + (self._sample_s if self._sampler else math.inf)
        while not self._stop.wait(self._flush_s):
            self.flush()
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
                    self._store.heartbeat(self._run_id, time.time())
                except Exception as err:
                    self._warn(f"could not heartbeat ({err})")

    def close(self) -> None:
        """Stop the thread, flush everything, and compact the series file."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        if self._pending:  # one last attempt, blocking on a busy store
            self._store.merge_metrics(self._run_id, self._pending)
            self._pending = []
        self._series.close(compact=self._series.blocks > 32)


def writer_name() -> str:
    return f"{os.getpid()}-{os.urandom(3).hex()}"
