"""Runs changed after the fact: tags, names, the trash (``lab rm``, ``lab gc``) and the archive.

A removed run is hidden from every reader but kept until ``lab gc``, so ``lab rm`` is
undone in full by ``lab rm --undo``. A run that settled a prediction is evidence: it is
kept unless the user insists, and the prediction keeps the values it was scored on
either way (they are stored with its resolution). Every change is journaled by the store
in the same transaction as the change.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput
from labbook.records.runs import PENDING, RUNNING, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass
class Removal:
    """What ``lab rm`` did: the runs now in the trash and the runs it kept, with why."""

    removed: list[RunRecord] = field(default_factory=list)
    kept: list[tuple[RunRecord, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Collected:
    """What ``lab gc`` freed."""

    runs: list[RunRecord]
    bytes_freed: int
    artifact_files: int


def _run_ids(value: Any) -> Iterator[int]:
    """Run ids anywhere under the "runs" and "groups" keys of a resolution's evidence."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("runs", "groups"):
                yield from _flat_ints(inner)
            else:
                yield from _run_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _run_ids(inner)


def _flat_ints(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, list):
        for inner in value:
            yield from _flat_ints(inner)


def _tree_size(path: Any) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def check_name(name: str) -> str:
    """A run name that the run lookup can find again: not empty, not an id."""
    text = name.strip()
    if not text:
        raise BadInput("a run name cannot be empty")
    if text.isdigit():
        raise BadInput(f"a run name cannot be a number ({text!r} would be read as a run id); add a letter")
    if "\n" in text or len(text) > 200:
        raise BadInput("a run name is one line of at most 200 characters")
    return text


def check_tag(tag: str) -> str:
    text = tag.strip()
    if not text or any(ch.isspace() or ch == "," for ch in text):
        raise BadInput(f"a tag is one word without commas: {tag!r}")
    return text


class Manage:
    """The run-editing part of the notebook service (``notebook.manage``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.runs = notebook.store.runs

    # -- which runs ----------------------------------------------------------
    def select(self, refs: list[str], where: str | None, in_trash: bool = False) -> list[RunRecord]:
        """The runs named one by one and/or matching ``where``; every name checked before anything changes."""
        if not refs and not where:
            raise BadInput("name the runs (ids, names) or select them with --where")
        if in_trash and where:
            raise BadInput("--where selects runs out of the trash; name the trashed runs by id")
        chosen: dict[int, RunRecord] = {}
        if in_trash:
            trash = {r.id: r for r in self.runs.trashed_runs()}
            for ref in refs:
                for i in self.runs.find_run_ids(ref.strip(), in_trash=True) or self._not_in_trash(ref):
                    chosen[i] = trash[i]
        else:
            for ref in refs:
                run = self.nb.get_run(ref)
                chosen[run.id] = run
        if where:
            matched, _ = self.nb.list_runs(where=where, sort="id", limit=0, archived=True)
            chosen.update((r.id, r) for r in matched)
        return sorted(chosen.values(), key=lambda r: r.id)

    def _not_in_trash(self, ref: str) -> list[int]:
        if self.runs.find_run_ids(ref.strip()):
            raise BadInput(f"run {ref!r} is not in the trash")
        raise BadInput(f"no run {ref!r} in the trash; `lab rm --list` shows it")

    # -- tags and names -------------------------------------------------------
    def tag(
        self, runs: list[RunRecord], add: list[str], remove: list[str]
    ) -> list[tuple[RunRecord, list[str], list[str]]]:
        adding, removing = [check_tag(t) for t in add], [check_tag(t) for t in remove]
        if not adding and not removing:
            raise BadInput("give tags to add (+TAG) or remove (-TAG)")
        both = set(adding) & set(removing)
        if both:
            raise BadInput(f"tag {sorted(both)[0]!r} is both added and removed; give it once")
        now = time.time()
        return [(r, *self.runs.edit_tags(r.id, adding, removing, now)) for r in runs]

    def rename(self, ref: str, name: str) -> tuple[RunRecord, str | None]:
        """(the run, its old name)."""
        new = check_name(name)
        run = self.nb.get_run(ref)
        return run, self.runs.rename_run(run.id, new, time.time())

    # -- the trash -------------------------------------------------------------
    def remove(self, runs: list[RunRecord], force: bool = False) -> Removal:
        """Into the trash, as one batch; live runs are never removed, evidence only with ``force``."""
        out = Removal()
        evidence = {} if force else self._evidence()
        for run in runs:
            if run.status in (RUNNING, PENDING):
                out.kept.append((run, f"it is {run.status}; remove it once it has ended"))
            elif run.id in evidence:
                out.kept.append(
                    (run, f"it is evidence for resolved {evidence[run.id]} (--force removes it anyway)")
                )
            else:
                out.removed.append(run)
        now = time.time()
        moved = set(self.runs.set_trashed([r.id for r in out.removed], now, now))
        out.removed = [r for r in out.removed if r.id in moved]
        return out

    def _evidence(self) -> dict[int, str]:
        """Run id → the first resolved prediction whose evidence holds it."""
        out: dict[int, str] = {}
        for p in self.nb.store.research.list_predictions():
            if p.resolution is not None:
                for run_id in _run_ids(p.resolution.detail or {}):
                    out.setdefault(run_id, p.ref)
        return out

    def restore(self, runs: list[RunRecord] | None) -> list[RunRecord]:
        """Out of the trash: these runs, or (None) the whole of the last ``lab rm``."""
        ids = [r.id for r in runs] if runs is not None else self.runs.last_trashed()
        if not ids:
            raise BadInput("the trash is empty; nothing to undo")
        back = sorted(self.runs.set_trashed(ids, None, time.time()))
        return [r for r in (self.runs.get_run(i) for i in back) if r is not None]

    def trash(self) -> list[RunRecord]:
        return self.runs.trashed_runs()

    def collect(self, dry_run: bool = False) -> Collected:
        """Delete the trash for good: the files first, then the rows (a crash in between leaves
        rows of runs whose files are gone, still in the trash, which the next ``gc`` deletes)."""
        runs = self.runs.trashed_runs()
        freed = 0
        for run in runs:
            folder = self.nb.run_dir(run)
            if folder.is_dir():
                freed += _tree_size(folder)
                if not dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
        if dry_run:
            return Collected(runs, freed, 0)
        self.runs.purge([r.id for r in runs], time.time())
        files, blob_bytes = self.nb.artifacts.collect_garbage()  # contents only those runs kept
        return Collected(runs, freed + blob_bytes, files)

    # -- the archive -----------------------------------------------------------
    def archive(self, runs: list[RunRecord], undo: bool = False) -> list[RunRecord]:
        """Archived runs (or, with ``undo``, those brought back); runs already so are left as they are."""
        now = time.time()
        changed = set(self.runs.set_archived([r.id for r in runs], None if undo else now, now))
        return [r for r in runs if r.id in changed]
