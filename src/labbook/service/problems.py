"""The important problems, and ideas rated before anyone knows whether they work.

A short list of problems (10 to 20 active ones) keeps attention where it matters. Each
says why it matters and, once there is one, its angle of attack: a problem without an
attack is important but not yet workable. Hypotheses link to problems, so a new tool,
method or fact can be matched against everything written about each problem
(``match``, ranked by FTS5's bm25), and the match is kept as a record that it was considered.

Ideas are rated with a probability that they will work, by you and by mentors. Once an
idea has worked or failed, each rater's ratings get a Brier score: whose judgement to
trust is itself something to measure.
"""

from __future__ import annotations

import builtins
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labbook.core import scoring
from labbook.errors import BadInput, NotFound
from labbook.records.problems import IDEA_OUTCOMES, Idea, Problem
from labbook.service.hypotheses import author
from labbook.service.papers import check_p

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

#: How many active problems a researcher can keep in mind and still act on.
ACTIVE_RANGE = (10, 20)


@dataclass(frozen=True)
class Match:
    id: int
    text: str
    ranked: list[tuple[Problem, float]]


@dataclass(frozen=True)
class RaterScore:
    rater: str
    rated: int
    scored: int
    brier: float | None
    mean_p: float | None
    worked: float | None  # share of the scored ideas that worked


def problem_id(ref: str | int) -> int | None:
    """``Q3`` / ``3`` → 3; anything else (free text) → None."""
    m = re.fullmatch(r"(?i:Q)?(\d+)", str(ref).strip())
    return int(m.group(1)) if m else None


def match_words(text: str) -> list[str]:
    """The words of a description a problem is matched on (any of them; the store's ranking weighs the rare ones)."""
    words = {w.casefold() for w in re.findall(r"[^\W_]+", text) if len(w) > 1}
    if not words:
        raise BadInput("describe the tool, method or fact in a few words to match against your problems")
    return sorted(words)


