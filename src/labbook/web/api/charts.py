"""Curves for the charts page: ``lab plot``'s lines (seeds pooled, the CI band), reduced per pixel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from labbook.service.notebook import Notebook
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, finite_list

router = APIRouter(prefix="/api", tags=["charts"], default_response_class=LabJSON)
NB = Annotated[Notebook, Depends(notebook)]


@router.get("/curves", summary="A metric's curves per variant, run or parameter value, with 95% CI bands")
def curves(
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
) -> dict[str, Any]:
    """``runs``: comma-separated run refs, variants or tags as ``lab plot`` takes them. Each
    curve's mean is reduced to first/last/min/max per pixel; its band to the outer edge."""
    from labbook.core.downsample import envelope, m4
    from labbook.service.compare.variants import noise_keys as parse_noise
    from labbook.service.curves import gather, parse_smoothing
    from labbook.service.settings import noise_of

    k, weight = parse_smoothing(smooth)
    noise_keys, _ = noise_of(nb.settings, parse_noise(noise or None))
    refs = [r.strip() for r in runs.split(",") if r.strip()] if runs else None
    found, side = gather(
        nb,
        metric,
        refs=refs,
        where=where or None,
        group=group,
        x_axis=x,
        smooth_k=k,
        ema_weight=weight,
        noise=noise_keys,
        include_all=all,
    )
    out = []
    for c in found:
        w = m4(c.x, c.mean, width, start, end)
        line: dict[str, Any] = {
            "label": c.label,
            "n": c.n,
            "run_ids": c.run_ids,
            "points": c.points,
            "x": c.x[w.index].tolist(),
            "mean": finite_list(c.mean[w.index]),
            "band": None,
        }
        if c.low is not None and c.high is not None:
            bx, lo, hi = envelope(c.x, c.low, c.high, width, start, end)
            line["band"] = {"x": bx.tolist(), "low": finite_list(lo), "high": finite_list(hi)}
        out.append(line)
    return {"metric": metric, "x": x, "group": group, "curves": out, "left_out": side.excluded}
