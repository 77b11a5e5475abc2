"""Records a client sends a server (or ``lab pull`` brings back), keyed by uid, linked by uid.

Papers, problems, hypotheses, predictions, notes and failure samples. Runs and their
points are ``service/ingest``'s; per-example results travel with their run there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from labbook.errors import BadInput, Conflict
from labbook.records.examples import sample_key

if TYPE_CHECKING:
    from labbook.records.examples import PileRow
    from labbook.service.notebook import Notebook

#: Every kind, in the order a receiver creates them (a record links only to kinds before it, or runs).
RECORD_KINDS = ("papers", "problems", "hypotheses", "predictions", "notes", "samples")
#: What goes before the runs: a run links to its hypothesis; a prediction is judged late against the runs held.
BEFORE_RUNS = ("papers", "problems", "hypotheses", "predictions")
#: What goes after: a note may name a run, a sample is of a run.
AFTER_RUNS = ("notes", "samples")
SINGULAR = {"papers": "paper", "problems": "problem", "hypotheses": "hypothesis", "predictions": "prediction",
            "notes": "note", "samples": "sample"}  # fmt: skip


class Records:
    """Papers, problems, hypotheses, predictions, notes and failure samples a client sends, keyed by
    uid, linked by uid.

    A record the server holds already is left as it is (a resolution it lacks is added);
    one it holds under the same uid with other content is a conflict, and the whole
    request is refused. Whether a prediction is late is the server's call, at receipt,
    from the runs it holds, as for one written on the server: a prediction the client
    already knew to be late stays late.
    """

    IDENTITY: ClassVar[dict[str, tuple[str, ...]]] = {
        "papers": ("title", "added_at"),
        "problems": ("title", "created_at"),
        "hypotheses": ("text", "created_at"),
        "predictions": ("text", "created_at", "kind"),
        "notes": ("text", "created_at"),
        "samples": ("seed", "requested"),  # the uid is (run, split, creation time); the name is local
    }

    def __init__(self, notebook: Notebook) -> None:
        self.store = notebook.store

    def _held(self) -> dict[str, dict[str, Any]]:
        research, journal = self.store.research, self.store.journal
        return {
            "papers": {p.uid: {"id": p.id, "title": p.title, "added_at": p.added_at, "decision": p.decision}
                       for p in self.store.papers.list_papers()},
            "problems": {q.uid: {"id": q.id, "title": q.title, "created_at": q.created_at, "retired": q.retired_at}
                         for q in self.store.problems.list_problems()},
            "hypotheses": {h.uid: {"id": h.id, "text": h.text, "created_at": h.created_at, "outcome": h.outcome}
                           for h in research.list_hypotheses()},
            "predictions": {p.uid: {"id": p.id, "text": p.text, "created_at": p.created_at, "kind": p.kind,
                                    "resolved": p.resolution is not None} for p in research.list_predictions()},
            "notes": {n.uid: {"id": n.id, "text": n.text, "created_at": n.created_at} for n in journal.notes()},
            "samples": self._held_samples(),
        }  # fmt: skip

    def _held_samples(self) -> dict[str, dict[str, Any]]:
        samples = self.store.failures.list_samples()
        if not samples:
            return {}
        uids = {r.id: r.uid for r in self.store.runs.query_runs(None, [], None)[0]}
        return {
            sample_key(uids[s.run_id], s.split, s.created_at): {
                "id": s.id,
                "seed": s.seed,
                "requested": s.requested,
            }
            for s in samples
            if s.run_id in uids
        }

    def conflicts(self, sent: Mapping[str, list[dict[str, Any]]]) -> list[str]:
        held = self._held()
        out = []
        for kind in RECORD_KINDS:
            for item in sent.get(kind, []):
                mine = held[kind].get(item.get("uid", ""))
                if mine is not None and any(mine[k] != item.get(k) for k in self.IDENTITY[kind]):
                    out.append(f"{SINGULAR[kind]} {item['uid']}")
        return out

    def save(self, sent: Mapping[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Create what the server lacks, hypotheses first; {kind: records created}."""
        unknown = sorted(set(sent) - set(RECORD_KINDS))
        if unknown:
            raise BadInput(f"records are {', '.join(RECORD_KINDS)}, not {unknown[0]!r}")
        for kind in RECORD_KINDS:
            items = sent.get(kind, [])
            if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("uid"), str) for i in items
            ):
                raise BadInput(f"{kind} is a list of objects, each with its uid")
        clashes = self.conflicts(sent)
        if clashes:
            raise Conflict.of(clashes, "the server holds", "written")
        try:
            with self.store.atomic():  # all of them, or (one of them wrong) none
                return self._save(sent)
        except (KeyError, TypeError, ValueError) as err:
            raise BadInput(f"a record is missing a field or has a wrong one ({err})") from None

    def _save(self, sent: Mapping[str, list[dict[str, Any]]]) -> dict[str, int]:
        return {
            "papers": self._papers(sent.get("papers", [])),
            "problems": self._problems(sent.get("problems", [])),
            "hypotheses": self._hypotheses(sent.get("hypotheses", [])),
            "predictions": self._predictions(sent.get("predictions", [])),
            "notes": self._notes(sent.get("notes", [])),
            "samples": self._samples(sent.get("samples", [])),
        }

    def _papers(self, items: list[dict[str, Any]]) -> int:
        held = self._held()["papers"]
        made = 0
        for p in items:
            found = held.get(p["uid"])
            if found is None:
                fields = {k: p.get(k) for k in ("year", "venue", "doi", "arxiv", "url", "abstract", "citekey",
                                                "entry_type")}  # fmt: skip
                (paper_id,) = self.store.papers.save_papers(
                    [{**fields, "uid": p["uid"], "title": p["title"], "authors": list(p.get("authors") or []),
                      "norm_title": p.get("norm_title") or " ".join(str(p["title"]).lower().split()),
                      "source": p.get("source") or "import", "added_at": float(p["added_at"]),
                      "citekeys": list(p.get("citekeys") or [])}],
                    {},
                )  # fmt: skip
                made += 1
            else:
                paper_id = int(found["id"])
            if p.get("decision") and (found is None or found["decision"] is None):
                self.store.papers.triage_paper(
                    paper_id, p["decision"], p.get("output_kind"), p.get("changes"), float(p["triaged_at"])
                )
        return made

    def _problems(self, items: list[dict[str, Any]]) -> int:
        held = self._held()["problems"]
        made = 0
        for q in items:
            found = held.get(q["uid"])
            if found is None:
                problem_id = self.store.problems.create_problem(
                    q["uid"], q["title"], q["why"], q.get("attack"), float(q["created_at"]), []
                )
                if q.get("notes"):
                    self.store.problems.edit_problem(problem_id, {}, q["notes"])
                made += 1
            else:
                problem_id = int(found["id"])
            if q.get("retired_at") and (found is None or found["retired"] is None):
                self.store.problems.retire_problem(problem_id, q.get("retired_why"), float(q["retired_at"]))
        return made

    def _problem_links(self, items: list[dict[str, Any]]) -> None:
        """Hypotheses linked to problems, once both are here (a hypothesis has at most one problem)."""
        problems = {q.uid: q for q in self.store.problems.list_problems()}
        hyps = self._hyp_ids()
        for h in items:
            problem = problems.get(h.get("problem_uid") or "")
            hyp_id = hyps.get(h["uid"])
            if problem is not None and hyp_id is not None and self.store.problems.problem_of(hyp_id) is None:
                self.store.problems.link_problem(hyp_id, problem.id, problem.title)

    def _hyp_ids(self) -> dict[str, int]:
        return {h.uid: h.id for h in self.store.research.list_hypotheses()}

    def _hypotheses(self, items: list[dict[str, Any]]) -> int:
        from labbook.records.research import NewHypothesis

        held = self._held()["hypotheses"]
        made = 0
        for h in items:
            found = held.get(h["uid"])
            if found is None:
                hyp_id = self.store.research.create_hypothesis(
                    NewHypothesis(h["uid"], h["text"], h.get("problem"), h.get("author"), float(h["created_at"]),
                                  tuple(h.get("tags") or ()))
                )  # fmt: skip
                made += 1
            else:
                hyp_id = int(found["id"])
            if h.get("outcome") and (found is None or found["outcome"] is None):
                self.store.research.resolve_hypothesis(
                    hyp_id, h["outcome"], h.get("belief"), float(h["resolved_at"])
                )
        self._problem_links(items)  # problems came first
        return made

    def _predictions(self, items: list[dict[str, Any]]) -> int:
        from labbook.records.research import NewPrediction, Resolution

        hyps = self._hyp_ids()
        papers = {p.uid: p.id for p in self.store.papers.list_papers()}
        held = self._held()["predictions"]
        made = 0
        for p in sorted(items, key=lambda x: float(x["created_at"])):  # a revision after what it revises
            found = held.get(p["uid"])
            if found is None:
                revises = held.get(p.get("revision_of_uid") or "", {}).get("id")
                paper = papers.get(p.get("paper_uid") or "")
                fields = {k: p.get(k) for k in ("p", "low", "high", "level", "point", "metric", "agg", "reduce",
                                                "op", "value", "min_runs", "author", "due_at", "scope")}  # fmt: skip
                pred_id = self.store.research.create_prediction(
                    NewPrediction(p["uid"], hyps.get(p.get("hyp_uid") or ""), p["text"], kind=p["kind"],
                                  created_at=float(p["created_at"]), late=True if p.get("late") else None,
                                  revision_of=revises, source=p.get("source") or "lab",
                                  tags=tuple(p.get("tags") or ()), paper_id=paper, **fields)
                )  # fmt: skip
                held[p["uid"]] = {"id": pred_id, "resolved": False}
                made += 1
            else:
                pred_id = int(found["id"])
            r = p.get("resolution")
            if r and not held[p["uid"]]["resolved"]:
                self.store.research.resolve_prediction(
                    pred_id,
                    Resolution(
                        r["outcome"], r.get("value"), r["how"], r.get("detail"), float(r["resolved_at"])
                    ),
                )
        return made

    def _notes(self, items: list[dict[str, Any]]) -> int:
        from labbook.records.journal import NewNote

        hyps = self._hyp_ids()
        held = self._held()["notes"]
        made = 0
        for n in items:
            if n["uid"] in held:
                continue
            run_id = self.store.runs.run_id_of_uid(n["run_uid"]) if n.get("run_uid") else None
            self.store.journal.add_note(
                NewNote(n["uid"], n["text"], hyps.get(n.get("hyp_uid") or ""), run_id, bool(n.get("against")),
                        n.get("author") or "", float(n["created_at"]))
            )  # fmt: skip
            made += 1
        return made

    def _samples(self, items: list[dict[str, Any]]) -> int:
        """Failure samples: created where missing (under a free name), then their review merged."""
        from labbook.records.examples import NewSample
        from labbook.service.failures import check_name

        held = self._held()["samples"]
        hyps = self._hyp_ids()
        made = 0
        for s in items:
            items_ = _sample_items(s)
            found = held.get(s["uid"])
            if found is None:
                run_id = self.store.runs.run_id_of_uid(str(s["run_uid"]))
                if run_id is None:
                    raise BadInput(
                        f"sample {s['name']} is of run {s['run_uid']}, which is not here; send it first"
                    )
                name = _free_name(check_name(str(s["name"]), "sample"), self.store.failures.sample_names())
                sample_id = self.store.failures.create_sample(
                    NewSample(name, run_id, check_name(str(s["split"]), "split"), [e for e, _ in items_],
                              s.get("where"), s.get("stratify"), int(s["seed"]), int(s["requested"]),
                              int(s["population"]), float(s["created_at"]))
                )  # fmt: skip
                made += 1
            else:
                sample_id = int(found["id"])
            piles: dict[str, list[PileRow]] = {}
            for ex_id, pile, source, at in s.get("piles") or []:
                piles.setdefault(str(ex_id), []).append((str(ex_id), check_name(str(pile), "pile"), str(source),
                                                         float(at)))  # fmt: skip
            links = [
                (hyps[str(h)], str(p), int(n), int(r))
                for h, p, n, r in s.get("hypotheses") or []
                if h in hyps
            ]
            self.store.failures.merge_review(sample_id, [(e, n) for e, n in items_ if n], piles, links)
        return made


def _sample_items(sample: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """A sent sample's (example id, note) in review order; BadInput unless each id is text, once."""
    items = sample["items"]
    out = [(e, n) for e, n in items] if isinstance(items, list) else []
    if not out or not all(isinstance(e, str) and (n is None or isinstance(n, str)) for e, n in out):
        raise BadInput(f"sample {sample.get('name')!r}: items are [example id, note or null] pairs")
    if len({e for e, _ in out}) != len(out):
        raise BadInput(f"sample {sample.get('name')!r} names an example twice")
    return out


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``… when this notebook has another sample by that name."""
    return next(n for n in (name, *(f"{name}-{i}" for i in range(2, len(taken) + 3))) if n not in taken)
