"""Papers: import and deduplicate, a weekly triage queue, and guesses scored like predictions.

Reading a paper is a chance to test your taste: before looking at its results, guess them
from the method (``guess``); after, write down what it reported (``actual``). Both are
predictions of kind ``paper`` in the same table as every other prediction, so
``lab calibration`` scores them and ``lab due`` brings back the long-horizon ones
("will this matter by 2028?", ``matters``). A guess made after the actual number of the
same metric was recorded is stored *late* and kept out of scores, like any late prediction.

Duplicates are found by DOI, then arXiv id (any version), then normalised title, so the
same paper exported from Zotero, saved from arXiv and typed by hand is one record. An
import only fills fields the record lacks; it never overwrites what is there.
"""

from __future__ import annotations

import builtins
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.core.dates import parse_date
from labbook.errors import BadInput, NotFound
from labbook.formats.bib.bibtex import to_bibtex
from labbook.formats.bib.entry import Entry, arxiv_id, norm_doi, norm_title
from labbook.formats.bib.files import detect, parse
from labbook.records.papers import CHANGES, DECISIONS, OUTPUT_KINDS, Paper
from labbook.records.research import BINARY, NUMERIC, POINT, NewPrediction, Prediction
from labbook.service.hypotheses import author
from labbook.store.sqlite.papers import FILLABLE

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

DEFAULT_TARGET = (5, 15)
SOURCE = "paper"


@dataclass
class ImportReport:
    """What an import did: every entry is added, merged into a paper, or skipped with a reason."""

    format: str
    added: list[tuple[str, str]] = field(default_factory=list)  # (ref, title)
    merged: list[tuple[str, str, str]] = field(default_factory=list)  # (where, ref, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


@dataclass(frozen=True)
class Week:
    """This week's triage against the target (weeks start on Monday, local time)."""

    start: float
    end: float
    triaged: int
    low: int
    high: int
    untriaged: int

    @property
    def verdict(self) -> str:
        if self.triaged < self.low:
            return f"below target: {self.low - self.triaged} more to reach {self.low}"
        if self.triaged > self.high:
            return f"above target by {self.triaged - self.high}: are you skimming too much?"
        return "on target"


def week_bounds(now: float) -> tuple[float, float]:
    day = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start = day - timedelta(days=day.weekday())
    return start.timestamp(), (start + timedelta(days=7)).timestamp()


def parse_target(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:-|–|\.\.)\s*(\d+)\s*", text)
    if not m or int(m.group(1)) > int(m.group(2)) or int(m.group(2)) == 0:
        raise BadInput(f"target {text!r}: write a weekly range of papers like 5-15")
    return int(m.group(1)), int(m.group(2))


def check_p(p: float, flag: str = "-p") -> None:
    if not (isinstance(p, float | int) and 0 < p < 1):
        raise BadInput(f"{flag} {p:g} is outside (0, 1); give a probability such as 0.3")


class _Index:
    """Where each DOI, arXiv id and normalised title already lives (paper id or a new entry)."""

    def __init__(self, rows: list[tuple[int, str | None, str | None, str]]) -> None:
        self.doi: dict[str, Any] = {}
        self.arxiv: dict[str, Any] = {}
        self.title: dict[str, Any] = {}
        self.ids: dict[Any, tuple[str | None, str | None]] = {}
        for paper_id, doi, arxiv, title in rows:
            self.add(paper_id, doi, arxiv, title)

    def add(self, target: Any, doi: str | None, arxiv: str | None, title: str) -> None:
        if doi:
            self.doi.setdefault(doi, target)
        if arxiv:
            self.arxiv.setdefault(arxiv, target)
        self.title.setdefault(title, target)
        old = self.ids.get(target, (None, None))
        self.ids[target] = (old[0] or doi, old[1] or arxiv)

    def find(self, doi: str | None, arxiv: str | None, title: str) -> tuple[Any, str] | None:
        if doi and doi in self.doi:
            return self.doi[doi], "same DOI"
        if arxiv and arxiv in self.arxiv:
            return self.arxiv[arxiv], "same arXiv id"
        target = self.title.get(title)
        if target is not None:
            their_doi, their_arxiv = self.ids.get(target, (None, None))
            # Same title but different identifiers: two papers that share a title.
            if not (doi and their_doi and doi != their_doi) and not (
                arxiv and their_arxiv and arxiv != their_arxiv
            ):
                return target, "same title"
        return None


