"""Sending a local run to a team server until the server holds all of it (``lab sync``, the uploader).

The local notebook is the record; the server is told what it lacks. A run goes as its
row (``Outbox.payload``), again whenever it changes and every ``RESEND_S`` while it
runs (the server's heartbeat). Its points go as the writer files hold them: this reads
each file's whole blocks from where it stopped (a file replaced by compaction is read
again from its start), and sends the blocks holding points past what the server says it
holds, with the index of each key's first one. Nothing is ever decoded here: blocks go
as they are on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.errors import Conflict
from labbook.formats.series import HEADER, MAGIC
from labbook.service.ingest_records import AFTER_RUNS, BEFORE_RUNS, RECORD_KINDS

if TYPE_CHECKING:
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook
    from labbook.tracking.remote import Client

BATCH_BYTES = 4 << 20  # the most one request carries
WINDOW = 8 << 20  # bytes read from a file at a time
RESEND_S = 30.0


@dataclass
class FileState:
    """How far one writer file has been read, and how many points of each key it had there."""

    inode: int = -1
    offset: int = 0
    read: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """One step's account: points sent now, points the server still lacks, whether the run is done."""

    sent: int
    behind: int
    done: bool


def whole_blocks(fd: int, start: int, size: int) -> Iterator[tuple[int, str, int, bytes]]:
    """(offset, key, points, bytes) of each whole block from ``start``; stops at a partial or foreign block."""
    pos = start
    buf, buf_at = b"", start
    while pos + HEADER.size <= size:
        if pos + HEADER.size > buf_at + len(buf):
            buf, buf_at = os.pread(fd, max(WINDOW, HEADER.size), pos), pos
        head = buf[pos - buf_at : pos - buf_at + HEADER.size]
        if len(head) < HEADER.size:
            return
        magic, n, klen, _flags, ls, lt, lv, _crc = HEADER.unpack(head)
        if magic != MAGIC:
            return  # damage: the server gets what precedes it; `lab verify` names the rest
        end = pos + HEADER.size + klen + ls + lt + lv
        if end > size:
            return  # still being written
        if end > buf_at + len(buf):
            buf, buf_at = os.pread(fd, max(WINDOW, end - pos), pos), pos
        raw = buf[pos - buf_at : end - buf_at]
        key = raw[HEADER.size : HEADER.size + klen].decode("utf-8", "surrogateescape")
        yield pos, key, n, raw
        pos = end


