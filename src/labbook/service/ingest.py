"""The server's side of remote logging: runs and their points, each accepted exactly once.

A client writes everything locally first, then sends it. A run is sent whole, keyed by
its uid, as often as it changes: the same run sent twice is one run. Points are sent per
writer file of the run (``runs/<uid>/metrics/<writer>.lbm`` on both sides) as series
blocks, with the index each key's first point has in that file. The server keeps, per
writer file, how many points of each key it holds (``UploadMark``): points it holds
already are skipped, so a resend is harmless, and a batch that starts past them is
refused with what it holds (409, ``Gap``), so the client sends from there.

Points reach the server's files area first, synced, then their summaries and the new
mark are committed together (``ServerStore.record_upload``). A crash between the two
leaves the file longer than its mark; the next batch for that file cuts it back first,
so an uncommitted append is never counted, never kept twice. One server process writes a
given file at a time (a lock per file here); ``lab server`` runs one process.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput, Conflict, DataLost, Gap
from labbook.records.runs import (
    CANCELLED,
    CRASHED,
    FAILED,
    FINISHED,
    KILLED,
    PENDING,
    RUNNING,
    NewRun,
    Owner,
    RunRecord,
)
from labbook.records.server import UploadMark

if TYPE_CHECKING:
    from labbook.records.examples import ExampleRow
    from labbook.records.runs import BatchSummary
    from labbook.service.notebook import Notebook

WRITER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
UID = re.compile(r"[0-9a-f]{8,64}")
ENDED = (FINISHED, FAILED, KILLED, CRASHED, CANCELLED)
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


#: Fields a sent run may not change once the server has it: what makes it the same run.
IDENTITY = ("created_at", "source")


@dataclass(frozen=True)
class SentRun:
    """A run as a client sends it (``views.runs.sent_run`` builds it from a local run)."""

    uid: str
    created_at: float
    source: str
    status: str
    name: str | None = None
    note: str | None = None
    command: list[str] | None = None
    cwd: str | None = None
    host: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    sweep_id: str | None = None
    job_id: str | None = None
    job_state: str | None = None
    hyp_uid: str | None = None
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    capture: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentRun:
        """A run from the JSON a client sent; BadInput names the first field that is wrong."""
        if not isinstance(data, Mapping):
            raise BadInput("each run is a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:  # refused, not dropped: a link or a value would be lost without a word
            raise BadInput(
                f"this server does not know a run's field {unknown[0]!r}; it may be older than the client: upgrade it"
            )
        try:
            run = cls(**{**data, "tags": tuple(data.get("tags") or ())})
        except TypeError as err:
            raise BadInput(f"a run is missing a field ({err})") from None
        run.check()
        return run

    def check(self) -> None:
        if not isinstance(self.uid, str) or not UID.fullmatch(self.uid):
            raise BadInput(f"a run's uid is 8 to 64 lower-case hex digits, not {self.uid!r}")
        if self.status not in (PENDING, RUNNING, *ENDED):
            raise BadInput(f"run {self.uid}: unknown status {self.status!r}")
        numbers = {"created_at": self.created_at, "started_at": self.started_at, "ended_at": self.ended_at}
        for name, value in numbers.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise BadInput(f"run {self.uid}: {name} is a time in seconds, not {value!r}")
        if not all(isinstance(t, str) for t in self.tags):
            raise BadInput(f"run {self.uid}: tags are text")
        for name in ("params", "summary", "capture"):
            if not isinstance(getattr(self, name), dict):
                raise BadInput(f"run {self.uid}: {name} is a JSON object")
        if self.command is not None and not (
            isinstance(self.command, list) and all(isinstance(a, str) for a in self.command)
        ):
            raise BadInput(f"run {self.uid}: command is a list of strings")


def _owner(sent: SentRun) -> Owner:
    """The client's host, and no process: the server tells a live run by its heartbeats, as for any other host."""
    return Owner(sent.host or "unknown", 0, 0.0, "")


