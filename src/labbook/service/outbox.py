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

from labbook.records.examples import sample_key
from labbook.records.runs import PENDING, RUNNING
from labbook.service.ingest import SentRun

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labbook.records.examples import ExampleRow, SampleRow
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

BLOB_FIELDS = ("packages", "patch")
LOCAL_FIELDS = {"samples": ("name",)}
EXAMPLE_PAGE = 5000  # rows of per-example results in one request (well under the body limit)


class Outbox:
    """The outbox part of the notebook service (``notebook.outbox``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook

    def payload(self, run: RunRecord, inline: bool = True) -> dict[str, Any]:
        """The run as a server takes it (``SentRun``): large capture fields inlined from their blobs,
        or (``inline=False``, a list of many runs) left as ``{"blob": digest}`` to fetch once each."""
        capture = dict(run.capture)
        for name in BLOB_FIELDS if inline else ():
            value = capture.get(name)
            if isinstance(value, dict) and "blob" in value:
                capture[name] = self.nb.blob(value)
        sent = SentRun(
            uid=run.uid, created_at=run.created_at, source=run.source, status=run.status, name=run.name,
            note=run.note, command=run.command, cwd=run.cwd, host=run.host, started_at=run.started_at,
            ended_at=run.ended_at, exit_code=run.exit_code, sweep_id=run.sweep_id, job_id=run.job_id,
            job_state=run.job_state, tags=run.tags, params=dict(run.params), summary=dict(run.summary),
            capture=capture, hyp_uid=self._hyp_uids().get(run.hyp_id) if run.hyp_id else None,
        )  # fmt: skip
        out = asdict(sent)
        out["tags"] = list(sent.tags)
        return out

    @staticmethod
    def digest(payload: dict[str, Any]) -> str:
        text = json.dumps(payload, sort_keys=True, default=str, allow_nan=True)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    def record_digest(cls, kind: str, record: dict[str, Any]) -> str:
        """A record's digest, less what is each notebook's own (a sample's name: another may have it)."""
        local = LOCAL_FIELDS.get(kind, ())
        return cls.digest({k: v for k, v in record.items() if k not in local})

    def pending(self, server: str) -> list[RunRecord]:
        """Runs not yet done with ``server``, oldest first."""
        marks = self.nb.store.server.sync_marks(server)
        runs, _ = self.nb.store.runs.query_runs(None, [], None)
        return sorted((r for r in runs if not marks.get(("run", r.uid), ("", False))[1]), key=lambda r: r.id)

    def _hyp_uids(self) -> dict[int | None, str]:
        return {h.id: h.uid for h in self.nb.store.research.list_hypotheses()}

    def records(self, server: str | None, kinds: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
        """The papers, problems, hypotheses, predictions, notes and samples ``server`` has not
        acknowledged as they are now (None: all of them)."""
        marks = self.nb.store.server.sync_marks(server) if server else {}
        research = self.nb.store.research
        hyps = self._hyp_uids()
        out: dict[str, list[dict[str, Any]]] = {}
        papers = self.nb.store.papers.list_papers() if {"papers", "predictions"} & set(kinds) else []
        if "papers" in kinds:
            out["papers"] = [
                {**{k: getattr(p, k) for k in ("uid", "title", "year", "venue", "doi", "arxiv", "url", "abstract",
                                               "citekey", "entry_type", "source", "added_at", "decision",
                                               "output_kind", "changes", "triaged_at")},
                 "authors": list(p.authors), "citekeys": self.nb.store.papers.paper_citekeys(p.id)}
                for p in papers
            ]  # fmt: skip
        problems = self.nb.store.problems.list_problems()
        if "problems" in kinds:
            out["problems"] = [
                {"uid": q.uid, "title": q.title, "why": q.why, "attack": q.attack, "notes": q.notes,
                 "created_at": q.created_at, "retired_at": q.retired_at, "retired_why": q.retired_why}
                for q in problems
            ]  # fmt: skip
        if "hypotheses" in kinds:
            linked = {h: q.uid for q in problems for h in q.hyp_ids}
            out["hypotheses"] = [
                {"uid": h.uid, "text": h.text, "problem": h.problem, "author": h.author, "created_at": h.created_at,
                 "tags": list(h.tags), "outcome": h.outcome, "belief": h.belief, "resolved_at": h.resolved_at,
                 "problem_uid": linked.get(h.id)}
                for h in research.list_hypotheses()
            ]  # fmt: skip
        if "predictions" in kinds:
            preds = research.list_predictions()
            uids = {p.id: p.uid for p in preds}
            paper_uids = {p.id: p.uid for p in papers}
            out["predictions"] = [{**_prediction(p, hyps, uids), "paper_uid": paper_uids.get(p.paper_id or -1)}
                                  for p in preds]  # fmt: skip
        runs = {r.id: r.uid for r in self.nb.store.runs.query_runs(None, [], None)[0]}
        if "notes" in kinds:
            out["notes"] = [
                {"uid": n.uid, "text": n.text, "hyp_uid": hyps.get(n.hyp_id), "run_uid": runs.get(n.run_id or -1),
                 "against": n.against, "author": n.author, "created_at": n.created_at}
                for n in self.nb.store.journal.notes()
            ]  # fmt: skip
        if "samples" in kinds:
            out["samples"] = [self._sample(s, runs[s.run_id], hyps)
                              for s in self.nb.store.failures.list_samples() if s.run_id in runs]  # fmt: skip
        return {
            kind: [
                r for r in items if marks.get((kind, r["uid"]), ("", False))[0] != self.record_digest(kind, r)
            ]
            for kind, items in out.items()
        }

    def _sample(self, s: SampleRow, run_uid: str, hyps: dict[int | None, str]) -> dict[str, Any]:
        """A failure sample as it travels: how it was drawn, its examples in order, and its review."""
        failures = self.nb.store.failures
        return {
            "uid": sample_key(run_uid, s.split, s.created_at), "name": s.name, "run_uid": run_uid,
            "split": s.split, "where": s.where, "stratify": s.stratify, "seed": s.seed,
            "requested": s.requested, "population": s.population, "created_at": s.created_at,
            "items": [[i.ex_id, i.note] for i in failures.sample_items(s)],
            "piles": [list(row) for row in failures.pile_rows(s.id)],
            "hypotheses": [[hyps[h], p, n, r] for h, p, n, r in failures.sample_hypotheses(s.id) if h in hyps],
        }  # fmt: skip

    # -- per-example results ---------------------------------------------------------
    def example_pages(self, run_id: int, split: str) -> Iterator[list[ExampleRow]]:
        """A split's rows in id order, ``EXAMPLE_PAGE`` at a time."""
        after: str | None = None
        while True:
            page = self.nb.store.failures.example_rows(run_id, split, after, EXAMPLE_PAGE)
            if not page:
                return
            yield page
            after = page[-1][0]

    def example_digest(self, run_id: int, split: str) -> str:
        """What a split holds, as one digest both sides compute alike (ids, outcomes, fields)."""
        h = hashlib.sha256()
        for page in self.example_pages(run_id, split):
            for ex_id, correct, data in page:
                h.update(f"{ex_id}\0{correct}\0{data}\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def examples(self, server: str, run_id: int | None = None) -> list[tuple[RunRecord, str, str]]:
        """(run, split, digest) of each split of per-example results ``server`` lacks as it is now
        (of one run, or of all).

        Reads every row to tell (an upsert may change a row without changing how many there
        are): about a second per million examples on ``lab sync``.
        """
        marks = self.nb.store.server.sync_marks(server)
        runs = {r.id: r for r in self.nb.store.runs.query_runs(None, [], None)[0]}
        out = []
        for of, split in self.nb.store.failures.example_split_list():
            run = runs.get(of)
            if run is None or run_id not in (None, of):
                continue
            digest = self.example_digest(of, split)
            if marks.get(("examples", f"{run.uid}/{split}"), ("", False))[0] != digest:
                out.append((run, split, digest))
        return out

    def acknowledge_examples(self, server: str, run: RunRecord, split: str, digest: str) -> None:
        self.nb.store.server.set_sync_mark(
            server, "examples", f"{run.uid}/{split}", digest, True, time.time()
        )

    def acknowledge_records(self, server: str, sent: dict[str, list[dict[str, Any]]]) -> None:
        at = time.time()
        for kind, items in sent.items():
            for r in items:
                self.nb.store.server.set_sync_mark(
                    server, kind, r["uid"], self.record_digest(kind, r), True, at
                )

    def acknowledge(self, server: str, run: RunRecord, digest: str, done: bool) -> None:
        self.nb.store.server.set_sync_mark(server, "run", run.uid, digest, done, time.time())

    @staticmethod
    def live(run: RunRecord) -> bool:
        return run.status in (PENDING, RUNNING)


def _prediction(p: Any, hyps: dict[int | None, str], uids: dict[int, str]) -> dict[str, Any]:
    r = p.resolution
    return {
        "uid": p.uid, "hyp_uid": hyps.get(p.hyp_id), "text": p.text, "kind": p.kind, "p": p.p, "low": p.low,
        "high": p.high, "level": p.level, "point": p.point, "metric": p.metric, "agg": p.agg, "reduce": p.reduce,
        "op": p.op, "value": p.value, "min_runs": p.min_runs, "author": p.author, "created_at": p.created_at,
        "due_at": p.due_at, "late": p.late, "revision_of_uid": uids.get(p.revision_of or -1), "source": p.source,
        "scope": p.scope, "tags": list(p.tags),
        "resolution": None if r is None else
        {"outcome": r.outcome, "value": r.value, "how": r.how, "detail": r.detail, "resolved_at": r.resolved_at},
    }  # fmt: skip
