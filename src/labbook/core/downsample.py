"""Reducing a long series to what a chart of a given width can show, losing no spike.

Each pixel-wide bucket of the x range keeps four points: its first, its last, its
minimum and its maximum (M4, Jugel et al., VLDB 2014). Drawn as a line, the reduced
series covers exactly the pixels the full one does, so a spike of one step is never
averaged away — what a reservoir sample (TensorBoard) or a stride loses. Runs in
O(n) with numpy: buckets are contiguous once x is sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POINTS_PER_BUCKET = 4


@dataclass(frozen=True)
class Window:
    """The picked indices into the (sorted) input and how many points the range held."""

    index: np.ndarray
    total: int  # points inside [start, end]

    @property
    def reduced(self) -> bool:
        return len(self.index) < self.total


def m4(
    x: np.ndarray, y: np.ndarray, width: int, start: float | None = None, end: float | None = None
) -> Window:
    """Indices of the first, last, minimum and maximum point of each of ``width`` buckets of
    ``[start, end]`` (default: the whole range), in x order; every point when they fit.

    ``x`` must be ascending. One point either side of the range is kept so a zoomed line
    runs to the edges. NaN values are kept where they are first or last (a gap stays a gap)
    but never chosen as a minimum or maximum.
    """
    n = len(x)
    lo = 0 if start is None else int(np.searchsorted(x, start, "left"))
    hi = n if end is None else int(np.searchsorted(x, end, "right"))
    total = hi - lo
    edge_lo, edge_hi = max(lo - 1, 0), min(hi + 1, n)
    if total <= POINTS_PER_BUCKET * max(width, 1):
        return Window(np.arange(edge_lo, edge_hi), total)
    xs, ys = x[lo:hi], y[lo:hi]
    starts = _bucket_starts(xs, width)
    ends = np.r_[starts[1:], total] - 1
    picks = [starts, ends]
    finite = np.isfinite(ys)
    if finite.any():
        picks += [_arg_extreme(ys, finite, starts, np.minimum), _arg_extreme(ys, finite, starts, np.maximum)]
    index = np.sort(np.concatenate(picks))
    index = index[np.r_[True, index[1:] != index[:-1]] & (index >= 0)] + lo
    return Window(
        np.concatenate(([edge_lo] if edge_lo < lo else [], index, [hi] if hi < n else [])).astype(np.int64),
        total,
    )


def _bucket_starts(xs: np.ndarray, width: int) -> np.ndarray:
    """Where each non-empty bucket begins (x is ascending, so buckets are contiguous)."""
    span = float(xs[-1] - xs[0])
    if span <= 0:
        return np.array([0], np.int64)
    bucket = np.minimum(((xs - xs[0]) / span * width).astype(np.int64), width - 1)
    return np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])


def _arg_extreme(ys: np.ndarray, finite: np.ndarray, starts: np.ndarray, op: np.ufunc) -> np.ndarray:
    """The first index of each bucket's minimum (``op`` = minimum) or maximum; -1 for an all-NaN bucket."""
    fill = np.inf if op is np.minimum else -np.inf
    filled = np.where(finite, ys, fill)
    best = op.reduceat(filled, starts)
    lengths = np.diff(np.r_[starts, len(ys)])
    hit = (filled == np.repeat(best, lengths)) & finite
    positions = np.where(hit, np.arange(len(ys)), len(ys))
    first = np.minimum.reduceat(positions, starts)
    return np.where(first < len(ys), first, -1)


def envelope(
    x: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    width: int,
    start: float | None = None,
    end: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A band reduced to its outer edge per bucket: (x, lowest low, highest high), so the
    reduced band contains every point of the full one. Points without a band are dropped."""
    keep = np.isfinite(low) & np.isfinite(high)
    if start is not None:
        keep &= x >= start
    if end is not None:
        keep &= x <= end
    x, low, high = x[keep], low[keep], high[keep]
    if len(x) <= 2 * max(width, 1):
        return x, low, high
    starts = _bucket_starts(x, width)
    return x[starts], np.minimum.reduceat(low, starts), np.maximum.reduceat(high, starts)