@contextmanager
def _file_lock(uid: str, writer: str) -> Iterator[None]:
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault((uid, writer), threading.Lock())
    with lock:
        yield


class Ingest:
    """The ingest part of the notebook service (``notebook.ingest``): what clients send."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    # -- runs ----------------------------------------------------------------------
    def conflicts(self, runs: list[SentRun]) -> list[str]:
        """The uids of ``runs`` the server holds with a different identity (creation time, source)."""
        out = []
        for sent in runs:
            held = self._held(sent.uid)
            if held is not None and any(getattr(held, k) != getattr(sent, k) for k in IDENTITY):
                out.append(sent.uid)
        return out

    def save_runs(self, runs: list[SentRun]) -> dict[str, int]:
        """Create or bring up to date each run, by uid; refused whole if any uid conflicts."""
        clashes = self.conflicts(runs)
        if clashes:
            raise Conflict.of(clashes, "the server holds", "written")
        return {sent.uid: self._save(sent) for sent in runs}

    def _held(self, uid: str) -> RunRecord | None:
        run_id = self.store.runs.run_id_of_uid(uid)
        return None if run_id is None else self.store.runs.get_run(run_id)

    def _save(self, sent: SentRun) -> int:
        with _file_lock(sent.uid, ""):  # two clients sending one new run at once: created once
            held = self._held(sent.uid)
            return self._create(sent) if held is None else self._update(held, sent)

    def _create(self, sent: SentRun) -> int:
        runs = self.store.runs
        owner = _owner(sent)
        run_id = runs.create_run(
            NewRun(
                uid=sent.uid, name=sent.name, created_at=sent.created_at, note=sent.note,
                command=sent.command, cwd=sent.cwd or "", source=sent.source, owner=owner,
                params=sent.params, tags=sent.tags, sweep_id=sent.sweep_id,
                pending=sent.status == PENDING,
            )
        )  # fmt: skip
        held = runs.get_run(run_id)
        assert held is not None
        return self._update(held, sent)

    def _update(self, held: RunRecord, sent: SentRun) -> int:
        runs = self.store.runs
        run_id = held.id
        runs.fill_in(run_id, sent.name, sent.note)
        if sent.command is not None and sent.command != held.command:
            runs.set_command(run_id, sent.command)
        if sent.params:
            runs.set_params(run_id, sent.params)
        if sent.summary:
            runs.set_summary(run_id, sent.summary)
        new_tags = tuple(t for t in sent.tags if t not in held.tags)
        if new_tags:
            runs.add_tags(run_id, new_tags)
        if sent.capture:
            runs.set_capture(run_id, sent.capture)
        if sent.job_id or sent.job_state:
            runs.set_job(run_id, sent.job_id, sent.job_state)
        if sent.hyp_uid and held.hyp_id is None:
            hyp = next((h.id for h in self.store.research.list_hypotheses() if h.uid == sent.hyp_uid), None)
            if hyp is not None:
                self.store.research.link_run(run_id, hyp)
        self._set_status(held, sent)
        return run_id

    def _set_status(self, held: RunRecord, sent: SentRun) -> None:
        runs = self.store.runs
        if sent.status in ENDED and held.status in (PENDING, RUNNING, CRASHED):
            runs.end_run(held.id, sent.status, sent.ended_at or time.time(), sent.exit_code)
        elif sent.status == RUNNING and held.status == PENDING:
            runs.adopt_run(held.id, _owner(sent), sent.started_at or sent.created_at, sent.cwd or "")
        elif sent.status == RUNNING:
            runs.heartbeat(
                held.id, time.time()
            )  # a run taken for crashed while its client was away comes back

    # -- points --------------------------------------------------------------------
    def marks(self, uid: str) -> dict[str, dict[str, int]]:
        """{writer: {key: points held}} of a run."""
        return {w: m.counts for w, m in self.store.server.upload_marks(self._run_id(uid)).items()}

    def _run_id(self, uid: str) -> int:
        """The id of the run ``uid`` names: one indexed read, as every batch of points asks it."""
        from labbook.errors import RunNotFound

        run_id = self.store.runs.run_id_of_uid(uid) if UID.fullmatch(uid) else None
        if run_id is None:
            raise RunNotFound(f"no run {uid!r} on this server; send the run before its points")
        return run_id

    def files(self, uid: str) -> dict[str, int]:
        """{writer: the bytes a reader may take} of a run's writer files: what was committed of a sent
        file (an uncommitted tail is never served), the intact length of one written here."""
        from labbook.store.series.read import intact_length

        marks = self.store.server.upload_marks(self._run_id(uid))
        folder = self.nb.run_dir(uid) / "metrics"
        out = {}
        for path in sorted(folder.glob("*.lbm")) if folder.is_dir() else []:
            writer = path.name[: -len(".lbm")]
            out[writer] = marks[writer].bytes if writer in marks else intact_length(path)
        return out

    def file(self, uid: str, writer: str) -> bytes:
        """A writer file's bytes, as far as ``files`` says."""
        if not WRITER.fullmatch(writer) or ".." in writer:
            raise BadInput(f"a writer is a file name of letters, digits, '.', '_' and '-', not {writer!r}")
        length = self.files(uid).get(writer)
        if length is None:
            from labbook.errors import NotFound

            raise NotFound(f"run {uid} has no writer file {writer!r} on this server")
        with (self.nb.run_dir(uid) / "metrics" / f"{writer}.lbm").open("rb") as f:
            return f.read(length)

    def save_points(self, uid: str, writer: str, starts: Mapping[str, int], data: bytes) -> dict[str, int]:
        """Append what the server lacks of a batch of ``writer``'s blocks; the counts it then holds."""
        if not WRITER.fullmatch(writer) or ".." in writer:
            raise BadInput(f"a writer is a file name of letters, digits, '.', '_' and '-', not {writer!r}")
        run_id = self._run_id(uid)
        batch = _decode(data, starts)
        with _file_lock(uid, writer):
            mark = self.store.server.upload_marks(run_id).get(writer, UploadMark(0, {}))
            kept, counts = _new_points(batch, starts, mark.counts)
            path = self.nb.run_dir(uid) / "metrics" / f"{writer}.lbm"
            length = _cut_back(path, mark.bytes)
            if not kept:
                return counts
            chunks, summaries = _encode(kept)
            length = _append(path, chunks, length)
            self.store.server.record_upload(run_id, writer, UploadMark(length, counts), summaries)
        return counts

    # -- per-example results ------------------------------------------------------
    def save_examples(self, uid: str, split: str, rows: Any) -> int:
        """Insert or replace a page of a run's per-example rows ([id, correct, JSON object]); how many."""
        from labbook.core.example_sets import build_set
        from labbook.service.failures import check_name

        run_id = self._run_id(uid)
        split = check_name(split, "split")
        checked, fields = _example_rows(rows)
        self.store.failures.write_examples(run_id, split, checked, fields, build_set)
        return len(checked)

    def example_splits(self, uid: str) -> dict[str, dict[str, Any]]:
        """{split: {"count", "digest"}} of a run's per-example results (``lab pull`` compares digests)."""
        run_id = self._run_id(uid)
        return {
            split: {"count": n, "digest": self.nb.outbox.example_digest(run_id, split)}
            for split, n in self.store.failures.example_splits(run_id).items()
        }

    def example_page(self, uid: str, split: str, after: str | None, limit: int) -> list[ExampleRow]:
        if not 0 < limit <= MAX_EXAMPLES:
            raise BadInput(f"limit is 1 to {MAX_EXAMPLES} rows")
        return self.store.failures.example_rows(self._run_id(uid), split, after, limit)


