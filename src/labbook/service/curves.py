"""Curves for ``lab plot``: a metric's series per variant, averaged over seeds with a CI band.

Runs are grouped into variants (``compare.variants``) or by one parameter. Each run's
series is optionally smoothed (a trailing moving average of K points), then the runs of
a group are put on one x axis: when they logged the same steps they are stacked as they
are; otherwise each is interpolated onto the union of their x values inside its own
range, so a longer run is never cut to the shortest one, and the mean at each x uses
the runs that reached it (the band there uses that n). The band is the Student-t 95%
CI of the mean; a group of one run has no band. Runs that each logged the metric once (a
final test score) make one point, their mean with its CI, at the median of their x
values, whatever steps they logged it at; the figure draws such a point as a marker.

Large curves are reduced for drawing to the minimum and maximum of each pixel-wide
bucket, so spikes survive and nothing is silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from labbook.errors import BadInput
from labbook.service.compare.sides import Side, select
from labbook.service.compare.variants import NOISE, Variant, differing_keys, group_by, variants

if TYPE_CHECKING:
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

BUCKETS = 800  # the figure is 7 in × 110 dpi = 770 pixels wide: one bucket per pixel
TIME_POINTS = 20_000  # a shared time axis is resampled to this many points


@dataclass
class Curve:
    label: str
    n: int  # runs
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None  # None: a single run, no band
    high: np.ndarray | None
    points: int  # points read, before reduction for drawing
    run_ids: list[int]


def smooth(values: np.ndarray, k: int) -> np.ndarray:
    """Trailing moving average over ``k`` points (fewer at the start); NaN stays local."""
    if k <= 1 or len(values) == 0:
        return values
    finite = np.isfinite(values)
    c = np.concatenate(([0.0], np.cumsum(np.where(finite, values, 0.0))))
    n = np.concatenate(([0], np.cumsum(finite)))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - k, 0)
    count = n[idx] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (c[idx] - c[lo]) / count, np.nan)


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average: the first points are not pulled
    toward zero, and a NaN is skipped (it stays NaN where it was, the average goes on)."""
    from scipy.signal import lfilter

    if not 0 <= weight < 1:
        raise BadInput(f"EMA weight {weight:g}: use a number in [0, 1), e.g. 0.6")
    out = np.full(len(values), np.nan)
    finite = np.isfinite(values)
    if weight == 0 or not finite.any():
        return np.where(finite, values, np.nan)
    raw = lfilter([1 - weight], [1, -weight], values[finite])
    debias = 1 - weight ** np.arange(1, len(raw) + 1)
    out[finite] = raw / debias
    return out


def parse_smoothing(text: str | None) -> tuple[int, float | None]:
    """``ma:K`` (moving average of K points) or ``ema:W`` (debiased EMA of weight W) →
    (K, W); nothing → no smoothing."""
    if not text or text in ("none", "0"):
        return 1, None
    kind, _, arg = text.partition(":")
    try:
        if kind == "ma":
            return int(arg), None
        if kind == "ema":
            return 1, float(arg)
    except ValueError:
        pass
    raise BadInput(f"smoothing {text!r}: use ma:K (K points) or ema:W (weight in [0, 1)), e.g. ema:0.6")


def align(xs: list[np.ndarray], ys: list[np.ndarray], time_axis: bool) -> tuple[np.ndarray, np.ndarray]:
    """One x axis and a (runs, points) matrix, NaN where a run has no value."""
    if all(len(x) == len(xs[0]) and np.array_equal(x, xs[0]) for x in xs):
        return xs[0].astype(float), np.vstack(ys)
    if time_axis:
        lo = min(float(x[0]) for x in xs if len(x))
        hi = max(float(x[-1]) for x in xs if len(x))
        grid = np.linspace(lo, hi, TIME_POINTS)
    else:
        grid = np.unique(np.concatenate(xs)).astype(float)
    out = np.full((len(xs), len(grid)), np.nan)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if len(x) == 0:
            continue
        inside = (grid >= x[0]) & (grid <= x[-1])
        out[i, inside] = np.interp(grid[inside], x, y)
    return grid, out


