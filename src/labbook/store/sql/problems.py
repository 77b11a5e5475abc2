"""Problems, their links and matches, ideas with ratings, and plan tasks.

``match_problems`` ranks each active problem's document (``documents``: itself, its
notes, what its linked hypotheses say) with the dialect's text ranking, built for the
one query: a notebook holds tens of problems, so that costs well under a millisecond,
and the ranking can never be out of date with the hypotheses and notes it reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labbook.store.sql.db import Database, Dialect, named

if TYPE_CHECKING:  # the records load with the first read, not with every notebook
    from labbook.records.problems import Idea, Problem, Rating, Task

_PROBLEM = "id, uid, title, why, attack, notes, created_at, retired_at, retired_why"
_IDEA = "id, uid, text, problem_id, author, created_at, outcome, outcome_at"
_TASK = "id, uid, text, p, hours, hyp_id, created_at, status, closed_at"


def documents(dialect: Dialect) -> str:
    """(id, title, body, hyps) of each active problem: itself, its notes, what its linked hypotheses say."""
    hyps = dialect.group_concat("h.text || ' ' || coalesce(h.belief, '')", "' '")
    notes = dialect.group_concat("n.text", "' '")
    return f"""
SELECT q.id, q.title,
       q.why || ' ' || coalesce(q.attack, '') || ' ' || q.notes,
       coalesce((SELECT {hyps}
                 FROM problem_links l JOIN hypotheses h ON h.id = l.hyp_id WHERE l.problem_id = q.id), '')
       || ' ' ||
       coalesce((SELECT {notes}
                 FROM problem_links l JOIN notes n ON n.hyp_id = l.hyp_id WHERE l.problem_id = q.id), '')
