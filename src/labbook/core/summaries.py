"""Summaries of logged points (count, NaN count, last, min, max, sum, lost), combined batch by batch."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

from labbook.records.runs import BatchSummary


def summarize(key: str, steps: Any, values: Any) -> BatchSummary:
    """One batch's summary; ``steps``/``values`` are lists or numpy arrays."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(values, np.ndarray):
        finite = values[~np.isnan(values)]
        with np.errstate(invalid="ignore"):  # +inf and -inf sum to NaN, as the lists below do, silently
            total = float(finite.sum())
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
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


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def combine(a: BatchSummary, b: BatchSummary) -> BatchSummary:
    """One summary for two consecutive batches of a metric (``b`` written after ``a``)."""
    newer = b if b.count else a
    return BatchSummary(
        a.key,
        a.count + b.count,
        a.nan_count + b.nan_count,
        newer.last,
        newer.last_step,
        _least(a.min, b.min),
        _most(a.max, b.max),
        a.sum + b.sum,
        a.lost + b.lost,
    )


def lost_summaries(lost: Iterable[tuple[str, int]]) -> list[BatchSummary]:
    """Summaries that only count lost points (recorded after the fact by a reader)."""
    return [BatchSummary(key, 0, 0, math.nan, None, None, None, 0.0, n) for key, n in lost if n]
