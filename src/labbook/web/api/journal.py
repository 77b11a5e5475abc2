"""The journal, search, today's agenda and notes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from labbook.service.notebook import Notebook
from labbook.views.journal import hits_list, note_dict, timeline_list
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(prefix="/api", tags=["journal"], default_response_class=LabJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    run: str | None = None
    hypothesis: str | None = None
    against: str | None = None  # evidence against this hypothesis, shown as prominently as for


@router.get("/journal", summary="The timeline (lab journal --json); since: 7d, 12w, 6m, 1y, a date or all")
def journal(nb: NB, since: str = "30d") -> list[dict[str, Any]]:
    from labbook.service.calibration import parse_since

    return timeline_list(nb.journal.timeline(None if since == "all" else parse_since(since)))


@router.get("/search", summary="Full-text search over notes, hypotheses, predictions, runs and papers")
def search(
    nb: NB, q: Annotated[str, Query(min_length=1)], limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    return hits_list(nb.journal.search(q, limit))


@router.get("/today", summary="Today's agenda (lab today --json)")
def today(nb: NB) -> dict[str, Any]:
    from labbook.service.today import agenda
    from labbook.views.problems import agenda_dict

    return agenda_dict(agenda(nb))


@router.post("/notes", status_code=201, summary="Write a note, linked to a run or a hypothesis (lab note)")
def add_note(nb: NB, body: Annotated[NewNote, Body()]) -> dict[str, Any]:
    return note_dict(
        nb.journal.note(
            body.text, hyp=body.hypothesis or None, run=body.run or None, against=body.against or None
        )
    )