class Problems:
    """The problems part of the notebook service (``notebook.problems``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    def get(self, ref: str | int) -> Problem:
        pid = problem_id(ref)
        if pid is None:
            raise BadInput(f"{str(ref)!r} is not a problem id; write it like Q3")
        problem = self.store.problems.get_problem(pid)
        if problem is None:
            raise NotFound(f"no problem Q{pid} in this notebook; `lab problems ls` lists them")
        return problem

    def list(self, include_retired: bool = False) -> list[Problem]:
        return [p for p in self.store.problems.list_problems() if include_retired or p.active]

    def active_warning(self) -> str | None:
        n = len(self.list())
        low, high = ACTIVE_RANGE
        if n < low:
            return f"{n} active problem{'s' if n != 1 else ''}: fewer than {low}; what else matters in your field?"
        if n > high:
            return f"{n} active problems: more than {high}; retire the ones you will not work on"
        return None

    def add(self, title: str, why: str, attack: str | None = None) -> tuple[Problem, builtins.list[int]]:
        """A new problem; hypotheses that already named it in free text are linked to it."""
        title, why = _text(title, "a problem needs a title"), _text(why, "say why it matters: --why TEXT")
        attack = " ".join(attack.split()) if attack and attack.strip() else None
        if problem_id(title) is not None:
            raise BadInput(f"{title!r} looks like a problem id; give the problem a title in words")
        same = self.store.problems.find_problems_by_title(title)
        if same:
            raise BadInput(
                f"there is already a problem titled {title!r} (Q{same[0]}); edit it with lab problems edit"
            )
        adopt = self.store.problems.unlinked_hypotheses_named(title)
        pid = self.store.problems.create_problem(uuid.uuid4().hex, title, why, attack, time.time(), adopt)
        return self.get(pid), adopt

    def edit(
        self,
        ref: str | int,
        title: str | None = None,
        why: str | None = None,
        attack: str | None = None,
        note: str | None = None,
    ) -> Problem:
        problem = self.get(ref)
        values: dict[str, str | None] = {}
        if title is not None:
            values["title"] = new_title = _text(title, "--title cannot be empty")
            clash = [i for i in self.store.problems.find_problems_by_title(new_title) if i != problem.id]
            if clash:
                raise BadInput(f"Q{clash[0]} already has the title {values['title']!r}")
        if why is not None:
            values["why"] = _text(why, "--why cannot be empty")
        if attack is not None:
            values["attack"] = " ".join(attack.split()) or None
        note = " ".join(note.split()) if note else None
        if not values and not note:
            raise BadInput("nothing to change: give --title, --why, --attack or --note")
        self.store.problems.edit_problem(problem.id, values, note)
        return self.get(problem.id)

    def retire(self, ref: str | int, why: str | None = None) -> Problem:
        problem = self.get(ref)
        if not self.store.problems.retire_problem(problem.id, why, time.time()):
            raise BadInput(f"{problem.ref} is already retired")
        return self.get(problem.id)

    def link(self, hyp_ref: str | int, ref: str | int) -> Problem:
        hyp = self.nb.hypotheses.get(hyp_ref)
        problem = self.get(ref)
        if not problem.active:
            raise BadInput(f"{problem.ref} is retired; link the hypothesis to an active problem")
        self.store.problems.link_problem(hyp.id, problem.id, problem.title)
        return self.get(problem.id)

    def resolve_for_hypothesis(self, value: str | None) -> tuple[str | None, Problem | None]:
        """What ``lab hyp add --problem VALUE`` means: a problem record (by id or exact title) or free text.

        Free text that names no problem is kept as it always was; ``problems add`` with the
        same title links such hypotheses later.
        """
        if value is None or not value.strip():
            return None, None
        if problem_id(value) is not None:
            problem = self.get(value)
        else:
            found = self.store.problems.find_problems_by_title(value)
            if not found:
                return " ".join(value.split()), None
            problem = self.get(found[0])
        if not problem.active:
            raise BadInput(f"{problem.ref} is retired; link the hypothesis to an active problem")
        return problem.title, problem

    def match(self, text: str, limit: int = 10) -> Match:
        """Rank active problems by how much ``text`` bears on them, and record that it was considered."""
        if limit < 1:
            raise BadInput("--limit must be at least 1")
        words = " ".join(text.split())
        match_id, ranked = self.store.problems.match_problems(match_words(words), words, time.time(), limit)
        return Match(match_id, words, [(self.get(pid), score) for pid, score in ranked])

    def matches_of(self, problem: Problem) -> builtins.list[tuple[int, str, float, int]]:
        return self.store.problems.matches_of(problem.id)


class Ideas:
    """Ideas and their ratings (``notebook.ideas``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    def get(self, ref: str | int) -> Idea:
        m = re.fullmatch(r"(?i:I)?(\d+)", str(ref).strip())
        if not m:
            raise BadInput(f"{str(ref)!r} is not an idea id; write it like I3")
        idea = self.store.problems.get_idea(int(m.group(1)))
        if idea is None:
            raise NotFound(f"no idea I{m.group(1)} in this notebook; `lab ideas ls` lists them")
        return idea

    def list(self) -> list[Idea]:
        return self.store.problems.list_ideas()

    def add(self, text: str, problem: str | None = None) -> Idea:
        text = _text(text, "an idea needs some text")
        pid = self.nb.problems.get(problem).id if problem is not None else None
        same = self.store.problems.find_ideas_by_text(text)
        if same:
            raise BadInput(f"this idea is already written down as I{same[0]}")
        return self.get(self.store.problems.create_idea(uuid.uuid4().hex, text, pid, author(), time.time()))

    def rate(self, ref: str | int, p: float, rater: str | None = None) -> Idea:
        idea = self.get(ref)
        check_p(p)
        who = " ".join((rater or author()).split())
        if not who:
            raise BadInput("--rater needs a name")
        if idea.outcome is not None:
            raise BadInput(f"{idea.ref} already {idea.outcome}; a rating must come before the outcome")
        if not self.store.problems.rate_idea(idea.id, who, p, time.time()):
            previous = next(r for r in idea.ratings if r.rater == who)
            raise BadInput(f"{who} already rated {idea.ref} (p={previous.p:g}); ratings are final")
        return self.get(idea.id)

    def outcome(self, ref: str | int, outcome: str) -> Idea:
        idea = self.get(ref)
        if outcome not in IDEA_OUTCOMES:
            raise BadInput(f"an idea's outcome is one of {', '.join(IDEA_OUTCOMES)}")
        if not self.store.problems.set_idea_outcome(idea.id, outcome, time.time()):
            raise BadInput(f"{idea.ref} already has an outcome ({idea.outcome}); outcomes are final")
        return self.get(idea.id)

    def raters(self) -> builtins.list[RaterScore]:
        """Each rater's Brier score over ideas that worked or failed (abandoned ones say nothing)."""
        by: dict[str, list[tuple[float, float | None]]] = {}
        for idea in self.list():
            y = {"worked": 1.0, "failed": 0.0}.get(idea.outcome or "")
            for r in idea.ratings:
                by.setdefault(r.rater, []).append((r.p, y))
        out = []
        for rater, pairs in sorted(by.items()):
            scored = [(p, y) for p, y in pairs if y is not None]
            ps = [x for x, _ in scored]
            ys = [x for _, x in scored]
            out.append(
                RaterScore(
                    rater,
                    len(pairs),
                    len(scored),
                    scoring.brier(ps, ys) if scored else None,
                    sum(ps) / len(ps) if scored else None,
                    sum(ys) / len(ys) if scored else None,
                )
            )
        return sorted(out, key=lambda s: (s.brier is None, s.brier if s.brier is not None else 0, s.rater))


def _text(value: str | None, message: str) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise BadInput(message)
    return text