class RunSync:
    """What has been sent of one run to one server; ``step`` sends what is new."""

    def __init__(self, nb: Notebook, client: Client, run_id: int) -> None:
        self.nb, self.client, self.run_id = nb, client, run_id
        self.files: dict[str, FileState] = {}
        self.held: dict[str, dict[str, int]] | None = None
        self.digest: str | None = None
        self.sent_at = 0.0

    def step(self) -> Progress:
        """Send the run's row if it changed, then every point the server lacks; raises if it cannot."""
        from labbook.errors import RunNotFound

        try:
            run = self.nb.get_run(self.run_id)
        except RunNotFound:
            return Progress(0, 0, True)  # removed here meanwhile: nothing left to send
        self._send_row(run)
        if self.held is None:
            self.held = self.client.marks(run.uid)
        sent = behind = 0
        folder = self.nb.run_dir(run) / "metrics"
        for path in sorted(folder.glob("*.lbm")) if folder.is_dir() else []:
            s, b = self._send_file(run, path.name[: -len(".lbm")], path)
            sent, behind = sent + s, behind + b
        done = not self.nb.outbox.live(run) and behind == 0
        if done:
            self._send_row(run, force=True)  # the end, once more: nothing after it may be lost
            send_examples(self.nb, self.client, run.id)  # logged during the run, they go with its end
            self.nb.outbox.acknowledge(self.client.server.url, run, self.digest or "", True)
        return Progress(sent, behind, done)

    def _send_row(self, run: RunRecord, force: bool = False) -> None:
        payload = self.nb.outbox.payload(run)
        digest = self.nb.outbox.digest(payload)
        stale = self.nb.outbox.live(run) and time.monotonic() - self.sent_at > RESEND_S
        if force or digest != self.digest or stale:
            self.client.save_runs([payload])
            self.digest, self.sent_at = digest, time.monotonic()

    def _send_file(self, run: RunRecord, writer: str, path: os.PathLike[str]) -> tuple[int, int]:
        """(points sent, points still missing on the server) of one writer file."""
        from labbook.errors import Refused

        state = self.files.setdefault(writer, FileState())
        assert self.held is not None
        held = self.held.setdefault(writer, {})
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, 0  # replaced between listing and opening: the next step reads it
        try:
            st = os.fstat(fd)
            if st.st_ino != state.inode or st.st_size < state.offset:
                state.inode, state.offset, state.read = st.st_ino, 0, {}  # compacted: read again
            sent = 0
            batch: list[bytes] = []
            starts: dict[str, int] = {}
            size = 0
            for pos, key, n, raw in whole_blocks(fd, state.offset, st.st_size):
                first = state.read.get(key, 0)
                state.read[key] = first + n
                state.offset = pos + len(raw)
                if first + n <= held.get(key, 0):
                    continue  # the server holds these
                starts.setdefault(key, first)
                batch.append(raw)
                size += len(raw)
                if size >= BATCH_BYTES:
                    sent += self._post(run, writer, starts, batch, held)
                    batch, starts, size = [], {}, 0
            if batch:
                sent += self._post(run, writer, starts, batch, held)
        except Refused as err:
            if err.status != 409:
                raise
            self.held[writer] = {k: int(v) for k, v in err.body.get("counts", {}).items()}
            self.files[writer] = FileState()  # read from the start, sending from what it holds
            return 0, 1
        finally:
            os.close(fd)
        behind = sum(max(0, c - held.get(k, 0)) for k, c in state.read.items())
        return sent, behind

    def _post(
        self, run: RunRecord, writer: str, starts: dict[str, int], batch: list[bytes], held: dict[str, int]
    ) -> int:
        before = sum(held.values())
        counts = self.client.save_points(run.uid, writer, starts, b"".join(batch))
        held.update({k: int(v) for k, v in counts.items()})
        return sum(held.values()) - before


@dataclass
class SyncReport:
    """What ``lab sync`` did: runs now whole on the server, runs still sending, points, records and
    per-example rows sent."""

    done: list[int] = field(default_factory=list)
    unfinished: list[int] = field(default_factory=list)
    points: int = 0
    records: int = 0
    examples: int = 0


def check_conflicts(nb: Notebook, client: Client) -> None:
    """Ask the server, before anything is written, whether any uid of this notebook clashes."""
    url = client.server.url
    runs = [nb.outbox.payload(r) for r in nb.outbox.pending(url)]
    clashes = [
        f"run {u}" for part in _chunks(runs) for u in client.save_runs(part, check=True).get("conflicts", [])
    ]
    for kind, items in nb.outbox.records(url, RECORD_KINDS).items():
        for part in _chunks(items):
            clashes += client.save_records({kind: part}, check=True).get("conflicts", [])
    if clashes:
        raise Conflict.of(clashes, "the server holds", "sent")


def send_records(nb: Notebook, client: Client, kinds: tuple[str, ...]) -> int:
    """The records of ``kinds`` the server lacks, kind by kind in that order, ``CHUNK`` a request;
    each acknowledged once the server has it."""
    sent = 0
    for kind, items in nb.outbox.records(client.server.url, kinds).items():
        for part in _chunks(items):
            client.save_records({kind: part})
            nb.outbox.acknowledge_records(client.server.url, {kind: part})
            sent += len(part)
    return sent


CHUNK = 500  # runs or records in one request (the server takes up to 1,000)


