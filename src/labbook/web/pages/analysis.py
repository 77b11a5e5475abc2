"""Charts (metrics × runs or variants, bands, smoothing) and the compare page."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.errors import BadInput
from labbook.service.notebook import Notebook
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]
SMOOTHING = [
    ("", "none"),
    ("ema:0.6", "EMA 0.6"),
    ("ema:0.9", "EMA 0.9"),
    ("ema:0.99", "EMA 0.99"),
    ("ma:10", "mean of 10"),
    ("ma:100", "mean of 100"),
]


@router.get("/charts", response_class=HTMLResponse)
def charts_page(
    request: Request,
    nb: NB,
    metric: Annotated[list[str] | None, Query()] = None,
    runs: str = "",
    where: str = "",
    group: str = "variant",
    smooth: str = "",
    x: Literal["step", "time"] = "step",
    log_y: bool = False,
    all: bool = False,
) -> HTMLResponse:
    """One chart per metric; every control is a URL parameter, so the link is the screen."""
    fields = nb.store.runs.fields()
    known = sorted(m for m in fields.metrics if not m.startswith("sys/"))
    chosen = [m for m in (metric or []) if m] or known[:2]
    common = {
        "runs": runs,
        "where": where,
        "group": group,
        "smooth": smooth,
        "x": x,
        "all": "1" if all else "",
    }
    if log_y:
        common["log_y"] = "1"
    query = {k: v for k, v in common.items() if v}
    urls = [(m, "/api/curves?" + urlencode({"metric": m, **query})) for m in chosen]
    return page(
        request,
        "charts.html",
        "charts",
        "Charts",
        known=known,
        chosen=chosen,
        urls=urls,
        state=dict(common, log_y=log_y),
        params=sorted(fields.params),
        smoothing=SMOOTHING,
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    nb: NB,
    a: str = "",
    b: str = "",
    runs: str = "",
    metric: Annotated[list[str] | None, Query()] = None,
    agg: Literal["last", "min", "max", "mean"] = "last",
    where: str = "",
    all: bool = False,
    config: Literal["differs", "all"] = "differs",
) -> HTMLResponse:
    """Two sides, or selected runs split into their two variants, compared in lab compare's words."""
    state = {
        "a": a,
        "b": b,
        "metric": [m for m in metric or [] if m],
        "agg": agg,
        "where": where,
        "all": all,
        "config": config,
    }
    context: dict[str, Any] = {"state": state, "report": None, "error": None}
    try:
        if runs and not (a or b):
            a, b = _two_variants(nb, runs)
            state.update(a=a, b=b)
        if a and b:
            context.update(_report(nb, state))
    except BadInput as err:
        context["error"] = err.message
    response = page(request, "compare.html", "compare", "Compare", **context)
    if context["error"]:
        response.status_code = 400
    return response


def _two_variants(nb: Notebook, runs: str) -> tuple[str, str]:
    """Selected runs as two sides: two runs each alone, or exactly two variants' seeds."""
    from labbook.service.compare.variants import variants
    from labbook.service.settings import noise_of

    ids = [r.strip() for r in runs.split(",") if r.strip()]
    records = sorted((nb.get_run(i) for i in ids), key=lambda r: r.id)  # A: the variant run first
    if len(records) == 2:
        return str(records[0].id), str(records[1].id)
    noise, _ = noise_of(nb.settings, None)
    found = variants(records, noise)
    if len(found) != 2:
        raise BadInput(
            f"the {len(records)} selected runs are {len(found)} variants; select runs of exactly two (or two runs)"
        )
    return tuple(",".join(str(r.id) for r in v.runs) for v in found)  # type: ignore[return-value]


def _report(nb: Notebook, state: dict[str, Any]) -> dict[str, Any]:
    from labbook.views.compare import report_dict
    from labbook.views.compare_text import report_text
    from labbook.web.api.compare import report

    r = report(nb, state["a"], state["b"], state["metric"], state["agg"], state["where"], all=state["all"])
    view = report_dict(r)
    rows = view["config"]
    if state["config"] == "all":
        rows = _all_config(r)
    return {"report": view, "text": report_text(r), "config_rows": rows}


def _all_config(r: Any) -> list[dict[str, Any]]:
    """Every parameter of either side with its values there, differing or not."""
    from labbook.service.compare.variants import short

    keys = sorted({k for s in (r.a, r.b) for run in s.runs for k in run.params})
    out = []
    for k in keys:
        va = sorted({short(run.params.get(k)) for run in r.a.runs})
        vb = sorted({short(run.params.get(k)) for run in r.b.runs})
        out.append({"key": k, "a": va, "b": vb, "differs": va != vb})
    return out
