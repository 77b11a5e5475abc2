"""Hypotheses, predictions and calibration; the writes go through the service's rules (lateness)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from labbook.service.notebook import Notebook
from labbook.views import research as views
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(prefix="/api", tags=["research"], default_response_class=LabJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]


class NewHypothesis(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    problem: str | None = None
    tags: list[str] = []


class NewPrediction(BaseModel):
    """The fields of ``lab predict``; the service decides whether it is late."""

    hypothesis: str | None = None
    text: str = Field(default="", max_length=10_000)
    p: float | None = None
    low: float | None = None
    high: float | None = None
    level: float = 0.8  # lab predict's default
    point: float | None = None
    metric: str | None = None
    agg: str = "last"
    reduce: str = "mean"
    op: str | None = None
    value: float | None = None
    where: str | None = None
    diff: tuple[str, str] | None = None
    verdict: tuple[str, str, str] | None = None
    min_runs: int = Field(default=1, ge=1)
    due: str | None = None
    revise: str | None = None


@router.get("/hypotheses", summary="Every hypothesis with its status (lab hyp ls --json)")
def hypotheses(nb: NB) -> list[dict[str, Any]]:
    nb.hypotheses.auto_resolve()
    return views.hypotheses_list(nb.hypotheses.list())


@router.get(
    "/hypotheses/{ref}", summary="A hypothesis with its notes, predictions and runs (lab hyp show --json)"
)
def hypothesis(nb: NB, ref: str) -> dict[str, Any]:
    nb.hypotheses.auto_resolve()
    d = nb.hypotheses.dossier(ref)
    return views.dossier_dict(d, nb.failures.hypothesis_piles(d.hypothesis.id))


@router.post("/hypotheses", status_code=201, summary="Record a hypothesis (lab hyp add)")
def add_hypothesis(nb: NB, body: Annotated[NewHypothesis, Body()]) -> dict[str, Any]:
    h = nb.hypotheses.add(body.text, body.problem or None, tuple(body.tags))
    return views.new_hypothesis_dict(h)


@router.post("/predictions", status_code=201, summary="Write down a prediction (lab predict)")
def predict(nb: NB, body: Annotated[NewPrediction, Body()]) -> dict[str, Any]:
    """Stored late (kept, not scored) when a linked run already has results: ``late`` says so."""
    from labbook.service.forecast import Forecast

    fields = body.model_dump(exclude={"hypothesis", "text", "due", "revise"})
    pred = nb.hypotheses.predict(
        body.hypothesis or None,
        body.text,
        Forecast(**fields),
        due=body.due or None,
        revise=body.revise or None,
    )
    return views.prediction_dict(pred)


@router.get("/due", summary="Predictions waiting for you (lab due --json)")
def due(nb: NB) -> list[dict[str, Any]]:
    return views.due_list(nb.hypotheses.due())


def calibration_filters(
    since: str | None = None,
    tag: str | None = None,
    problem: str | None = None,
    kind: str | None = None,
    include_late: bool = False,
) -> Any:
    """``lab calibration``'s filters from query parameters (shared by the page)."""
    from labbook.service.calibration import Filters, parse_since

    return Filters(parse_since(since or None), tag or None, kind or None, problem or None, include_late)


CalibrationFilters = Annotated[Any, Depends(calibration_filters)]


@router.get("/calibration", summary="Brier, log score, interval coverage and the reliability bins")
def calibration(
    nb: NB, filters: CalibrationFilters, bins: Annotated[int, Query(ge=2, le=50)] = 10
) -> dict[str, Any]:
    from labbook.service.calibration import report

    return views.calibration_dict(report(nb, filters, bins), None)


@router.get("/calibration/bin", summary="The scored yes/no predictions with p in [lo, hi)")
def calibration_bin(
    nb: NB,
    filters: CalibrationFilters,
    lo: Annotated[float, Query(ge=0, le=1)],
    hi: Annotated[float, Query(ge=0, le=1)],
) -> list[dict[str, Any]]:
    from labbook.service.calibration import in_bin, parse_bin

    low, high = parse_bin(f"{lo:g}-{hi:g}")
    return views.bin_list(in_bin(nb, filters, low, high))
