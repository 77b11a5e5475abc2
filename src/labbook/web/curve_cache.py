"""Curves pooled from every point, kept while their runs stay as they are.

A variant's mean and band need every point of every seed; the first chart of them
reads the series, and the zooms, resizes and reloads after it use what it computed. An
entry is keyed by the request and by each run's id, status and point count, so a run
that logs more (or ends) is read again. The cache holds at most ``max_bytes`` of arrays
and drops the least recently used first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from labbook.records.runs import RunRecord


def fingerprint(runs: list[RunRecord], metric: str) -> tuple[Hashable, ...]:
    return tuple(
        (r.id, r.status, r.metrics[metric].count, r.metrics[metric].last_step)
        for r in runs
        if metric in r.metrics
    )


class CurveCache:
    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[list[Any], int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], list[Any]]) -> list[Any]:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit[0]
        value = compute()  # outside the lock: another chart need not wait for this one
        size = sum(_nbytes(c) for c in value)
        with self._lock:
            if size <= self.max_bytes and key not in self._entries:
                self._entries[key] = (value, size)
                self._size += size
                while self._size > self.max_bytes:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._size -= dropped
        return value


def _nbytes(curve: Any) -> int:
    return sum(getattr(a, "nbytes", 0) for a in (curve.x, curve.mean, curve.low, curve.high) if a is not None)