MAX_EXAMPLES = 20_000  # rows of per-example results one request may carry


def _example_rows(rows: Any) -> tuple[list[ExampleRow], set[str]]:
    """Sent rows checked: each [id text, correct 0/1/null, a JSON object's text]; and their fields."""
    import json

    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_EXAMPLES:
        raise BadInput(f"send {{'rows': [[id, correct, data], ...]}} with 1 to {MAX_EXAMPLES} rows")
    out: list[ExampleRow] = []
    fields: set[str] = set()
    for row in rows:
        ok = isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and row[0] != ""
        ok = ok and row[1] in (None, 0, 1) and not isinstance(row[1], float) and isinstance(row[2], str)
        try:
            data = json.loads(row[2]) if ok else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BadInput(
                f"an example row is [id, correct 0/1/null, a JSON object as text], not {str(row)[:80]}"
            )
        out.append((row[0], None if row[1] is None else int(row[1]), row[2]))
        fields.update(data)
    if len({r[0] for r in out}) != len(out):
        raise BadInput("a page of examples names an id twice")
    return out, fields


def _decode(data: bytes, starts: Mapping[str, int]) -> dict[str, Any]:
    """{key: Series} of a batch, every key's first index given; BadInput for damage or a missing start."""
    from labbook.formats.series import HEADER, decode
    from labbook.store.series.read import iter_blocks

    blocks: dict[str, list[Any]] = {}
    size = 0
    for block in iter_blocks(data):
        blocks.setdefault(block.key, []).append(block)
        size += (
            HEADER.size + len(block.key.encode()) + len(block.steps) + len(block.times) + len(block.values)
        )
    if size != len(data):
        raise BadInput("the batch holds bytes that are not intact series blocks; send it again")
    missing = sorted(set(blocks) - set(starts))
    if missing:
        raise BadInput(f"the batch does not say where {missing[0]!r} starts")
    for key, start in starts.items():
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise BadInput(f"where {key!r} starts is a count of points, not {start!r}")
    return {key: decode(bs, ms=True) for key, bs in blocks.items()}


