"""Settling what a finishing writer could not record (the store locked past its wait, a full disk).

The writer leaves a note in ``.labbook/settle/``; the next reader (``Notebook.reap``) applies it,
so a run still ends with its own status and the summaries its files support, never ``crashed``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.errors import LabbookError, StoreError
from labbook.records.runs import CRASHED, RunRecord

if TYPE_CHECKING:
    from labbook.records.runs import CloseReport
    from labbook.service.notebook import Notebook

SETTLE_DIR = "settle"  # notes of what a finishing writer could not record (the store refused it)


@dataclass(frozen=True)
class Settlement:
    """What a finishing writer could not record: applied by the next reader, once."""

    uid: str
    status: str | None
    exit_code: int | None
    ended_at: float
    lost: dict[str, int]
    rebuild: bool  # the store refused the last summaries: rebuild them from the files

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settlement:
        raw = json.loads(text)
        return cls(
            str(raw["uid"]),
            raw["status"],
            raw["exit_code"],
            float(raw["ended_at"]),
            {str(k): int(v) for k, v in raw["lost"].items()},
            bool(raw["rebuild"]),
        )


def retry_in_background(notebook: Notebook, path: Path) -> None:
    """A long-lived process (a notebook kernel) settles its own run once the store frees up."""
    import threading

    def work() -> None:
        while path.exists():
            threading.Event().wait(2.0)
            try:
                notebook.apply_settlements()
            except (StoreError, OSError):
                pass

    threading.Thread(target=work, name="labbook-settle", daemon=True).start()


def settle_run(
    nb: Notebook,
    run: RunRecord,
    status: str | None,
    exit_code: int | None = None,
    report: CloseReport | None = None,
) -> str | None:
    """End a run as its writer closes; None when done, else a line saying who will finish the job.

    ``status`` None: only a writer's leftovers (points lost, summaries the store refused).
    When the store cannot take them now (locked past its timeout, a full disk), they go
    to a settlement note that the next reader applies (``reap``), so the run still ends
    with its own status and the summaries its files support, never ``crashed``.
    """
    note = Settlement(
        uid=run.uid,
        status=status,
        exit_code=exit_code,
        ended_at=time.time(),
        lost=dict(report.lost) if report else {},
        rebuild=report is not None and not report.summaries_stored,
    )
    try:
        if apply(nb, note):
            return None
    except LabbookError:
        pass
    return defer(nb, run.id, note)


def apply(nb: Notebook, note: Settlement) -> bool:
    """Apply a settlement; False while it must wait (the run still has writers)."""
    from labbook.core.summaries import lost_summaries
    from labbook.records.runs import UNFINISHED

    ids = nb.store.runs.find_run_ids(note.uid)
    if not ids:
        return True  # the run is gone: nothing left to settle
    run = nb._get(ids[0])
    if note.status is None and note.rebuild and run.status in UNFINISHED:
        return False  # rebuild from the files once every writer is done
    if note.status is not None and run.status in (*UNFINISHED, CRASHED):
        nb.end_run(run.id, note.status, note.exit_code, note.ended_at)
    if note.rebuild:
        nb._rebuild_summaries(run.id)
    if note.lost:
        nb.store.runs.merge_metrics(run.id, lost_summaries(note.lost.items()))
    return True


def defer(nb: Notebook, run_id: int, note: Settlement) -> str:
    folder = nb.root / SETTLE_DIR
    path = folder / f"{note.uid}.{os.getpid()}-{os.urandom(3).hex()}.json"
    what = f"the end of run {run_id}" if note.status else f"the metric summaries of run {run_id}"
    try:
        folder.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(note.to_json())
        os.replace(tmp, path)
    except OSError as err:
        return (
            f"could not record {what} ({err.strerror or err}); every point is in its files, "
            "and the next labbook command will mark it crashed"
        )
    retry_in_background(nb, path)
    return (
        f"could not record {what} yet (the notebook database is busy or full); the next labbook command will"
    )


def apply_settlements(nb: Notebook) -> int:
    """Apply the settlement notes writers left when the store refused them; returns how many remain."""
    folder = nb.root / SETTLE_DIR
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    except OSError:
        return 0
    left = 0
    for path in paths:
        try:
            note = Settlement.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half a note (a full disk): its run is settled like a crashed one
        if apply(nb, note):
            path.unlink(missing_ok=True)
        else:
            left += 1
    return left