def _chunks(items: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def send_examples(nb: Notebook, client: Client, run_id: int | None = None) -> int:
    """Every split of per-example results the server lacks as it is here, a page at a time; rows sent.

    Rows are upserted by id there, so a split sent again after an interruption is harmless;
    it counts as acknowledged only once every page arrived.
    """
    sent = 0
    for run, split, digest in nb.outbox.examples(client.server.url, run_id):
        for page in nb.outbox.example_pages(run.id, split):
            sent += client.save_examples(run.uid, split, page)
        nb.outbox.acknowledge_examples(client.server.url, run, split, digest)
    return sent


def sync_all(nb: Notebook, client: Client, check: bool = False) -> SyncReport:
    """Send every record and run not yet done with this server; ``check`` asks about clashing uids first.

    Hypotheses and predictions go before the runs (a run links to its hypothesis, and a
    prediction's lateness is judged against the runs the server holds when it arrives);
    per-example results, notes and failure samples after (each names a run). Stops at the
    first error, keeping what was sent.
    """
    if check:
        check_conflicts(nb, client)
    report = SyncReport()
    report.records += send_records(nb, client, BEFORE_RUNS)
    for run in nb.outbox.pending(client.server.url):
        progress = RunSync(nb, client, run.id).step()
        report.points += progress.sent
        (report.done if progress.done else report.unfinished).append(run.id)
    report.examples += send_examples(nb, client)
    report.records += send_records(nb, client, AFTER_RUNS)
    return report


def local_points(nb: Notebook, run: RunRecord) -> dict[str, dict[str, int]]:
    """{writer: {key: points}} of the whole blocks in a run's writer files."""
    out: dict[str, dict[str, int]] = {}
    folder = nb.run_dir(run) / "metrics"
    for path in sorted(folder.glob("*.lbm")) if folder.is_dir() else []:
        counts = out.setdefault(path.name[: -len(".lbm")], {})
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            for _pos, key, n, _raw in whole_blocks(fd, 0, os.fstat(fd).st_size):
                counts[key] = counts.get(key, 0) + n
        finally:
            os.close(fd)
    return out


def missing(nb: Notebook, client: Client, run: RunRecord) -> int:
    """Points of ``run`` the server does not hold (all of them for a run it does not know)."""
    from labbook.errors import Refused

    try:
        held = client.marks(run.uid)
    except Refused as err:
        if err.status != 404:
            raise
        held = {}
    return sum(
        max(0, n - held.get(writer, {}).get(key, 0))
        for writer, counts in local_points(nb, run).items()
        for key, n in counts.items()
    )


@dataclass
class PullReport:
    """What ``lab pull`` brought: runs, their points and per-example rows, and research records."""

    runs: int = 0
    points: int = 0
    records: int = 0
    examples: int = 0


def pull_all(nb: Notebook, client: Client) -> PullReport:
    """Bring the server's runs, points and research into this notebook, keyed by uid, nothing twice.

    This notebook is asked first: if it holds other content under any of the server's
    uids, nothing is written. What is pulled counts as acknowledged by that server, so
    ``lab sync`` does not send it back.
    """

    from labbook.service.ingest import SentRun
    from labbook.service.ingest_records import Records

    url = client.server.url
    records = {k: list(v) for k, v in client.request("GET", "/api/v1/records").items() if k in RECORD_KINDS}
    fetched: dict[str, str] = {}
    listed = client.request("GET", "/api/v1/runs").get("runs", [])
    runs = [SentRun.from_json(_inlined(r, client, fetched)) for r in listed]
    local = Records(nb)
    clashes = [f"run {u}" for u in nb.ingest.conflicts(runs)] + local.conflicts(records)
    if clashes:
        raise Conflict.of(clashes, "this notebook holds", "written")
    report = PullReport()
    saved = local.save({k: records.get(k, []) for k in BEFORE_RUNS})
    report.records += sum(saved.values())
    before = {r.uid for r in nb.store.runs.query_runs(None, [], None)[0]}
    nb.ingest.save_runs(runs)
    report.runs = len({r.uid for r in runs} - before)
    for run in runs:
        report.points += _pull_points(nb, client, run.uid)
        report.examples += _pull_examples(nb, client, run.uid)
    saved = local.save({k: records.get(k, []) for k in AFTER_RUNS})
    report.records += sum(saved.values())
    pulled = {r.uid for r in runs}
    for record in nb.store.runs.query_runs(None, [], None)[0]:
        if record.uid in pulled:
            digest = nb.outbox.digest(nb.outbox.payload(record))
            nb.outbox.acknowledge(url, record, digest, not nb.outbox.live(record))
    there = {(kind, nb.outbox.record_digest(kind, r)) for kind, items in records.items() for r in items}
    same = {
        kind: [r for r in items if (kind, nb.outbox.record_digest(kind, r)) in there]
        for kind, items in nb.outbox.records(url, RECORD_KINDS).items()
    }  # a record held here alone, or held otherwise, is still to send
    nb.outbox.acknowledge_records(url, same)
    for held, split, digest in nb.outbox.examples(url):
        if held.uid in pulled and _held_there(client, held.uid, split) == digest:
            nb.outbox.acknowledge_examples(url, held, split, digest)
    return report


def _held_there(client: Client, uid: str, split: str) -> str | None:
    from urllib.parse import quote

    splits = client.request("GET", f"/api/v1/runs/{quote(uid)}/examples").get("splits", {})
    digest = splits.get(split, {}).get("digest")
    return str(digest) if digest else None


def _inlined(run: dict[str, Any], client: Client, fetched: dict[str, str]) -> dict[str, Any]:
    """A pulled run with its large capture fields fetched (each digest once per pull)."""
    from urllib.parse import quote

    capture = dict(run.get("capture") or {})
    for name, value in capture.items():
        if isinstance(value, dict) and set(value) == {"blob"}:
            digest = str(value["blob"])
            if digest not in fetched:
                fetched[digest] = str(client.request("GET", f"/api/v1/blobs/{quote(digest)}")["data"])
            capture[name] = fetched[digest]
    return {**run, "capture": capture}


def _pull_points(nb: Notebook, client: Client, uid: str) -> int:
    """The points of one run's writer files this notebook lacks, through the same exactly-once path."""
    from urllib.parse import quote

    path = f"/api/v1/runs/{quote(uid)}"
    have = nb.ingest.files(uid)
    added = 0
    for writer, length in client.request("GET", f"{path}/files").get("files", {}).items():
        if have.get(writer, 0) >= int(length):
            continue
        data = client.raw(f"{path}/files/{quote(writer)}")
        starts = dict.fromkeys(_keys_of(data), 0)
        held = sum(nb.ingest.marks(uid).get(writer, {}).values())
        added += sum(nb.ingest.save_points(uid, writer, starts, data).values()) - held
    return added


def _pull_examples(nb: Notebook, client: Client, uid: str) -> int:
    """The per-example rows of one run this notebook lacks or holds otherwise; rows written."""
    from urllib.parse import quote, urlencode

    path = f"/api/v1/runs/{quote(uid)}/examples"
    run_id = nb.store.runs.run_id_of_uid(uid)
    assert run_id is not None  # pulled just now
    added = 0
    for split, there in client.request("GET", path).get("splits", {}).items():
        if nb.outbox.example_digest(run_id, split) == there["digest"]:
            continue
        after = ""
        while True:
            query = urlencode({"split": split, "after": after})
            rows = client.request("GET", f"{path}/rows?{query}").get("rows", [])
            if not rows:
                break
            added += nb.ingest.save_examples(uid, split, rows)
            after = rows[-1][0]
    return added


def _keys_of(data: bytes) -> set[str]:
    from labbook.store.series.read import iter_blocks

    return {block.key for block in iter_blocks(data)}


SEND_NOW_S = 3.0


def send_research_now(root: Path | str | None) -> str | None:
    """After papers, problems, hypotheses or predictions were written: send them, if a server is set.

    The server then judges a prediction's lateness when it is made, against the runs it
    holds (``lab predict`` and the agent's ``predict`` both come here). Never in the way:
    a server that does not answer within ``SEND_NOW_S`` (or refuses) is the warning
    returned, and ``lab sync`` sends the records later. Notes and samples name runs, so
    they wait for ``lab sync`` (or the run's uploader), which sends the runs first.
    """
    from labbook.errors import LabbookError
    from labbook.service.notebook import Notebook
    from labbook.tracking.remote import Client, configured

    try:
        server = configured()
    except LabbookError:
        return None  # said by lab sync and the uploader, which need it
    if server is None:
        return None
    client = Client(server, timeout=SEND_NOW_S)
    try:
        with Notebook.open(root) as nb:
            send_records(nb, client, BEFORE_RUNS)
    except LabbookError as err:
        return f"kept here, not yet on {server.url} ({err}); `lab sync` sends it"
    finally:
        client.close()
    return None
