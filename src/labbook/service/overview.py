"""Overviews: an ended run's metric reduced once, so a chart of many long runs is quick.

A chart a thousand pixels wide shows at most four points per pixel of a series (its
first, last, minimum and maximum: ``core.downsample.m4``). Reducing a million points
costs a read and a pass every time; an overview does it once, at ``BUCKETS`` buckets
of the step axis, and keeps the picked points beside the run's series
(``runs/<uid>/overview/``). M4 of an overview is M4 of the series to within one of its
buckets — a quarter of a pixel at 1,024 pixels — and every spike is in it, being the
extreme of its bucket.

An overview is only made for a run that has ended (a running one still grows) and is
keyed by the sizes and times of the run's series files, so an import that rewrites
them, or compaction, makes a new one. A notebook that cannot be written to still
reads: the overview is then computed and not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labbook.core.downsample import m4
from labbook.formats.series import Series
from labbook.records.runs import UNFINISHED, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

BUCKETS = 4096
MAX_WIDTH = BUCKETS // 4  # wider than this, a chart reads the whole series


def overview(nb: Notebook, run: RunRecord, key: str) -> tuple[Series, int] | None:
    """The reduced series and how many points the full one holds; None while the run runs."""
    if run.status in UNFINISHED or key not in run.metrics:
        return None
    folder = nb.run_dir(run) / "metrics"
    signature = _signature(folder)
    path = nb.run_dir(run) / "overview" / f"{_safe(key)}.lbo"
    kept = _load(path, signature)
    if kept is not None:
        return kept
    s = nb.series(run, key)
    order = np.argsort(s.steps, kind="stable") if len(s.steps) > 1 and np.any(np.diff(s.steps) < 0) else None
    if order is not None:
        s = Series(s.steps[order], s.times[order], s.values[order])
    picks = m4(s.steps.astype(float), s.values, BUCKETS).index
    reduced = Series(s.steps[picks], s.times[picks], s.values[picks])
    _save(path, signature, reduced, len(s.values))
    return reduced, len(s.values)


def for_chart(nb: Notebook, run: RunRecord, key: str, whole: bool) -> tuple[Series, int]:
    """The points a chart of ``key`` needs and how many the run logged: the overview when
    the chart shows the whole step range at most ``MAX_WIDTH`` wide (``whole``) and the run
    has ended, else every point."""
    found = overview(nb, run, key) if whole else None
    if found is not None:
        return found
    s = nb.series(run, key)
    return s, len(s.values)


def _signature(folder: Path) -> str:
    parts = []
    try:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            st = entry.stat()
            parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    except FileNotFoundError:
        pass
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _safe(key: str) -> str:
    """A file name for a metric key (``train/loss`` → ``train_loss-<hash>``), never a path."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:80]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


MAGIC = b"LBO1"  # then the 64-character signature, total and n (int64), steps, times, values


def _load(path: Path, signature: str) -> tuple[Series, int] | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) < 84 or raw[:4] != MAGIC or raw[4:68] != signature.encode():
        return None
    total, n = np.frombuffer(raw, np.int64, 2, 68).tolist()
    if len(raw) != 84 + 24 * n:
        return None  # a torn or foreign file: made again
    steps = np.frombuffer(raw, np.int64, n, 84)
    times = np.frombuffer(raw, np.float64, n, 84 + 8 * n)
    values = np.frombuffer(raw, np.float64, n, 84 + 16 * n)
    return Series(steps, times, values), total


def _save(path: Path, signature: str, s: Series, total: int) -> None:
    """Written whole and renamed into place; a notebook that refuses the write still reads."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    head = MAGIC + signature.encode() + np.array([total, len(s.values)], np.int64).tobytes()
    body = [
        np.ascontiguousarray(a, dt).tobytes()
        for a, dt in ((s.steps, np.int64), (s.times, np.float64), (s.values, np.float64))
    ]
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_bytes(head + b"".join(body))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
