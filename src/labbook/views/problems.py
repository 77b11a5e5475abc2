"""The JSON shapes of direction: problems, ideas and raters, the plan, and ``lab today``."""

from __future__ import annotations

import dataclasses
from typing import Any

from labbook.core.plan import priority
from labbook.records.problems import Idea, Problem, Task


def problem_dict(p: Problem) -> dict[str, Any]:
    return {
        "id": p.id,
        "ref": p.ref,
        "title": p.title,
        "why": p.why,
        "attack": p.attack,
        "notes": p.notes,
        "status": p.status,
        "workable": p.workable,
        "hypotheses": [f"H{h}" for h in p.hyp_ids],
        "created_at": p.created_at,
        "retired_at": p.retired_at,
        "retired_why": p.retired_why,
    }


def problems_list(problems: list[Problem]) -> list[dict[str, Any]]:
    return [problem_dict(p) for p in problems]


def problem_detail(p: Problem, ideas: list[Idea], matches: list[tuple[Any, ...]]) -> dict[str, Any]:
    """``lab problems show``: the problem, the ideas attacking it, the matches that ranked it."""
    out = problem_dict(p)
    out["ideas"] = [i.ref for i in ideas]
    out["matches"] = [{"id": m, "text": t, "at": at, "rank": r} for m, t, at, r in matches]
    return out


def match_dict(m: Any) -> dict[str, Any]:
    """``lab problems match``: the recorded match and the problems it ranked, best first."""
    return {
        "match": m.id,
        "text": m.text,
        "ranked": [{"ref": p.ref, "title": p.title, "score": score} for p, score in m.ranked],
    }


def idea_dict(i: Idea) -> dict[str, Any]:
    return {
        "id": i.id,
        "ref": i.ref,
        "text": i.text,
        "problem": f"Q{i.problem_id}" if i.problem_id else None,
        "author": i.author,
        "created_at": i.created_at,
        "outcome": i.outcome,
        "outcome_at": i.outcome_at,
        "ratings": [{"rater": r.rater, "p": r.p, "created_at": r.created_at} for r in i.ratings],
    }


def ideas_list(ideas: list[Idea]) -> list[dict[str, Any]]:
    return [idea_dict(i) for i in ideas]


def raters_list(scores: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(s) for s in scores]


def task_dict(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "ref": t.ref,
        "text": t.text,
        "p": t.p,
        "hours": t.hours,
        "priority": priority(t.p, t.hours),
        "hypothesis": f"H{t.hyp_id}" if t.hyp_id else None,
        "status": t.status,
        "created_at": t.created_at,
        "closed_at": t.closed_at,
    }


def schedule_dict(s: Any) -> dict[str, Any]:
    """``lab plan``: the open tasks in order, their joint odds, and how good past estimates were."""
    return {
        "tasks": [task_dict(t) for t in s.tasks],
        "p_all_succeed": s.p_all,
        "expected_hours_before_first_failure": s.expected_hours,
        "total_hours": s.total_hours,
        "closed": s.closed,
        "brier": s.brier,
    }


def agenda_dict(sections: list[Any]) -> dict[str, Any]:
    """``lab today``: each section by name, with its lines as printed and its data."""
    return {
        s.name: {"title": s.title, "available": s.available, "lines": s.lines, "data": s.data}
        for s in sections
    }