class Papers:
    """The papers part of the notebook service (``notebook.papers``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    # -- finding -----------------------------------------------------------------
    def get(self, ref: str | int) -> Paper:
        text = str(ref).strip()
        m = re.fullmatch(r"(?i:R)?(\d+)", text)
        if m:
            paper = self.store.papers.get_paper(int(m.group(1)))
            if paper is None:
                raise NotFound(f"no paper R{m.group(1)} in this notebook; `lab papers ls` lists them")
            return paper
        ids = self.store.papers.find_papers(text) or self.store.papers.find_papers(
            arxiv_id(text) or norm_doi(text) or text
        )
        if len(ids) > 1:
            shown = ", ".join(f"R{i}" for i in ids[:6])
            raise BadInput(f"{text!r} names {len(ids)} papers ({shown}); use the R id")
        if not ids:
            raise NotFound(
                f"no paper {text!r} in this notebook (give R3, a citation key, a DOI or an arXiv id); "
                "`lab papers ls` lists them"
            )
        return self.store.papers.get_paper(ids[0])  # type: ignore[return-value]

    def list(self, status: str | None = None, week: bool = False, now: float | None = None) -> list[Paper]:
        if status is not None and status not in ("untriaged", *DECISIONS):
            raise BadInput(f"--status must be untriaged, {', '.join(DECISIONS)}")
        since = week_bounds(time.time() if now is None else now)[0] if week else None
        return self.store.papers.list_papers(status, since)

    def queue(self) -> builtins.list[Paper]:
        """Untriaged papers, oldest first."""
        return self.store.papers.list_papers("untriaged")

    def counts(self) -> dict[str, int]:
        return self.store.papers.count_papers()

    def predictions(self, paper: Paper) -> builtins.list[Prediction]:
        return self.store.research.paper_predictions(paper.id)

    # -- adding --------------------------------------------------------------------
    def import_file(self, path: Path, fmt: str | None = None, strict: bool = False) -> ImportReport:
        """Add every new entry of a bibliography file and merge duplicates, in one transaction."""
        fmt = detect(path, fmt)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise BadInput(
                f"{path.name} is not UTF-8 text (at byte offset {err.start}); export it again as UTF-8"
            ) from None
        except OSError as err:
            raise BadInput(f"cannot read {path}: {err.strerror}") from None
        try:
            parsed = parse(text, fmt)
        except BadInput as err:  # name the file: "refs.bib is not BibTeX: line 1 ..."
            raise BadInput(str(err).replace("this file", path.name, 1)) from None
        if strict and parsed.skipped:
            where, why = parsed.skipped[0]
            raise BadInput(f"{path.name}, {where}: {why} (without --strict such entries are skipped)")
        return self._save(parsed.entries, fmt, ImportReport(fmt, skipped=list(parsed.skipped)))

    def _save(self, entries: builtins.list[Entry], source: str, report: ImportReport) -> ImportReport:
        index = _Index(self.store.papers.paper_keys())
        new: list[dict[str, Any]] = []
        fills: dict[int, dict[str, Any]] = {}
        merged_new: list[tuple[str, int, str]] = []
        now = time.time()
        for e in entries:
            title = norm_title(e.title)
            if not title:
                report.skipped.append((e.where, "the title has no letters or digits"))
                continue
            hit = index.find(e.doi, e.arxiv, title)
            values = _values(e)
            if hit is None:
                slot = ("new", len(new))
                new.append(
                    dict(
                        values,
                        uid=uuid.uuid4().hex,
                        title=e.title,
                        norm_title=title,
                        source=source,
                        added_at=now,
                    )
                )
                index.add(slot, e.doi, e.arxiv, title)
                continue
            target, why = hit
            if isinstance(target, tuple):  # a duplicate inside this file: fill the pending one
                pending = new[target[1]]
                for name in FILLABLE:
                    if not pending.get(name) and values.get(name):
                        pending[name] = values[name]
                merged_new.append((e.where, target[1], why))
            else:
                slot_fill = fills.setdefault(target, {})
                for name in FILLABLE:
                    if values.get(name) and name not in slot_fill:
                        slot_fill[name] = values[name]
                report.merged.append((e.where, f"R{target}", why))
            index.add(target, e.doi, e.arxiv, title)
        self._drop_clashing_ids(fills, index)
        ids = self.store.papers.save_papers(new, {k: v for k, v in fills.items() if v})
        report.added = [(f"R{i}", p["title"]) for i, p in zip(ids, new, strict=True)]
        report.merged += [(where, f"R{ids[i]}", why) for where, i, why in merged_new]
        return report

    @staticmethod
    def _drop_clashing_ids(fills: dict[int, dict[str, Any]], index: _Index) -> None:
        """Never give a paper a DOI or arXiv id that another paper already has."""
        for paper_id, values in fills.items():
            for name, table in (("doi", index.doi), ("arxiv", index.arxiv)):
                owner = table.get(values.get(name) or "")
                if values.get(name) and owner is not None and owner != paper_id:
                    del values[name]

    def add(
        self,
        title: str,
        *,
        arxiv: str | None = None,
        doi: str | None = None,
        authors: tuple[str, ...] = (),
        year: int | None = None,
        venue: str | None = None,
        url: str | None = None,
    ) -> Paper:
        title = " ".join((title or "").split())
        if not norm_title(title):
            raise BadInput("a paper needs a title: --title 'Attention Is All You Need'")
        arxiv_norm = arxiv_id(arxiv) if arxiv else None
        if arxiv and arxiv_norm is None:
            raise BadInput(f"--arxiv {arxiv!r} is not an arXiv id; write it like 2106.09685 or 2106.09685v2")
        doi_norm = norm_doi(doi) if doi else None
        if doi and doi_norm is None:
            raise BadInput(f"--doi {doi!r} is not a DOI; write it like 10.1145/3442188.3445922")
        hit = _Index(self.store.papers.paper_keys()).find(doi_norm, arxiv_norm, norm_title(title))
        if hit is not None:
            raise BadInput(
                f"this paper is already in the notebook as R{hit[0]} ({hit[1]}); `lab papers show R{hit[0]}`"
            )
        entry = Entry(title, list(authors), year, venue, doi_norm, arxiv_norm, url, None, None, None, "typed")
        report = self._save([entry], "manual", ImportReport("manual"))
        return self.get(report.added[0][0])

    def export(self, path: Path, status: str | None = None) -> int:
        papers = self.list(status)
        entries = [
            Entry(
                p.title,
                list(p.authors),
                p.year,
                p.venue,
                p.doi,
                p.arxiv,
                p.url,
                p.abstract,
                p.citekey,
                p.entry_type,
            )
            for p in papers
        ]
        try:
            path.write_text(to_bibtex(entries), encoding="utf-8")
        except OSError as err:
            raise BadInput(f"cannot write {path}: {err.strerror}") from None
        return len(papers)

    # -- triage ----------------------------------------------------------------------
    def triage(
        self, ref: str | int, decision: str, kind: str | None = None, changes: str | None = None
    ) -> Paper:
        paper = self.get(ref)
        if decision not in DECISIONS:
            raise BadInput(f"--decision must be one of {', '.join(DECISIONS)}")
        if kind is not None and kind not in OUTPUT_KINDS:
            raise BadInput(f"--kind must be one of {', '.join(OUTPUT_KINDS)}")
        if changes is not None and changes not in CHANGES:
            raise BadInput(f"--changes must be one of {', '.join(CHANGES)}")
        if decision != "drop" and (kind is None or changes is None):
            raise BadInput(
                f"say what kind of output {paper.ref} is (--kind) and whether it changes your work this quarter "
                "(--changes yes/sometimes/no); only a drop may leave them out"
            )
        self.store.papers.triage_paper(paper.id, decision, kind, changes, time.time())
        return self.get(paper.id)

    def target(self) -> tuple[int, int]:
        saved = self.store.papers.paper_setting("weekly_target")
        return parse_target(saved) if saved else DEFAULT_TARGET

    def set_target(self, text: str) -> tuple[int, int]:
        low, high = parse_target(text)
        self.store.papers.set_paper_setting("weekly_target", f"{low}-{high}")
        return low, high

    def week(self, now: float | None = None) -> Week:
        start, end = week_bounds(time.time() if now is None else now)
        low, high = self.target()
        return Week(
            start,
            end,
            self.store.papers.count_triaged(start, end),
            low,
            high,
            self.counts().get("untriaged", 0),
        )

    # -- guesses -----------------------------------------------------------------------
    def guess(
        self,
        ref: str | int,
        metric: str,
        value: float,
        low: float | None = None,
        high: float | None = None,
        level: float = 0.8,
    ) -> Prediction:
        """Write down the number you expect the paper to report, before reading its results."""
        paper = self.get(ref)
        metric = _metric(metric)
        if not math.isfinite(value):
            raise BadInput("--value must be a finite number")
        interval = low is not None or high is not None
        if interval:
            if low is None or high is None:
                raise BadInput("an interval needs both --low and --high")
            if not (math.isfinite(low) and math.isfinite(high)) or not low <= value <= high:
                raise BadInput(f"--value {value:g} must lie within [--low, --high] = [{low:g}, {high:g}]")
            if not 0 < level < 1:
                raise BadInput("--level must be between 0 and 1, e.g. 0.8 for an 80% interval")
        mine = [p for p in self.predictions(paper) if p.metric == metric]
        open_ = [p for p in mine if p.resolution is None and p.superseded_by is None]
        if open_:
            raise BadInput(
                f"{paper.ref} already has an open guess on {metric!r} ({open_[0].ref}); "
                f"record what it reported with lab papers actual {paper.ref} --metric {metric!r} --value Y"
            )
        late = any(p.resolution is not None for p in mine)
        pred_id = self.store.research.create_prediction(
            NewPrediction(
                uid=uuid.uuid4().hex,
                hyp_id=None,
                text=f"{metric} reported by {paper.ref} ({_short(paper.title)})",
                kind=NUMERIC if interval else POINT,
                low=low,
                high=high,
                level=level if interval else None,
                point=value,
                metric=metric,
                author=author(),
                created_at=time.time(),
                source=SOURCE,
                late=late,
                paper_id=paper.id,
            )
        )
        return self.nb.hypotheses.prediction(pred_id)

    def actual(self, ref: str | int, metric: str, value: float) -> Prediction:
        """Record what the paper reported; scores the open guess on that metric."""
        paper = self.get(ref)
        metric = _metric(metric)
        if not math.isfinite(value):
            raise BadInput("--value must be a finite number")
        mine = [p for p in self.predictions(paper) if p.metric == metric and p.kind in (NUMERIC, POINT)]
        open_ = [p for p in mine if p.resolution is None and p.superseded_by is None]
        if not open_:
            known = sorted({p.metric for p in self.predictions(paper) if p.metric})
            hint = f" (guessed metrics: {', '.join(known)})" if known else ""
            raise BadInput(
                f"{paper.ref} has no open guess on {metric!r}{hint}; "
                f"guess first: lab papers guess {paper.ref} --metric {metric!r} --value X"
            )
        return self.nb.hypotheses.resolve_prediction(open_[-1].id, None, value)

    def matters(self, ref: str | int, p: float, by: str, text: str | None = None) -> Prediction:
        """A long-horizon prediction that ``lab due`` brings back on ``by``."""
        paper = self.get(ref)
        check_p(p)
        due = parse_date(by, "--by")
        if due <= time.time():
            raise BadInput(f"--by {by} is not in the future; give the date to look back from")
        words = (text or "").strip() or f"{paper.ref} ({_short(paper.title)}) will matter to my work by {by}"
        pred_id = self.store.research.create_prediction(
            NewPrediction(
                uid=uuid.uuid4().hex,
                hyp_id=None,
                text=words,
                kind=BINARY,
                p=p,
                author=author(),
                created_at=time.time(),
                due_at=due,
                source=SOURCE,
                late=False,
                paper_id=paper.id,
            )
        )
        return self.nb.hypotheses.prediction(pred_id)


def _metric(text: str) -> str:
    metric = " ".join((text or "").split())
    if not metric:
        raise BadInput("--metric needs a name, e.g. 'MMLU accuracy'")
    return metric


def _short(title: str, width: int = 50) -> str:
    return title if len(title) <= width else title[: width - 1].rstrip() + "…"


def _values(e: Entry) -> dict[str, Any]:
    return {
        "authors": list(e.authors),
        "year": e.year,
        "venue": e.venue,
        "doi": e.doi,
        "arxiv": e.arxiv,
        "url": e.url,
        "abstract": e.abstract,
        "citekey": e.key,
        "entry_type": e.entry_type,
    }
