"""The JSON shapes of hypotheses, predictions and calibration, and the words for an outcome.

``lab hyp``, ``lab predict``, ``lab due``, ``lab calibration`` and the paper guesses of
``lab papers`` all describe predictions; they take these shapes so a prediction reads
the same whichever command (or adapter) shows it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from labbook.records.research import Hypothesis, Prediction
from labbook.views.journal import note_dict
from labbook.views.runs import run_dict
from labbook.views.tables import number


def hypothesis_dict(h: Hypothesis) -> dict[str, Any]:
    return {
        "id": h.id,
        "ref": h.ref,
        "uid": h.uid,
        "text": h.text,
        "status": h.status,
        "problem": h.problem,
        "problem_id": h.problem_id,
        "tags": list(h.tags),
        "author": h.author,
        "created_at": h.created_at,
        "outcome": h.outcome,
        "belief": h.belief,
        "resolved_at": h.resolved_at,
        "runs": list(h.run_ids),
    }


def hypotheses_list(hyps: list[Hypothesis]) -> list[dict[str, Any]]:
    return [hypothesis_dict(h) for h in hyps]


def prediction_dict(p: Prediction) -> dict[str, Any]:
    r = p.resolution
    return {
        "id": p.id,
        "ref": p.ref,
        "uid": p.uid,
        "hypothesis": p.hyp_id,
        "text": p.text,
        "kind": p.kind,
        "p": p.p,
        "low": p.low,
        "high": p.high,
        "level": p.level,
        "point": p.point,
        "metric": p.metric,
        "agg": p.agg,
        "reduce": p.reduce,
        "op": p.op,
        "value": p.value,
        "min_runs": p.min_runs,
        "author": p.author,
        "created_at": p.created_at,
        "due_at": p.due_at,
        "late": p.late,
        "revision_of": p.revision_of,
        "superseded_by": p.superseded_by,
        "source": p.source,
        "paper": p.paper_id,
        "scope": p.scope,
        "resolution": None
        if r is None
        else {
            "outcome": r.outcome,
            "value": r.value,
            "how": r.how,
            "detail": r.detail,
            "resolved_at": r.resolved_at,
        },
    }


def pile_link_dict(link: Any) -> dict[str, Any]:
    """A failure pile a hypothesis was started from, with how much of the review it holds."""
    return {"sample": link.sample, "pile": link.pile, "count": link.count, "reviewed": link.reviewed}


def new_hypothesis_dict(h: Hypothesis, link: Any = None) -> dict[str, Any]:
    """``lab hyp add``: the hypothesis, and the pile it came from when it came from one."""
    out = hypothesis_dict(h)
    if link is not None:
        out["from_piles"] = [pile_link_dict(link)]
    return out


def dossier_dict(d: Any, piles: list[Any] | tuple[Any, ...] = ()) -> dict[str, Any]:
    """``lab hyp show``: a hypothesis with its notes, predictions and runs in full."""
    out = hypothesis_dict(d.hypothesis)
    out["first_result_at"] = d.first_result_at
    out["from_piles"] = [pile_link_dict(link) for link in piles]
    out["notes"] = [note_dict(n) for n in d.notes]
    out["predictions"] = [prediction_dict(p) for p in d.predictions]
    out["runs"] = [run_dict(r) for r in d.runs]
    return out


def due_list(items: list[tuple[Prediction, str]]) -> list[dict[str, Any]]:
    """``lab due``: each waiting prediction with why it is due."""
    return [dict(prediction_dict(p), reason=reason) for p, reason in items]


def fatebook_dict(rep: Any) -> dict[str, Any]:
    return dataclasses.asdict(rep)


def calibration_dict(rep: Any, figure: Path | None) -> dict[str, Any]:
    """``lab calibration``: the report as computed, and where its reliability diagram went."""
    out = dataclasses.asdict(rep)
    out["figure"] = str(figure) if figure else None
    return out


def bin_list(preds: list[Prediction]) -> list[dict[str, Any]]:
    """``lab calibration --bin``: the scored yes/no predictions whose p fell in the bin."""
    return [
        {"ref": p.ref, "p": p.p, "outcome": p.resolution.outcome, "text": p.text}
        for p in preds
        if p.resolution
    ]


def outcome_text(p: Prediction) -> str:
    """How a prediction ended, in words, with the evidence that settled it."""
    if p.resolution is None:
        return "open"
    r = p.resolution
    value = f" ({number(r.value)})" if r.value is not None else ""
    return f"{r.outcome}{value}, {r.how}" + _evidence_text(r.detail or {})


def _evidence_text(detail: dict[str, Any]) -> str:
    """Per side, the seeds that settled it; the verdict lab compare gave; repeats folded."""
    parts = []
    for side in ("a", "b"):
        ev = detail.get(side)
        if isinstance(ev, dict):
            parts.append(f"{ev.get('spec')}: {len(ev.get('values', []))} seeds")
    if "verdict" in detail:
        parts.append(f"lab compare: {detail['verdict']}")
    folded = detail.get("folded", 0) + sum(
        detail[s].get("folded", 0) for s in ("a", "b") if isinstance(detail.get(s), dict)
    )
    if folded:
        parts.append(f"{folded} repeated run{'s' if folded != 1 else ''} folded")
    return f" ({'; '.join(parts)})" if parts else ""
