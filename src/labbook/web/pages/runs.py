"""The runs table (filter, sort, columns, pages, variants, selection) and one run's page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.errors import BadInput
from labbook.records.checks import KEY as CHECKS
from labbook.records.runs import UNFINISHED
from labbook.service.notebook import Notebook
from labbook.views import columns as cols
from labbook.views import runs as views
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]
PAGE = 50


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    nb: NB,
    where: str = "",
    sort: str = "",
    columns: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
    group: str = "",
    all: bool = False,
) -> HTMLResponse:
    """The whole page, or only the table when htmx asks (a filter, a sort, the next page)."""
    state = {"where": where, "sort": sort, "columns": columns, "group": group, "all": "1" if all else ""}
    table = _groups(nb, where, columns, group, all) if group else _table(nb, state, offset, limit, all)
    fragment = (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "runs-table"
    )
    template = "runs_table.html" if fragment else "runs.html"
    response = page(request, template, "runs", "Runs", state=state, **table)
    if table.get("error") and not fragment:
        response.status_code = 400
    return response


def _table(nb: Notebook, state: dict[str, str], offset: int, limit: int, archived: bool) -> dict[str, Any]:
    try:
        runs, total = nb.list_runs(state["where"] or None, state["sort"] or None, limit, archived, offset)
        fields = nb.store.runs.fields()
        names = cols.parse_columns(state["columns"]) or cols.default_columns(runs)
        getters = [cols.column(n, runs, fields) for n in names]
    except BadInput as err:
        return {"error": err.message, "rows": [], "names": [], "total": 0, "available": []}
    numeric = [cols.is_numeric(g, runs) for g in getters]
    rows = [(r, [g(r) for g in getters]) for r in runs]
    base = {k: v for k, v in state.items() if v}
    return {
        "rows": rows,
        "names": names,
        "numeric": numeric,
        "total": total,
        "offset": offset,
        "limit": limit,
        "live": any(r.status in UNFINISHED for r in runs),
        "prev": _link(base, offset=max(offset - limit, 0)) if offset else None,
        "next": _link(base, offset=offset + limit) if offset + limit < total else None,
        "sort_links": {n: _link(base, sort=_toggle(state["sort"], n)) for n in names},
        "available": _available(fields),
    }


def _groups(nb: Notebook, where: str, columns: str, group: str, archived: bool) -> dict[str, Any]:
    from labbook.service.compare.variants import variant_table
    from labbook.service.settings import noise_of

    try:
        runs, _ = nb.list_runs(where or None, "id", 0, archived)
        noise, _ = noise_of(nb.settings, None)
        names = cols.variant_columns(runs, columns or None)
        rows, excluded = variant_table(runs, names, group=group, noise=noise)
    except BadInput as err:
        return {"error": err.message, "groups": [], "names": [], "available": []}
    return {"groups": rows, "names": names, "excluded": excluded, "noise": noise, "available": []}


def _link(base: dict[str, str], **changes: Any) -> str:
    merged = {**base, **{k: str(v) for k, v in changes.items()}}
    return "/runs?" + urlencode({k: v for k, v in merged.items() if v and v != "0"})


def _toggle(current: str, name: str) -> str:
    """Sorting by a column: descending first (best first for most metrics), then ascending."""
    return name if current == f"-{name}" else f"-{name}"


def _available(fields: Any) -> list[str]:
    """Column names a user may type: run fields, parameters, metrics (last), summary values."""
    metrics = [f"{m}.last" for m in sorted(fields.metrics) if not m.startswith("sys/")]
    return [
        *cols.RUN_COLUMNS,
        *sorted(fields.params),
        *metrics,
        *sorted(k for k in fields.summary if k != CHECKS),
    ]


@router.get("/runs/{ref}", response_class=HTMLResponse)
def run_page(request: Request, nb: NB, ref: str) -> HTMLResponse:
    from labbook.service.detail import detail

    d = detail(nb, ref)
    run = d.run
    metrics = sorted(k for k in run.metrics if not k.startswith("sys/"))
    system = sorted(k for k in run.metrics if k.startswith("sys/"))
    samples = [s.name for s in nb.failures.samples(run.id)]
    return page(
        request,
        "run.html",
        "runs",
        f"run {run.id}" + (f" {run.name}" if run.name else ""),
        run=run,
        view=views.run_detail(run, d.patch, d.packages, d.files, d.damage, d.rerun, d.artifacts),
        metrics=metrics,
        system=system,
        samples=samples,
        live=run.status in UNFINISHED,
        packages=d.packages.splitlines(),
        patch=d.patch,
    )
