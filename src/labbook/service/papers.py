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
from collections.abc import Sequence
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
from labbook.store.sql.papers import FILLABLE

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

DEFAULT_TARGET = (5, 15)
SOURCE = "paper"


@dataclass
class ImportReport:
    """What an import did with one file: every entry is added, merged into a paper, or skipped with a reason."""

    format: str
    added: list[tuple[str, str]] = field(default_factory=list)  # (ref, title)
    merged: list[tuple[str, str, str]] = field(default_factory=list)  # (where, ref, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    file: str = ""
    macros: int = 0  # BibTeX @string macros the file defined, for the files after it


@dataclass
class ImportSummary:
    """What one ``lab papers import`` did, file by file, written in one transaction."""

    files: list[ImportReport]

    def total(self, what: str) -> int:
        """How many entries of all the files were ``added``, ``merged`` or ``skipped``."""
        return sum(len(getattr(r, what)) for r in self.files)


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


class _Plan:
    """What an import will write, decided entry by entry: new papers, gaps to fill, citation keys."""

    def __init__(self, index: _Index, now: float) -> None:
        self.index, self.now = index, now
        self.new: list[dict[str, Any]] = []
        self.owners: list[ImportReport] = []  # the file each new paper came from
        self.fills: dict[int, dict[str, Any]] = {}
        self.keys: dict[int, list[str]] = {}  # more citation keys of papers already here
        self.merged_new: list[tuple[ImportReport, str, int, str]] = []

    def take(self, e: Entry, report: ImportReport) -> None:
        title = norm_title(e.title)
        if not title:
            report.skipped.append((e.where, "the title has no letters or digits"))
            return
        hit = self.index.find(e.doi, e.arxiv, title)
        if hit is None:
            self.index.add(("new", len(self.new)), e.doi, e.arxiv, title)
            self.new.append(self._row(e, title, report.format))
            self.owners.append(report)
            return
        target, why = hit
        if isinstance(target, tuple):  # a duplicate of an entry earlier in this import
            self._fill_pending(self.new[target[1]], e)
            self.merged_new.append((report, e.where, target[1], why))
        else:
            fill = self.fills.setdefault(target, {})
            values = _values(e)
            for name in FILLABLE:
                if values.get(name) and name not in fill:
                    fill[name] = values[name]
            _add_key(self.keys.setdefault(target, []), e.key)
            report.merged.append((e.where, f"R{target}", why))
        self.index.add(target, e.doi, e.arxiv, title)

    def _row(self, e: Entry, title: str, source: str) -> dict[str, Any]:
        return dict(
            _values(e),
            uid=uuid.uuid4().hex,
            title=e.title,
            norm_title=title,
            source=source,
            added_at=self.now,
            citekeys=[e.key] if e.key else [],
        )

    @staticmethod
    def _fill_pending(pending: dict[str, Any], e: Entry) -> None:
        values = _values(e)
        for name in FILLABLE:
            if not pending.get(name) and values.get(name):
                pending[name] = values[name]
        _add_key(pending["citekeys"], e.key)

    def record(self, ids: list[int]) -> None:
        """Tell each file's report the ids its new papers were given."""
        for paper_id, row, report in zip(ids, self.new, self.owners, strict=True):
            report.added.append((f"R{paper_id}", row["title"]))
        for report, where, i, why in self.merged_new:
            report.merged.append((where, f"R{ids[i]}", why))


def _add_key(keys: list[str], key: str | None) -> None:
    if key and key not in keys:
        keys.append(key)


def _read_all(paths: Sequence[Path], fmt: str | None, strict: bool) -> list[tuple[list[Entry], ImportReport]]:
    """Each file parsed in order, the @string macros of one handed to the next."""
    batches = []
    macros: dict[str, str] = {}
    for path in paths:
        kind = detect(path, fmt)
        try:
            parsed = parse(_read_text(path), kind, macros)
        except BadInput as err:  # name the file: "refs.bib is not BibTeX: line 1 ..."
            raise BadInput(str(err).replace("this file", path.name, 1)) from None
        if strict and parsed.skipped:
            where, why = parsed.skipped[0]
            raise BadInput(f"{path.name}, {where}: {why} (without --strict such entries are skipped)")
        macros = parsed.macros
        report = ImportReport(kind, skipped=list(parsed.skipped), file=path.name, macros=parsed.strings)
        batches.append((parsed.entries, report))
    return batches


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInput(
            f"{path.name} is not UTF-8 text (at byte offset {err.start}); export it again as UTF-8"
        ) from None
    except FileNotFoundError:
        raise BadInput(f"cannot read {path}: there is no such file") from None
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror}") from None


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
        return self.import_files([path], fmt, strict).files[0]

    def import_files(
        self, paths: Sequence[Path], fmt: str | None = None, strict: bool = False
    ) -> ImportSummary:
        """Import several files as one: BibTeX macros carry to the files after, all or nothing is written.

        Every file is read and parsed before anything is written, so a missing or broken
        one leaves the notebook as it was; duplicates are found across the files too.
        """
        if not paths:
            raise BadInput("give at least one file to import: lab papers import refs.bib")
        try:
            batches = _read_all(paths, fmt, strict)
        except BadInput as err:
            if len(paths) == 1:
                raise
            raise BadInput(f"{err}; nothing was imported from the {len(paths)} files") from None
        self._save(batches)
        return ImportSummary([report for _, report in batches])

    def _save(self, batches: builtins.list[tuple[builtins.list[Entry], ImportReport]]) -> None:
        """Decide for every entry whether it is new or fills a paper, then write it all at once."""
        plan = _Plan(_Index(self.store.papers.paper_keys()), time.time())
        for entries, report in batches:
            for e in entries:
                plan.take(e, report)
        self._drop_clashing_ids(plan.fills, plan.index)
        ids = self.store.papers.save_papers(plan.new, {k: v for k, v in plan.fills.items() if v}, plan.keys)
        plan.record(ids)

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
        report = ImportReport("manual")
        self._save([([entry], report)])
        return self.get(report.added[0][0])

    def citekeys(self, paper: Paper) -> builtins.list[str]:
        """Every citation key the paper was imported under, its own first."""
        return self.store.papers.paper_citekeys(paper.id)

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
