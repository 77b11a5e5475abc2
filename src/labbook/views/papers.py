"""The JSON shapes of ``lab papers``: papers, the week's triage, imports, guesses."""

from __future__ import annotations

import dataclasses
from typing import Any

from labbook.records.papers import Paper
from labbook.records.research import Prediction
from labbook.views.research import prediction_dict


def paper_dict(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id,
        "ref": p.ref,
        "title": p.title,
        "authors": list(p.authors),
        "year": p.year,
        "venue": p.venue,
        "doi": p.doi,
        "arxiv": p.arxiv,
        "url": p.url,
        "abstract": p.abstract,
        "key": p.citekey,
        "type": p.entry_type,
        "source": p.source,
        "added_at": p.added_at,
        "status": p.status,
        "kind": p.output_kind,
        "changes": p.changes,
        "triaged_at": p.triaged_at,
    }


def papers_list(papers: list[Paper], week: Any = None) -> Any:
    """The papers; with ``week``, wrapped in this week's triage against the target."""
    out: Any = [paper_dict(p) for p in papers]
    if week is None:
        return out
    return {
        "week_start": week.start,
        "triaged": week.triaged,
        "target": [week.low, week.high],
        "verdict": week.verdict,
        "untriaged": week.untriaged,
        "papers": out,
    }


def paper_detail(p: Paper, preds: list[Prediction], citekeys: list[str]) -> dict[str, Any]:
    """``lab papers show``: the paper, every key it was imported under, every guess made on it."""
    return dict(paper_dict(p), citekeys=citekeys, predictions=[prediction_dict(x) for x in preds])


def import_dict(summary: Any) -> dict[str, Any]:
    """``lab papers import``: per file what was added, merged and skipped, and the totals."""
    return {
        "files": [dataclasses.asdict(rep) for rep in summary.files],
        "totals": {what: summary.total(what) for what in ("added", "merged", "skipped")},
    }
