"""M4 reduction: each bucket's first, last, minimum and maximum survive; nothing else is invented."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from labbook.core.downsample import m4


def brute_buckets(x: np.ndarray, width: int, lo: int, hi: int) -> list[list[int]]:
    """Indices of the points in [lo, hi) grouped into ``width`` equal x buckets, the slow way."""
    span = x[hi - 1] - x[lo]
    groups: dict[int, list[int]] = {}
    for i in range(lo, hi):
        b = 0 if span == 0 else min(int((x[i] - x[lo]) / span * width), width - 1)
        groups.setdefault(b, []).append(i)
    return [groups[b] for b in sorted(groups)]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 400),
    width=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    nan_share=st.sampled_from([0.0, 0.1, 1.0]),
    window=st.booleans(),
)
def test_every_bucket_keeps_first_last_min_max(
    n: int, width: int, seed: int, nan_share: float, window: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.integers(0, 3 * n, n)).astype(float)  # repeated steps happen
    y = rng.normal(size=n)
    y[rng.random(n) < nan_share] = np.nan
    start, end = (float(x[n // 4]), float(x[3 * n // 4])) if window else (None, None)
    w = m4(x, y, width, start, end)
    lo = 0 if start is None else int(np.searchsorted(x, start, "left"))
    hi = n if end is None else int(np.searchsorted(x, end, "right"))
    picked = w.index.tolist()
    assert picked == sorted(set(picked)) and w.total == hi - lo
    assert all(0 <= i < n for i in picked)
    if hi - lo <= 4 * width:
        assert picked == list(range(max(lo - 1, 0), min(hi + 1, n)))
        return
    inside = [i for i in picked if lo <= i < hi]
    assert len(inside) <= 4 * width
    for members in brute_buckets(x, width, lo, hi):
        assert members[0] in inside and members[-1] in inside
        finite = [i for i in members if np.isfinite(y[i])]
        if finite:
            assert min(y[i] for i in finite) in {y[i] for i in inside if i in members}
            assert max(y[i] for i in finite) in {y[i] for i in inside if i in members}
    assert (lo == 0 or lo - 1 in picked) and (hi == n or hi in picked)  # the line runs to the edges


def test_a_one_step_spike_in_a_million_points_survives() -> None:
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 5000.0)
    y[654_321] = 40.0
    y[123_456] = -40.0
    w = m4(x, y, 800)
    assert w.reduced and len(w.index) <= 3200
    assert y[w.index].max() == 40.0 and y[w.index].min() == -40.0
    assert x[w.index][0] == 0 and x[w.index][-1] == 999_999


def test_points_that_fit_are_all_kept() -> None:
    x = np.arange(100, dtype=float)
    w = m4(x, x * 2, 800)
    assert not w.reduced and w.index.tolist() == list(range(100))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), width=st.integers(1, 20), seed=st.integers(0, 2**31))
def test_a_reduced_band_contains_the_full_band(n: int, width: int, seed: int) -> None:
    from labbook.core.downsample import envelope

    rng = np.random.default_rng(seed)
    x = np.sort(rng.random(n) * 100)
    mid = rng.normal(size=n)
    low, high = mid - rng.random(n), mid + rng.random(n)
    low[rng.random(n) < 0.1] = np.nan
    bx, blo, bhi = envelope(x, low, high, width)
    assert len(bx) <= max(2 * width, np.isfinite(low).sum())
    for xi, lo, hi in zip(x, low, high, strict=True):
        if not np.isfinite(lo):
            continue
        k = np.searchsorted(bx, xi, "right") - 1  # the reduced bucket holding this x
        assert blo[k] <= lo and bhi[k] >= hi
