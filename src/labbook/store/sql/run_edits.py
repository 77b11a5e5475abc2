"""What is done to runs after the fact: tags, names, the trash, the archive.

Each change is written with its journal event in one transaction, so the journal never
misses an edit and never shows one that did not happen. Events keep the run's label and
have no reference to the run row, so a removal is still in the journal after ``lab gc``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from labbook.records.runs import RunEvent
from labbook.store.sql.db import Database, Tx


def _event(c: Tx, run_id: int, at: float, kind: str, detail: dict[str, Any]) -> None:
    c.execute(
        "INSERT INTO run_events (run_id, at, kind, detail) VALUES (?, ?, ?, ?)",
        (run_id, at, kind, json.dumps(detail)),
    )


def _label(c: Tx, run_id: int) -> str:
    (name,) = c.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
    return str(name or f"run-{run_id}")


class RunEdits:
    """The edit half of ``SqlRuns`` (mixed in): every method journals what it changed."""

    db: Database

    def edit_tags(
        self, run_id: int, add: Sequence[str], remove: Sequence[str], at: float
    ) -> tuple[list[str], list[str]]:
        """(tags added, tags removed): a tag already there, or never there, is no change."""
        added, removed = [], []
        with self.db.tx() as c:
            label = _label(c, run_id)
            for tag in dict.fromkeys(add):
                if c.execute(
                    "INSERT INTO tags (run_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", (run_id, tag)
                ).rowcount:
                    added.append(tag)
                    _event(c, run_id, at, "tag", {"tag": tag, "label": label})
            for tag in dict.fromkeys(remove):
                if c.execute("DELETE FROM tags WHERE run_id = ? AND tag = ?", (run_id, tag)).rowcount:
                    removed.append(tag)
                    _event(c, run_id, at, "untag", {"tag": tag, "label": label})
        return added, removed

    def rename_run(self, run_id: int, name: str, at: float) -> str | None:
        """The old name (None: it had none); unchanged and not journaled when it is the same."""
        with self.db.tx() as c:
            (old,) = c.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
            if old != name:
                c.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))
                _event(c, run_id, at, "rename", {"old": old, "new": name, "label": name})
        return None if old is None else str(old)

    def set_command(self, run_id: int, command: list[str]) -> None:
        """The command as it ran, once its placeholders are filled (not an edit: not journaled)."""
        with self.db.tx() as c:
            c.execute("UPDATE runs SET command = ? WHERE id = ?", (json.dumps(command), run_id))

    def set_trashed(self, ids: Sequence[int], at: float | None, now: float) -> list[int]:
        """Into the trash at ``at`` (one batch: ``lab rm --undo`` restores it whole), or out (None)."""
        return self._mark("trashed_at", ids, at, now, ("trash", "restore"))

    def set_archived(self, ids: Sequence[int], at: float | None, now: float) -> list[int]:
        return self._mark("archived_at", ids, at, now, ("archive", "unarchive"))

    def _mark(
        self, column: str, ids: Sequence[int], at: float | None, now: float, kinds: tuple[str, str]
    ) -> list[int]:
        changed = []
        test = "IS NULL" if at is not None else "IS NOT NULL"
        with self.db.tx() as c:
            for run_id in ids:
                cur = c.execute(
                    f"UPDATE runs SET {column} = ? WHERE id = ? AND {column} {test}", (at, run_id)
                )
                if cur.rowcount:
                    changed.append(run_id)
                    _event(c, run_id, now, kinds[at is None], {"label": _label(c, run_id)})
        return changed

    def last_trashed(self) -> list[int]:
        """The runs of the most recent ``lab rm``."""
        rows = self.db.read(
            "SELECT id FROM runs WHERE trashed_at = (SELECT max(trashed_at) FROM runs) ORDER BY id"
        )
        return [int(r[0]) for r in rows]

    def purge(self, ids: Sequence[int], now: float) -> int:
        """Delete trashed runs for good; their notes stay, no longer linked to a run."""
        count = 0
        with self.db.tx() as c:
            for run_id in ids:
                found = c.execute(
                    "SELECT coalesce(name, 'run-' || id) FROM runs WHERE id = ? AND trashed_at IS NOT NULL",
                    (run_id,),
                ).fetchone()
                if found is None:
                    continue
                c.execute("UPDATE notes SET run_id = NULL WHERE run_id = ?", (run_id,))
                c.execute("DELETE FROM runs WHERE id = ?", (run_id,))
                _event(c, run_id, now, "delete", {"label": found[0]})
                count += 1
        return count

    def run_events(self, since: float | None) -> list[RunEvent]:
        t = since if since is not None else float("-inf")
        rows = self.db.read(
            "SELECT run_id, at, kind, detail FROM run_events WHERE at >= ? ORDER BY at, id", (t,)
        )
        return [RunEvent(int(i), at, kind, json.loads(d)) for i, at, kind, d in rows]
