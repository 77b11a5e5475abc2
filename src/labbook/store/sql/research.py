"""Hypotheses, predictions and their resolutions.

Predictions are append-only: a row is never updated. A revision is a new row pointing
at the one it revises; a resolution is a row of its own, written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from labbook.errors import BadInput
from labbook.records.research import Hypothesis, NewHypothesis, NewPrediction, Prediction, Resolution
from labbook.store.sql.db import Database, marks, named

_HYP = "id, uid, text, problem, author, created_at, outcome, belief, resolved_at"
_PRED = (
    "p.id, p.uid, p.hyp_id, p.text, p.kind, p.p, p.low, p.high, p.level, p.point, p.metric, p.agg,"
    " p.reduce, p.op, p.value, p.min_runs, p.author, p.created_at, p.due_at, p.late, p.revision_of,"
    " p.source, (SELECT max(n.id) FROM predictions n WHERE n.revision_of = p.id),"
    " r.outcome, r.value, r.how, r.detail, r.resolved_at, p.paper_id, p.scope"
)


class SqlResearch:
    """``ResearchStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- hypotheses ----------------------------------------------------------
    def create_hypothesis(self, h: NewHypothesis) -> int:
        with self.db.tx() as c:
            (hyp_id,) = c.execute(
                "INSERT INTO hypotheses (uid, text, problem, author, created_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                (h.uid, h.text, h.problem, h.author, h.created_at),
            ).fetchone()
            c.executemany(
                "INSERT INTO hypothesis_tags (hyp_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(hyp_id, t) for t in h.tags],
            )
            if h.problem_id is not None:
                c.execute(
                    "INSERT INTO problem_links (hyp_id, problem_id) VALUES (?, ?)", (hyp_id, h.problem_id)
                )
            if h.pile is not None:  # in the same transaction: never a hypothesis that lost its pile
                c.execute(
                    "INSERT INTO hypothesis_piles (hyp_id, sample_id, pile, count, reviewed) VALUES (?, ?, ?, ?, ?)",
                    (hyp_id, *h.pile),
                )
        return int(hyp_id)

    def _hypotheses(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Hypothesis]:
        rows = self.db.read(f"SELECT {_HYP} FROM hypotheses {where} ORDER BY id", params)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        qs = marks(ids)
        tags: dict[int, list[str]] = {}
        for hid, tag in self.db.read(
            f"SELECT hyp_id, tag FROM hypothesis_tags WHERE hyp_id IN ({qs}) ORDER BY tag", ids
        ):
            tags.setdefault(hid, []).append(tag)
        runs: dict[int, list[int]] = {}
        for rid, hid in self.db.read(
            f"SELECT id, hyp_id FROM runs WHERE hyp_id IN ({qs}) AND trashed_at IS NULL ORDER BY id", ids
        ):
            runs.setdefault(hid, []).append(rid)
        links = dict(
            self.db.read(f"SELECT hyp_id, problem_id FROM problem_links WHERE hyp_id IN ({qs})", ids)
        )
        return [
            Hypothesis(
                **named(Hypothesis, row),
                tags=tuple(tags.get(row[0], ())),
                run_ids=tuple(runs.get(row[0], ())),
                problem_id=links.get(row[0]),
            )
            for row in rows
        ]

    def get_hypothesis(self, hyp_id: int) -> Hypothesis | None:
        found = self._hypotheses("WHERE id = ?", (hyp_id,))
        return found[0] if found else None

    def list_hypotheses(self) -> list[Hypothesis]:
        return self._hypotheses()

    def resolve_hypothesis(self, hyp_id: int, outcome: str, belief: str | None, at: float) -> bool:
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE hypotheses SET outcome = ?, belief = ?, resolved_at = ?"
                " WHERE id = ? AND outcome IS NULL",
                (outcome, belief, at, hyp_id),
            )
            return cur.rowcount > 0

    def link_run(self, run_id: int, hyp_id: int) -> None:
        with self.db.tx() as c:
            c.execute("UPDATE runs SET hyp_id = ? WHERE id = ?", (hyp_id, run_id))

    def first_result_at(self, hyp_id: int) -> float | None:
        """When the first metric of any run linked to the hypothesis reached the store."""
        row = self.db.read(
            "SELECT min(m.first_at) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.hyp_id = ?",
            (hyp_id,),
        )
        return row[0][0] if row else None

    # -- predictions ---------------------------------------------------------
    def create_prediction(self, p: NewPrediction) -> int:
        with self.db.tx() as c:
            late = p.late
            if late is None:  # decided inside the write lock: no result can slip in between
                late = p.hyp_id is not None and bool(
                    c.execute(
                        "SELECT EXISTS (SELECT 1 FROM metrics m JOIN runs r ON r.id = m.run_id"
                        " WHERE r.hyp_id = ?)",
                        (p.hyp_id,),
                    ).fetchone()[0]
                )
            (pred_id,) = c.execute(
                "INSERT INTO predictions (uid, hyp_id, text, kind, p, low, high, level, point, metric, agg,"
                " reduce, op, value, min_runs, author, created_at, due_at, late, revision_of, source, paper_id, scope)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    p.uid,
                    p.hyp_id,
                    p.text,
                    p.kind,
                    p.p,
                    p.low,
                    p.high,
                    p.level,
                    p.point,
                    p.metric,
                    p.agg,
                    p.reduce,
                    p.op,
                    p.value,
                    p.min_runs,
                    p.author,
                    p.created_at,
                    p.due_at,
                    int(late),
                    p.revision_of,
                    p.source,
                    p.paper_id,
                    json.dumps(p.scope) if p.scope else None,
                ),
            ).fetchone()
            c.executemany(
                "INSERT INTO prediction_tags (prediction_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(pred_id, t) for t in p.tags],
            )
            return int(pred_id)

    def _predictions(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Prediction]:
        rows = self.db.read(
            f"SELECT {_PRED} FROM predictions p LEFT JOIN resolutions r ON r.prediction_id = p.id"
            f" {where} ORDER BY p.id",
            params,
        )
        tags: dict[int, list[str]] = {}
        for pred_id, tag in self.db.read(
            "SELECT prediction_id, tag FROM prediction_tags WHERE prediction_id IN (SELECT p.id FROM predictions p"
            f" LEFT JOIN resolutions r ON r.prediction_id = p.id {where}) ORDER BY tag",
            params,
        ):
            tags.setdefault(pred_id, []).append(tag)
        return [replace(p, tags=tuple(tags[p.id])) if p.id in tags else p for p in _to_predictions(rows)]

    def get_prediction(self, pred_id: int) -> Prediction | None:
        found = self._predictions("WHERE p.id = ?", (pred_id,))
        return found[0] if found else None

    def paper_predictions(self, paper_id: int) -> list[Prediction]:
        return self._predictions("WHERE p.paper_id = ?", (paper_id,))

    def list_predictions(self, hyp_id: int | None = None) -> list[Prediction]:
        if hyp_id is None:
            return self._predictions()
        return self._predictions("WHERE p.hyp_id = ?", (hyp_id,))

    def resolve_prediction(self, pred_id: int, resolution: Resolution) -> None:
        r = resolution
        detail = json.dumps(r.detail) if r.detail else None
        with self.db.tx() as c:
            try:
                c.execute(
                    "INSERT INTO resolutions (prediction_id, outcome, value, how, detail, resolved_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (pred_id, r.outcome, r.value, r.how, detail, r.resolved_at),
                )
            except self.db.dialect.duplicate:
                raise BadInput(f"prediction P{pred_id} is already resolved; resolutions are final") from None


def _to_predictions(rows: list[tuple[Any, ...]]) -> Iterator[Prediction]:
    for row in rows:
        head, (outcome, value, how, detail, resolved_at, paper_id, scope) = row[:23], row[23:]
        resolution = None
        if outcome is not None:
            resolution = Resolution(outcome, value, how, json.loads(detail) if detail else None, resolved_at)
        fields = list(head)
        fields[19] = bool(fields[19])  # late
        yield Prediction(
            **named(Prediction, fields),
            resolution=resolution,
            paper_id=paper_id,
            scope=json.loads(scope) if scope else None,
        )
