"""The journal's timeline by day, search hits with links to what they are about, today's agenda.

The events, hits and sections are the service's, in the shapes ``lab journal``, ``lab search``
and ``lab today`` print with ``--json``; this module only groups them and finds the page each
one belongs to.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.service.notebook import Notebook
from labbook.views import tables as render
from labbook.views.journal import hits_list, timeline_list
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]

#: The kinds ``lab journal`` marks with "!!": they must not scroll past unseen.
MARKED = ("evidence-against", "late-prediction")
SPANS = ("7d", "30d", "12w", "6m", "1y", "all")
_MARK = re.compile(r"\[([^\[\]]*)\]")  # the store's snippet puts [ ] around each match


def event_href(e: dict[str, Any]) -> str | None:
    """An event's run, else its hypothesis, else its paper."""
    ref = e["ref"]
    if ref.startswith("run "):
        return f"/runs/{ref[4:]}"
    if e["hypothesis"]:
        return f"/hypotheses/H{e['hypothesis']}"
    return f"/papers#{ref}" if re.fullmatch(r"R\d+", ref) else None


def by_day(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Days newest first, each with its events newest first and the marked ones flagged."""
    days: dict[str, list[dict[str, Any]]] = {}
    for e in reversed(events):
        stamp = render.when(e["at"])
        row = dict(e, time=stamp[11:16], marked=e["kind"] in MARKED, href=event_href(e))
        days.setdefault(stamp[:10], []).append(row)
    return [{"day": day, "events": rows} for day, rows in days.items()]


@router.get("/journal", response_class=HTMLResponse)
def journal(request: Request, nb: NB, since: str = "30d") -> HTMLResponse:
    """``lab journal --since``: a bad span is a 400 with the service's one line."""
    from labbook.service.calibration import parse_since

    since = since.strip() or "30d"
    start = None if since == "all" else parse_since(since)
    events = timeline_list(nb.journal.timeline(start))
    return page(
        request,
        "journal.html",
        "journal",
        "Journal",
        days=by_day(events),
        total=len(events),
        marked=sum(e["kind"] in MARKED for e in events),
        since=since,
        spans=SPANS,
    )


def snippet_parts(snippet: str) -> list[tuple[bool, str]]:
    """The snippet as (matched?, text) pieces, so the page marks matches without raw HTML."""
    parts: list[tuple[bool, str]] = []
    last = 0
    for m in _MARK.finditer(snippet):
        parts += [(False, snippet[last : m.start()]), (True, m.group(1))]
        last = m.end()
    return [*parts, (False, snippet[last:])]


def hit_href(nb: Notebook, hit: dict[str, Any], notes: dict[int, Any]) -> str | None:
    """The page a hit is about: its run or hypothesis (a prediction's or a note's), or its paper."""
    kind, ref = hit["kind"], hit["id"]
    if kind == "run":
        return f"/runs/{ref}"
    if kind == "hypothesis":
        return f"/hypotheses/H{ref}"
    if kind == "paper":
        return f"/papers#R{ref}"
    if kind == "prediction":
        p = nb.hypotheses.prediction(ref)
        return f"/hypotheses/H{p.hyp_id}" if p.hyp_id else (f"/papers#R{p.paper_id}" if p.paper_id else None)
    if kind == "note" and ref in notes:
        n = notes[ref]
        return f"/hypotheses/H{n.hyp_id}" if n.hyp_id else (f"/runs/{n.run_id}" if n.run_id else None)
    return None


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request, nb: NB, q: str = "", limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> HTMLResponse:
    """``lab search``, each hit linked to the run or hypothesis it is about where there is one."""
    hits = hits_list(nb.journal.search(q, limit)) if q.strip() else []
    notes = {n.id: n for n in nb.journal.notes()} if any(h["kind"] == "note" for h in hits) else {}
    rows = [dict(h, href=hit_href(nb, h, notes), parts=snippet_parts(h["snippet"])) for h in hits]
    return page(request, "search.html", "", f"search: {q}" if q else "search", q=q, hits=rows)


def agenda_links(nb: Notebook, name: str, data: Any) -> list[tuple[str, str]]:
    """(label, href) for the things a section of ``lab today`` names."""
    if name == "hypotheses":
        return [(f"open {ref}", f"/hypotheses/{ref}") for ref in data or []]
    if name == "failures":
        return [(f"review {w['sample']}", f"/failures/{w['sample']}") for w in data or []]
    if name == "papers":
        return [("triage papers", "/papers")] if (data or {}).get("untriaged") else []
    if name == "due":
        out = []
        for ref in data or []:
            p = nb.hypotheses.prediction(ref)
            if p.hyp_id:
                out.append((f"{ref} on H{p.hyp_id}", f"/hypotheses/H{p.hyp_id}"))
        return out
    return []


@router.get("/today", response_class=HTMLResponse)
def today(request: Request, nb: NB) -> HTMLResponse:
    """``lab today``: each section's title and lines as printed, with links to act on them."""
    from labbook.service.today import agenda
    from labbook.views.problems import agenda_dict

    sections = [
        dict(s, name=name, links=agenda_links(nb, name, s["data"]))
        for name, s in agenda_dict(agenda(nb)).items()
    ]
    return page(request, "today.html", "today", "Today", sections=sections)
