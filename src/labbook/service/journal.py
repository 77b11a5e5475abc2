"""The journal: notes, evidence against a hypothesis, the timeline, and search.

Memory keeps the wins and drops the misses; the journal keeps both, in order. A note
recorded ``against`` a hypothesis is evidence that it is wrong, and every view of the
hypothesis shows such notes first.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from labbook.errors import BadInput
from labbook.records.journal import Event, Hit, NewNote, Note
from labbook.service.hypotheses import author

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


class Journal:
    """The journal part of the notebook service (``notebook.journal``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    def note(
        self,
        text: str,
        hyp: str | int | None = None,
        run: str | int | None = None,
        against: str | int | None = None,
    ) -> Note:
        text = text.strip()
        if not text:
            raise BadInput("a note needs some text")
        if against is not None and hyp is not None:
            raise BadInput("give --against H or --hyp H, not both")
        target = against if against is not None else hyp
        hyp_id = self.nb.hypotheses.get(target).id if target is not None else None
        run_id = self.nb.resolve(run) if run is not None else None
        new = NewNote(uuid.uuid4().hex, text, hyp_id, run_id, against is not None, author(), time.time())
        note_id = self.store.journal.add_note(new)
        return next(n for n in self.store.journal.notes(hyp_id=hyp_id, run_id=run_id) if n.id == note_id)

    def notes(self, hyp_id: int | None = None, run_id: int | None = None) -> list[Note]:
        """Notes, evidence against first."""
        return self.store.journal.notes(hyp_id, run_id)

    def timeline(self, since: float | None = None) -> list[Event]:
        return self.store.journal.timeline(since)

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        if limit < 1:
            raise BadInput("--limit must be at least 1")
        return self.store.journal.search(query, limit)