def _new_points(
    batch: dict[str, Any], starts: Mapping[str, int], held: dict[str, int]
) -> tuple[dict[str, Any], dict[str, int]]:
    """The points of ``batch`` not held yet, per key, and the counts once they are."""
    from labbook.formats.series import Series

    kept: dict[str, Any] = {}
    counts = dict(held)
    gaps = {k: held.get(k, 0) for k in batch if starts[k] > held.get(k, 0)}
    if gaps:
        first = sorted(gaps)[0]
        raise Gap(
            f"the batch starts {first!r} at point {starts[first]} but the server holds {gaps[first]};"
            " send from there",
            counts,
        )
    for key, series in batch.items():
        skip = held.get(key, 0) - starts[key]
        if skip < len(series.values):
            kept[key] = Series(series.steps[skip:], series.times[skip:], series.values[skip:])
            counts[key] = starts[key] + len(series.values)
    return kept, counts


def _encode(kept: dict[str, Any]) -> tuple[list[bytes], list[BatchSummary]]:
    from labbook.core.summaries import summarize
    from labbook.formats.series import encode_block

    chunks, summaries = [], []
    for key, s in kept.items():
        chunks.append(encode_block(key, s.steps, s.times, s.values))
        summaries.append(summarize(key, s.steps, s.values))
    return chunks, summaries


def _cut_back(path: Path, length: int) -> int:
    """The file at the length its mark says, an uncommitted append cut away."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if size > length:
        os.truncate(path, length)
    elif size < length:
        raise DataLost(
            f"{path} is shorter ({size:,} bytes) than the points the server acknowledged ({length:,});"
            " run `lab verify` on the server"
        )
    return length


def _append(path: Path, chunks: list[bytes], length: int) -> int:
    """Append and sync; on failure cut the file back and re-raise (nothing is counted)."""
    from labbook.store.series.files import write_all

    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(chunks)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        try:
            write_all(fd, data)
            os.fdatasync(fd)  # on disk before it is counted, and so before the client hears it is
        except BaseException:
            os.ftruncate(fd, length)
            raise
    finally:
        os.close(fd)
    return length + len(data)