FROM problems q WHERE q.retired_at IS NULL
"""


class SqlProblems:
    """``ProblemsStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- problems --------------------------------------------------------------
    def create_problem(
        self, uid: str, title: str, why: str, attack: str | None, at: float, adopt: list[int]
    ) -> int:
        """Insert a problem and link the (unlinked) hypotheses ``adopt`` to it, in one transaction."""
        with self.db.tx() as c:
            (problem_id,) = c.execute(
                "INSERT INTO problems (uid, title, why, attack, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (uid, title, why, attack, at),
            ).fetchone()
            c.executemany(
                "INSERT INTO problem_links (hyp_id, problem_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(h, problem_id) for h in adopt],
            )
            c.executemany("UPDATE hypotheses SET problem = ? WHERE id = ?", [(title, h) for h in adopt])
        return int(problem_id)

    def _problems(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Problem]:
        rows = self.db.read(f"SELECT {_PROBLEM} FROM problems {where} ORDER BY id", params)
        links: dict[int, list[int]] = {}
        for hyp_id, problem_id in self.db.read(
            "SELECT hyp_id, problem_id FROM problem_links ORDER BY hyp_id"
        ):
            links.setdefault(problem_id, []).append(hyp_id)
        from labbook.records.problems import Problem

        return [Problem(**named(Problem, r), hyp_ids=tuple(links.get(r[0], ()))) for r in rows]

    def get_problem(self, problem_id: int) -> Problem | None:
        found = self._problems("WHERE id = ?", (problem_id,))
        return found[0] if found else None

    def list_problems(self) -> list[Problem]:
        return self._problems()

    def find_problems_by_title(self, title: str) -> list[int]:
        rows = self.db.read(
            "SELECT id FROM problems WHERE lower(trim(title)) = lower(trim(?)) ORDER BY id", (title,)
        )
        return [r[0] for r in rows]

    def edit_problem(self, problem_id: int, values: dict[str, Any], note: str | None) -> None:
        """Update the given columns, append ``note``, and keep linked hypotheses' problem text in step."""
        with self.db.tx() as c:
            for name, value in values.items():
                assert name in ("title", "why", "attack")
                c.execute(f"UPDATE problems SET {name} = ? WHERE id = ?", (value, problem_id))
            if note:
                c.execute(
                    "UPDATE problems SET notes = CASE notes WHEN '' THEN ? ELSE notes || ? || ? END"
                    " WHERE id = ?",
                    (note, "\n", note, problem_id),
                )
            if "title" in values:
                c.execute(
                    "UPDATE hypotheses SET problem = ?"
                    " WHERE id IN (SELECT hyp_id FROM problem_links WHERE problem_id = ?)",
                    (values["title"], problem_id),
                )

    def retire_problem(self, problem_id: int, why: str | None, at: float) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE problems SET retired_at = ?, retired_why = ? WHERE id = ? AND retired_at IS NULL",
                (at, why, problem_id),
            )
            return cur.rowcount > 0

    def link_problem(self, hyp_id: int, problem_id: int, title: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO problem_links (hyp_id, problem_id) VALUES (?, ?)"
                " ON CONFLICT (hyp_id) DO UPDATE SET problem_id = excluded.problem_id",
                (hyp_id, problem_id),
            )
            c.execute("UPDATE hypotheses SET problem = ? WHERE id = ?", (title, hyp_id))

    def problem_of(self, hyp_id: int) -> int | None:
        rows = self.db.read("SELECT problem_id FROM problem_links WHERE hyp_id = ?", (hyp_id,))
        return rows[0][0] if rows else None

    def unlinked_hypotheses_named(self, title: str) -> list[int]:
        rows = self.db.read(
            "SELECT id FROM hypotheses WHERE lower(trim(problem)) = lower(trim(?))"
            " AND id NOT IN (SELECT hyp_id FROM problem_links) ORDER BY id",
            (title,),
        )
        return [r[0] for r in rows]

    def match_problems(
        self, words: Sequence[str], text: str, at: float, limit: int
    ) -> tuple[int, list[tuple[int, float]]]:
        """Rank active problems by ``words`` (any of them) and record the match.

        Returns the match id and (problem id, score) best first; a higher score is more
        relevant, and every ranked problem's score is above 0.
        """
        ranked = self.db.dialect.rank_problems(self.db, documents(self.db.dialect), words, limit)
        with self.db.tx() as c:
            (match_id,) = c.execute(
                "INSERT INTO problem_matches (text, created_at, ranked) VALUES (?, ?, ?) RETURNING id",
                (text, at, json.dumps(ranked)),
            ).fetchone()
        return int(match_id), ranked

    def matches_of(self, problem_id: int) -> list[tuple[int, str, float, int]]:
        """(match id, text, when, rank) of the matches that ranked this problem, newest first."""
        out = []
        for match_id, text, at, ranked in self.db.read(
            "SELECT id, text, created_at, ranked FROM problem_matches ORDER BY id DESC"
        ):
            ids = [pid for pid, _ in json.loads(ranked)]
            if problem_id in ids:
                out.append((match_id, text, at, ids.index(problem_id) + 1))
        return out

    # -- ideas -----------------------------------------------------------------
    def create_idea(self, uid: str, text: str, problem_id: int | None, author: str, at: float) -> int:
        with self.db.tx() as c:
            (idea_id,) = c.execute(
                "INSERT INTO ideas (uid, text, problem_id, author, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (uid, text, problem_id, author, at),
            ).fetchone()
            return int(idea_id)

    def _ideas(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Idea]:
        from labbook.records.problems import Idea, Rating

        rows = self.db.read(f"SELECT {_IDEA} FROM ideas {where} ORDER BY id", params)
        ratings: dict[int, list[Rating]] = {}
        for idea_id, rater, p, at in self.db.read(
            "SELECT idea_id, rater, p, created_at FROM idea_ratings ORDER BY created_at"
        ):
            ratings.setdefault(idea_id, []).append(Rating(rater, p, at))
        return [Idea(**named(Idea, r), ratings=tuple(ratings.get(r[0], ()))) for r in rows]

    def get_idea(self, idea_id: int) -> Idea | None:
        found = self._ideas("WHERE id = ?", (idea_id,))
        return found[0] if found else None

    def list_ideas(self) -> list[Idea]:
        return self._ideas()

    def find_ideas_by_text(self, text: str) -> list[int]:
        return [
            r[0]
            for r in self.db.read("SELECT id FROM ideas WHERE lower(trim(text)) = lower(trim(?))", (text,))
        ]

    def rate_idea(self, idea_id: int, rater: str, p: float, at: float) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "INSERT INTO idea_ratings (idea_id, rater, p, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (idea_id, rater, p, at),
            )
            return cur.rowcount > 0

    def set_idea_outcome(self, idea_id: int, outcome: str, at: float) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE ideas SET outcome = ?, outcome_at = ? WHERE id = ? AND outcome IS NULL",
                (outcome, at, idea_id),
            )
            return cur.rowcount > 0

    # -- tasks -----------------------------------------------------------------
    def create_task(self, uid: str, text: str, p: float, hours: float, hyp_id: int | None, at: float) -> int:
        with self.db.tx() as c:
            (task_id,) = c.execute(
                "INSERT INTO tasks (uid, text, p, hours, hyp_id, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (uid, text, p, hours, hyp_id, at),
            ).fetchone()
            return int(task_id)

    def get_task(self, task_id: int) -> Task | None:
        rows = self.db.read(f"SELECT {_TASK} FROM tasks WHERE id = ?", (task_id,))
        from labbook.records.problems import Task

        return Task(*rows[0]) if rows else None

    def list_tasks(self, status: str | None = None) -> list[Task]:
        if status is None:
            rows = self.db.read(f"SELECT {_TASK} FROM tasks ORDER BY id")
        else:
            rows = self.db.read(f"SELECT {_TASK} FROM tasks WHERE status = ? ORDER BY id", (status,))
        from labbook.records.problems import Task

        return [Task(*r) for r in rows]

    def close_task(self, task_id: int, status: str, at: float) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE tasks SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'",
                (status, at, task_id),
            )
            return cur.rowcount > 0
