"""The JSON shapes of the journal: notes, the timeline (``lab journal``) and ``lab search`` hits."""

from __future__ import annotations

from typing import Any

from labbook.records.journal import Event, Hit, Note


def note_dict(n: Note) -> dict[str, Any]:
    return {
        "id": n.id,
        "text": n.text,
        "against": n.against,
        "run": n.run_id,
        "created_at": n.created_at,
        "author": n.author,
    }


def event_dict(e: Event) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "ref": e.ref, "text": e.text, "hypothesis": e.hyp_id}


def timeline_list(events: list[Event]) -> list[dict[str, Any]]:
    return [event_dict(e) for e in events]


def hit_dict(h: Hit) -> dict[str, Any]:
    return {"kind": h.kind, "id": h.ref, "title": h.title, "snippet": h.snippet, "rank": h.rank}


def hits_list(hits: list[Hit]) -> list[dict[str, Any]]:
    return [hit_dict(h) for h in hits]