def one_point_each(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Runs that logged the metric once, pooled at one x (a final score logged at each run's
    own last step would otherwise be points of one run each, never a mean with a CI)."""
    if len(xs) < 2 or any(len(x) != 1 for x in xs):
        return None
    return np.array([float(np.median([x[0] for x in xs]))]), np.vstack(ys)


def mean_band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs at each x, and the t 95% CI from the runs present there (NaN below 2)."""
    from scipy import special

    if np.isfinite(matrix).all():  # every run has every x: the plain formulas, at a fraction of the cost
        n = matrix.shape[0]
        mean = matrix.mean(axis=0)
        half = special.stdtrit(max(n - 1, 1), 0.975) * matrix.std(axis=0, ddof=1) / np.sqrt(n)
        return mean, mean - half, mean + half, np.full(matrix.shape[1], n)
    count = np.sum(np.isfinite(matrix), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(matrix, axis=0) / count
        dev = np.where(np.isfinite(matrix), matrix - mean, 0.0)
        sd = np.sqrt(np.sum(dev**2, axis=0) / (count - 1))
        half = special.stdtrit(np.maximum(count - 1, 1), 0.975) * sd / np.sqrt(count)
    half = np.where(count >= 2, half, np.nan)
    return mean, mean - half, mean + half, count


def reduce_for_drawing(x: np.ndarray, y: np.ndarray, buckets: int = BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's minimum and maximum, in the order they occur (spikes survive)."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) <= 2 * buckets:
        return x, y
    span = x[-1] - x[0]
    idx = (
        np.minimum(((x - x[0]) / span * buckets).astype(np.int64), buckets - 1)
        if span > 0
        else np.zeros(len(x), np.int64)
    )
    order = np.lexsort((y, idx))  # by bucket, then by value within it
    starts = np.flatnonzero(np.r_[True, idx[order][1:] != idx[order][:-1]])
    ends = np.r_[starts[1:], len(order)] - 1
    picks = np.sort(np.unique(np.concatenate([order[starts], order[ends]])))
    return x[picks], y[picks]


def reduce_band(
    x: np.ndarray, low: np.ndarray, high: np.ndarray, buckets: int = BUCKETS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band's outer envelope per bucket: the lowest low and the highest high."""
    keep = np.isfinite(low) & np.isfinite(high)
    x, low, high = x[keep], low[keep], high[keep]
    if len(x) <= 2 * buckets:
        return x, low, high
    span = x[-1] - x[0]
    idx = np.minimum(((x - x[0]) / span * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    return x[starts], np.minimum.reduceat(low, starts), np.maximum.reduceat(high, starts)


def gather(
    nb: Notebook,
    metric: str,
    *,
    refs: list[str] | None = None,
    where: str | None = None,
    sweep: str | None = None,
    group: str = "variant",
    x_axis: str = "step",
    smooth_k: int = 1,
    noise: tuple[str, ...] = NOISE,
    include_all: bool = False,
    ema_weight: float | None = None,
) -> tuple[list[Curve], Side]:
    """The curves to draw, one per group, and the selection (for what was left out)."""
    if x_axis not in ("step", "time"):
        raise BadInput(f"--x {x_axis!r}: use step or time")
    if smooth_k < 1:
        raise BadInput("--smooth takes a number of points, 1 or more")
    runs, side = select_runs(nb, metric, refs=refs, where=where, sweep=sweep, include_all=include_all)
    return lines_of(nb, runs, metric, group, x_axis, smooth_k, noise, ema_weight), side


def lines_of(
    nb: Notebook,
    runs: list[RunRecord],
    metric: str,
    group: str = "variant",
    x_axis: str = "step",
    smooth_k: int = 1,
    noise: tuple[str, ...] = NOISE,
    ema_weight: float | None = None,
) -> list[Curve]:
    """The curves of chosen runs (``select_runs``), one per group, from every point."""
    if group not in ("variant", "run") and not any(group in r.params for r in runs):
        raise BadInput(f"no run has a parameter {group!r}; --group-by takes variant, run or a parameter name")
    groups, keys = _groups(runs, group, noise)
    curves = []
    for g in groups:
        xs, ys, points = [], [], 0
        for run in g.runs:
            s = nb.series(run, metric)
            points += len(s.values)
            x = s.steps.astype(float) if x_axis == "step" else s.times - s.times[0]
            order = np.argsort(x, kind="stable") if x_axis == "step" and np.any(np.diff(x) < 0) else None
            y = s.values if order is None else s.values[order]
            xs.append(x if order is None else x[order])
            y = smooth(np.asarray(y, dtype=float), smooth_k)
            ys.append(y if ema_weight is None else ema(y, ema_weight))
        grid, matrix = one_point_each(xs, ys) or align(xs, ys, x_axis == "time")
        label = g.label(keys)
        if len(g.runs) == 1:
            curves.append(
                Curve(f"{label} (1 run, no band)", 1, grid, matrix[0], None, None, points, [g.runs[0].id])
            )
            continue
        mean, low, high, _ = mean_band(matrix)
        curves.append(
            Curve(
                f"{label} (n={len(g.runs)})",
                len(g.runs),
                grid,
                mean,
                low,
                high,
                points,
                [r.id for r in g.runs],
            )
        )
    return curves


def per_run(nb: Notebook, runs: list[RunRecord], metric: str) -> list[Curve]:
    """Each run's line as ``gather(group="run")`` draws it, read from the ended runs'
    overviews (``service.overview``): what a chart up to ``overview.MAX_WIDTH`` wide needs."""
    from labbook.service.overview import for_chart

    groups, keys = _groups(runs, "run", ())
    lines = []
    for g in groups:
        run = g.runs[0]
        s, total = for_chart(nb, run, metric, whole=True)
        order = np.argsort(s.steps, kind="stable")
        x, y = s.steps[order].astype(float), np.asarray(s.values[order], dtype=float)
        lines.append(Curve(f"{g.label(keys)} (1 run, no band)", 1, x, y, None, None, total, [run.id]))
    return lines


def select_runs(
    nb: Notebook,
    metric: str,
    *,
    refs: list[str] | None = None,
    where: str | None = None,
    sweep: str | None = None,
    include_all: bool = False,
) -> tuple[list[RunRecord], Side]:
    """The runs a plot of ``metric`` draws, and the selection with what it left out (and why)."""
    parts = []
    if sweep:
        parts.append(f"sweep == '{_quote(sweep)}'")
    if where:
        parts.append(f"({where})")
    spec = " and ".join(parts) or "id > 0"
    if refs:
        from labbook.service.compare.sides import side_query

        ors = " or ".join(f"({side_query(nb, r)[1]})" for r in refs)
        spec = f"({ors}) and {spec}"
    side = select(nb, spec, None, include_all)
    lacking = [r.id for r in side.runs if metric not in r.metrics]
    runs = [r for r in side.runs if metric in r.metrics]
    if not runs:
        known = sorted({k for r in side.runs for k in r.metrics if not k.startswith("sys/")})
        raise BadInput(
            f"none of the {len(side.runs)} selected runs logged {metric!r}"
            + (f" (they logged {', '.join(known[:8])})" if known else "")
        )
    if lacking:
        side.excluded.setdefault(f"without {metric}", []).extend(lacking)
    return runs, side


def _groups(runs: list[RunRecord], group: str, noise: tuple[str, ...]) -> tuple[list[Variant], list[str]]:
    """The lines to draw: a variant's seeds pooled, one value of a parameter, or each run alone."""
    if group == "variant":
        found = variants(runs, noise)
        return found, differing_keys(found)
    if group == "run":
        return [Variant({"run": f"{r.id}" + (f" {r.name}" if r.name else "")}, [r]) for r in runs], ["run"]
    return group_by(runs, group), [group]


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def default_path(nb: Notebook, metric: str, fmt: str = "png") -> Any:
    import time

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in metric)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return nb.root / "figures" / f"{safe}-{stamp}.{fmt}"


def total_points(curves: list[Curve]) -> int:
    return sum(c.points for c in curves)
