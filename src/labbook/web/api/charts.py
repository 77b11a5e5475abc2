"""Curves for the charts page: ``lab plot``'s lines (seeds pooled, the CI band), reduced per pixel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from labbook.service.notebook import Notebook
from labbook.web.app import notebook
from labbook.web.responses import ChartJSON, ViewRoute, axis, floats

router = APIRouter(prefix="/api", tags=["charts"], default_response_class=ChartJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]


@router.get("/curves", summary="A metric's curves per variant, run or parameter value, with 95% CI bands")
def curves(
    request: Request,
    nb: NB,
    metric: str,
    runs: str | None = None,
    where: str | None = None,
    group: str = "variant",
    x: Literal["step", "time"] = "step",
    smooth: str | None = None,
    width: Annotated[int, Query(ge=1, le=8192)] = 1000,
    start: float | None = None,
    end: float | None = None,
    noise: str | None = None,
    all: bool = False,
) -> Any:
    """``runs``: comma-separated run refs, variants or tags as ``lab plot`` takes them. Each
    curve's mean is reduced to first/last/min/max per pixel; its band to the outer edge."""
    from labbook.core.downsample import envelope, m4

    refs = [r.strip() for r in runs.split(",") if r.strip()] if runs else None
    zoomed = start is not None or end is not None
    found, side = _lines(
        request.app.state.curves,
        nb,
        metric,
        refs,
        where or None,
        group,
        x,
        smooth or None,
        width,
        zoomed,
        noise,
        all,
    )
    out = []
    for c in found:
        w = m4(c.x, c.mean, width, start, end)
        line: dict[str, Any] = {
            "label": c.label,
            "n": c.n,
            "run_ids": c.run_ids,
            "points": c.points,
            "x": axis(c.x[w.index]),
            "mean": floats(c.mean[w.index]),
            "band": None,
        }
        if c.low is not None and c.high is not None:
            bx, lo, hi = envelope(c.x, c.low, c.high, width, start, end)
            line["band"] = {"x": axis(bx), "low": floats(lo), "high": floats(hi)}
        out.append(line)
    return {"metric": metric, "x": x, "group": group, "curves": out, "left_out": side.excluded}


def _lines(
    cache: Any,
    nb: Notebook,
    metric: str,
    refs: list[str] | None,
    where: str | None,
    group: str,
    x: str,
    smooth: str | None,
    width: int,
    zoomed: bool,
    noise: str | None,
    include_all: bool,
) -> tuple[list[Any], Any]:
    """Each run alone, whole, unsmoothed and not too wide: from the runs' overviews (no full
    read); anything else as ``lab plot`` computes it, from every point."""
    from labbook.service.compare.variants import noise_keys
    from labbook.service.curves import lines_of, parse_smoothing, per_run, select_runs
    from labbook.service.overview import MAX_WIDTH
    from labbook.service.settings import noise_of
    from labbook.web.curve_cache import fingerprint

    k, weight = parse_smoothing(smooth)
    if group == "run" and x == "step" and k == 1 and weight is None and not zoomed and width <= MAX_WIDTH:
        runs, side = select_runs(nb, metric, refs=refs, where=where, include_all=include_all)
        return per_run(nb, runs, metric), side
    keys, _ = noise_of(nb.settings, noise_keys(noise))
    runs, side = select_runs(nb, metric, refs=refs, where=where, include_all=include_all)
    key = (metric, group, x, k, weight, keys, fingerprint(runs, metric))
    return cache.get(key, lambda: lines_of(nb, runs, metric, group, x, k, keys, weight)), side
