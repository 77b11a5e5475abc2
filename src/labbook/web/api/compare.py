"""``GET /api/compare``: exactly what ``lab compare --json`` prints, plus the report in words."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from labbook.errors import BadInput
from labbook.service.notebook import Notebook
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(prefix="/api", tags=["compare"], default_response_class=LabJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]


def report(
    nb: Notebook,
    a: str,
    b: str,
    metric: list[str] | None = None,
    agg: str = "last",
    where: str | None = None,
    noise: str | None = None,
    goal: Literal["max", "min"] | None = None,
    paired: bool = False,
    examples: str | None = None,
    all: bool = False,
    detect: float | None = None,
) -> Any:
    """The service's report, with the CLI's checks on the options (shared by the page)."""
    from labbook.service.compare.report import compare
    from labbook.service.compare.variants import noise_keys

    if not a.strip() or not b.strip():
        raise BadInput("give two sides to compare, e.g. a=lr=1e-3 and b=lr=3e-4")
    if detect is not None and not detect > 0:
        raise BadInput("detect takes a positive difference, e.g. 0.01")
    return compare(
        nb,
        a,
        b,
        metrics=[m for m in metric or [] if m] or None,
        agg=agg,
        where=where or None,
        noise=noise_keys(noise or None),
        goal=goal,
        paired=paired,
        examples=examples or None,
        include_all=all,
        detect=detect,
    )


@router.get("/compare", summary="Two sides compared: diffs, each metric's CI, test, p and verdict")
def compare_sides(
    nb: NB,
    a: str,
    b: str,
    metric: Annotated[list[str] | None, Query()] = None,
    agg: Literal["last", "min", "max", "mean"] = "last",
    where: str | None = None,
    noise: str | None = None,
    goal: Literal["max", "min"] | None = None,
    paired: bool = False,
    examples: str | None = None,
    all: bool = False,
    detect: float | None = None,
) -> dict[str, Any]:
    """The sides are what ``lab compare`` takes: run ids, a variant, a tag, a name or --where."""
    from labbook.views.compare import report_dict

    r = report(nb, a, b, metric, agg, where, noise, goal, paired, examples, all, detect)
    return report_dict(r)
