"""The paper queue, one paper at a time with the terminal's triage keys, and every paper by status.

The queue, the week's count and its verdict are the service's (``nb.papers.queue()``,
``nb.papers.week()``); decisions go to ``POST /api/papers/{ref}/triage`` from ``triage.js``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.errors import BadInput
from labbook.records.papers import CHANGES, DECISIONS, OUTPUT_KINDS
from labbook.service.notebook import Notebook
from labbook.views import papers as views
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]

STATUSES = ("untriaged", *DECISIONS)
#: The terminal's keys (``lab papers triage``): d drop, s skim, r read, e deep-read.
DECISION_KEYS = {"d": "drop", "s": "skim", "r": "read", "e": "deep-read"}
CHANGES_KEYS = {"y": "yes", "s": "sometimes", "n": "no"}


@router.get("/papers", response_class=HTMLResponse)
def papers(request: Request, nb: NB, at: Annotated[int, Query(ge=1)] = 1, status: str = "") -> HTMLResponse:
    """Paper ``at`` of the untriaged queue (1-based, clamped), and the papers of ``status`` (all)."""
    if status and status not in STATUSES:
        raise BadInput(f"status must be one of {', '.join(STATUSES)}, or empty for every paper")
    queue = views.papers_list(nb.papers.queue(), nb.papers.week())
    waiting = queue["papers"]
    at = min(at, len(waiting)) if waiting else 0
    listing = views.papers_list(nb.papers.list(status or None))
    groups = [(s, [p for p in listing if p["status"] == s]) for s in (status,) if s] or [
        (s, [p for p in listing if p["status"] == s]) for s in STATUSES
    ]
    return page(
        request,
        "papers.html",
        "papers",
        "Papers",
        week=queue,
        current=waiting[at - 1] if waiting else None,
        at=at,
        size=len(waiting),
        status=status,
        statuses=STATUSES,
        groups=[(s, rows) for s, rows in groups if rows or s == status],
        total=len(listing),
        kinds=list(OUTPUT_KINDS.items()),
        decision_keys=DECISION_KEYS,
        changes_keys={k: v for k, v in CHANGES_KEYS.items() if v in CHANGES},
    )
