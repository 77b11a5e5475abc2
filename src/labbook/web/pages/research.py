"""Hypotheses, one hypothesis's dossier and calibration, as pages.

Every fact comes from the service (lateness, resolution, the calibration report) and
reaches the templates as the ``--json`` shapes of ``labbook.views.research``, with the
words the CLI prints beside them, so the page and ``lab hyp show`` never disagree.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.records.research import Prediction
from labbook.service.notebook import Notebook
from labbook.views import research as views
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]

#: What ``--kind`` takes in ``lab calibration``: the filter form's choices.
KINDS = ("binary", "numeric", "point", "paper", "lab", "fatebook")
OPS = (">", ">=", "<", "<=", "==", "!=")


@router.get("/hypotheses", response_class=HTMLResponse)
def hypotheses(request: Request, nb: NB) -> HTMLResponse:
    """Every hypothesis with how many of its current predictions are settled (as ``lab hyp ls``)."""
    nb.hypotheses.auto_resolve()
    preds = [p for p in nb.hypotheses.predictions() if p.superseded_by is None]
    rows = []
    for h in nb.hypotheses.list():
        mine = [p for p in preds if p.hyp_id == h.id]
        done = sum(p.resolution is not None for p in mine)
        rows.append(dict(views.hypothesis_dict(h), predictions=len(mine), resolved=done))
    return page(request, "hypotheses.html", "hypotheses", "Hypotheses", hypotheses=rows)


def prediction_row(p: Prediction, first_result_at: float | None) -> dict[str, Any]:
    """A prediction's shape with the words ``lab hyp show`` prints: forecast, when made, outcome."""
    from labbook.service.hypotheses import when_made

    return dict(
        views.prediction_dict(p),
        forecast=p.describe(),
        made=when_made(p, first_result_at),
        outcome_words=views.outcome_text(p),
    )


@router.get("/hypotheses/{ref}", response_class=HTMLResponse)
def hypothesis(request: Request, nb: NB, ref: str) -> HTMLResponse:
    """The dossier: predictions marked late or made before the results, evidence against, runs."""
    d = nb.hypotheses.dossier(ref)
    h = views.dossier_dict(d, nb.failures.hypothesis_piles(d.hypothesis.id))
    h["predictions"] = [prediction_row(p, d.first_result_at) for p in d.predictions]
    metrics = sorted({p.metric for p in d.predictions if p.metric})
    return page(
        request,
        "hypothesis.html",
        "hypotheses",
        f"{h['ref']} · {h['text'][:60]}",
        h=h,
        against=[n for n in h["notes"] if n["against"]],
        others=[n for n in h["notes"] if not n["against"]],
        metrics=metrics,
        ops=OPS,
    )


@router.get("/calibration", response_class=HTMLResponse)
def calibration(
    request: Request,
    nb: NB,
    since: str | None = None,
    tag: str | None = None,
    problem: str | None = None,
    kind: str | None = None,
    include_late: bool = False,
    bins: Annotated[int, Query(ge=2, le=50)] = 10,
) -> HTMLResponse:
    """The report of ``lab calibration`` under the URL's filters; a bad ``since`` is a 400."""
    from labbook.service.calibration import report
    from labbook.web.api.research import calibration_filters

    filters = calibration_filters(since, tag, problem, kind, include_late)
    cal = views.calibration_dict(report(nb, filters, bins), None)
    chosen = {"since": since or "", "tag": tag or "", "problem": problem or "", "kind": kind or ""}
    query = {k: v for k, v in chosen.items() if v} | ({"include_late": "1"} if include_late else {})
    return page(
        request,
        "calibration.html",
        "calibration",
        "Calibration",
        cal=cal,
        filters=chosen,
        include_late=include_late,
        query=urlencode(query),
        late_query=urlencode(query | {"include_late": "1"}),
        bins=bins,
        kinds=KINDS,
        trend=[{"month": m[0], "count": m[1], "brier": m[2]} for m in cal["trend"]],
    )
