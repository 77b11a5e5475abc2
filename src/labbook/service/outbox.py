"""What a client has still to send a team server: the runs it has not yet seen whole.

A run is done with a server once the server has acknowledged it ended and holds every
point of every writer file; that is recorded here (``sync_state``), so ``lab sync`` and
``lab sync --status`` never ask the server about a run twice. Everything else is worked
out from the run itself: what the server holds, it says (``/runs/{uid}/marks``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from labbook.records.runs import PENDING, RUNNING
from labbook.service.ingest import SentRun

if TYPE_CHECKING:
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

BLOB_FIELDS = ("packages", "patch")


class Outbox:
    """The outbox part of the notebook service (``notebook.outbox``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook

    def payload(self, run: RunRecord) -> dict[str, Any]:
        """The run as a server takes it (``SentRun``): large capture fields inlined from their blobs."""
        capture = dict(run.capture)
        for name in BLOB_FIELDS:
            value = capture.get(name)
            if isinstance(value, dict) and "blob" in value:
                capture[name] = self.nb.blob(value)
        sent = SentRun(
            uid=run.uid, created_at=run.created_at, source=run.source, status=run.status, name=run.name,
            note=run.note, command=run.command, cwd=run.cwd, host=run.host, started_at=run.started_at,
            ended_at=run.ended_at, exit_code=run.exit_code, sweep_id=run.sweep_id, job_id=run.job_id,
            job_state=run.job_state, tags=run.tags, params=dict(run.params), summary=dict(run.summary),
            capture=capture,
        )  # fmt: skip
        out = asdict(sent)
        out["tags"] = list(sent.tags)
        return out

    @staticmethod
    def digest(payload: dict[str, Any]) -> str:
        text = json.dumps(payload, sort_keys=True, default=str, allow_nan=True)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def pending(self, server: str) -> list[RunRecord]:
        """Runs not yet done with ``server``, oldest first."""
        marks = self.nb.store.server.sync_marks(server)
        runs, _ = self.nb.store.runs.query_runs(None, [], None)
        return sorted((r for r in runs if not marks.get(("run", r.uid), ("", False))[1]), key=lambda r: r.id)

    def acknowledge(self, server: str, run: RunRecord, digest: str, done: bool) -> None:
        self.nb.store.server.set_sync_mark(server, "run", run.uid, digest, done, time.time())

    @staticmethod
    def live(run: RunRecord) -> bool:
        return run.status in (PENDING, RUNNING)
