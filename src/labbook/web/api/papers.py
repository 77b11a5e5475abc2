"""Papers: the list, the untriaged queue with this week's count, and a triage decision."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from labbook.service.notebook import Notebook
from labbook.views import papers as views
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(
    prefix="/api/papers", tags=["papers"], default_response_class=LabJSON, route_class=ViewRoute
)
NB = Annotated[Notebook, Depends(notebook)]


class Triage(BaseModel):
    decision: Literal["drop", "skim", "read", "deep-read"]
    kind: str | None = None
    changes: Literal["yes", "sometimes", "no"] | None = None


@router.get("", summary="Papers, by triage status (lab papers ls --json)")
def papers(nb: NB, status: str | None = None) -> Any:
    return views.papers_list(nb.papers.list(status or None))


@router.get(
    "/queue", summary="The untriaged papers, oldest first, with this week's triage against the target"
)
def queue(nb: NB) -> dict[str, Any]:
    from labbook.records.papers import CHANGES, DECISIONS, OUTPUT_KINDS

    out: dict[str, Any] = views.papers_list(nb.papers.queue(), nb.papers.week())
    out["choices"] = {"decision": list(DECISIONS), "kind": OUTPUT_KINDS, "changes": list(CHANGES)}
    return out


@router.get("/{paper}", summary="One paper with its guesses and citation keys (lab papers show --json)")
def paper(nb: NB, paper: str) -> dict[str, Any]:
    p = nb.papers.get(paper)
    return views.paper_detail(p, nb.papers.predictions(p), nb.papers.citekeys(p))


@router.post(
    "/{paper}/triage", summary="Decide: drop, skim, read or deep-read; kind of output; changes my work?"
)
def triage(nb: NB, paper: str, body: Annotated[Triage, Body()]) -> dict[str, Any]:
    return views.paper_dict(nb.papers.triage(paper, body.decision, body.kind or None, body.changes))
