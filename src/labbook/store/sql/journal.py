"""Notes, the journal's timeline and full-text search.

Each store keeps its search index with triggers, so every hypothesis, prediction, note,
run, paper, problem and idea is searchable the moment its transaction commits; the
query itself is the dialect's (FTS5 in SQLite, text search in PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

from labbook.records.journal import Event, Hit, NewNote, Note
from labbook.store.sql.db import Database

_EDIT_KINDS = {
    "tag": "tagged",
    "untag": "untagged",
    "rename": "renamed",
    "trash": "removed",
    "restore": "restored",
    "archive": "archived",
    "unarchive": "unarchived",
    "delete": "deleted",
}


def _edit_text(kind: str, d: dict[str, Any]) -> str:
    if kind in ("tag", "untag"):
        return f"{d['label']} {'+' if kind == 'tag' else '-'}{d['tag']}"
    if kind == "rename":
        return f"{d['old'] or '(no name)'} → {d['new']}"
    return str(d["label"])


class SqlJournal:
    """``JournalStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_note(self, note: NewNote) -> int:
        n = note
        with self.db.tx() as c:
            (note_id,) = c.execute(
                "INSERT INTO notes (uid, text, hyp_id, run_id, against, author, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (n.uid, n.text, n.hyp_id, n.run_id, int(n.against), n.author, n.created_at),
            ).fetchone()
            return int(note_id)

    def notes(self, hyp_id: int | None = None, run_id: int | None = None) -> list[Note]:
        where, params = [], []
        if hyp_id is not None:
            where.append("hyp_id = ?")
            params.append(hyp_id)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        clause = "WHERE " + " AND ".join(where) if where else ""
        rows = self.db.read(
            f"SELECT id, text, hyp_id, run_id, against, author, created_at, uid FROM notes {clause}"
            " ORDER BY against DESC, created_at",
            params,
        )
        return [Note(i, t, h, r, bool(a), au, at, u) for i, t, h, r, a, au, at, u in rows]

    def search(self, query: str, limit: int) -> list[Hit]:
        return self.db.dialect.search(self.db, query, limit)

    def _run_edits(self, t: float) -> list[Event]:
        """Tags, names, the trash and the archive changed after the fact (``run_events``)."""
        out = []
        for run_id, at, kind, raw in self.db.read(
            "SELECT run_id, at, kind, detail FROM run_events WHERE at >= ?", (t,)
        ):
            d = json.loads(raw)
            out.append(Event(at, f"run-{_EDIT_KINDS.get(kind, kind)}", f"run {run_id}", _edit_text(kind, d)))
        return out

    def timeline(self, since: float | None) -> list[Event]:
        """Everything that happened, oldest first."""
        t = since if since is not None else float("-inf")
        queries = [
            (
                "SELECT created_at, CASE against WHEN 1 THEN 'evidence-against' ELSE 'note' END, 'N' || id, text,"
                " hyp_id FROM notes WHERE created_at >= ?"
            ),
            "SELECT created_at, 'hypothesis', 'H' || id, text, id FROM hypotheses WHERE created_at >= ?",
            (
                "SELECT resolved_at, 'hypothesis-resolved', 'H' || id,"
                " outcome || coalesce(': ' || belief, ''), id FROM hypotheses WHERE resolved_at >= ?"
            ),
            (
                "SELECT created_at, CASE late WHEN 1 THEN 'late-prediction' ELSE 'prediction' END, 'P' || id,"
                " text, hyp_id FROM predictions WHERE created_at >= ?"
            ),
            (
                "SELECT r.resolved_at, 'resolution', 'P' || p.id, r.outcome || ' (' || r.how || '): ' || p.text,"
                " p.hyp_id FROM resolutions r JOIN predictions p ON p.id = r.prediction_id WHERE r.resolved_at >= ?"
            ),
            (
                "SELECT ended_at, 'run-' || status, 'run ' || id, trim(coalesce(name, '') ||"
                " coalesce(' (exit ' || exit_code || ')', '')), hyp_id FROM runs"
                " WHERE ended_at IS NOT NULL AND ended_at >= ? AND trashed_at IS NULL"
            ),
        ]
        events = []
        for sql in queries:
            events += [
                Event(at, kind, ref, text or "", hyp) for at, kind, ref, text, hyp in self.db.read(sql, (t,))
            ]
        for at, run_id, name, command, hyp in self.db.read(
            "SELECT created_at, id, name, command, hyp_id FROM runs WHERE created_at >= ? AND trashed_at IS NULL",
            (t,),
        ):
            argv = json.loads(command) if command else []
            text = " ".join(x for x in (name or "", " ".join(argv)) if x)
            events.append(Event(at, "run-started", f"run {run_id}", text, hyp))
        events += self._run_edits(t)
        return sorted(events, key=lambda e: e.at)
