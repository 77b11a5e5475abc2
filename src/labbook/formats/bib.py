"""Parsers of bibliography files: BibTeX, CSL-JSON, RIS and saved arXiv Atom feeds.

Pure functions from text to ``Parsed``: the usable entries, and the entries skipped with
where they were and why. They never touch the notebook. A file that is not the format it
claims raises ``BadInput`` naming the line that gave it away; a single bad entry inside an
otherwise good file is skipped and reported, so one typo does not cost a whole import.

BibTeX goes through bibtexparser 2 (month macros, ``@string``s, LaTeX accents and
co-author splitting are its middlewares). RIS is read here: it is one ``TAG  - value``
per line, and the import report needs each entry's line, which rispy does not keep.
Atom is read with the standard library: ``xml.etree`` resolves no external entities and
expat ≥ 2.4.1 caps entity expansion, so a hostile file cannot reach the disk or the network.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.errors import BadInput

FORMATS = ("bibtex", "csl-json", "ris", "arxiv")
_SUFFIXES = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".json": "csl-json",
    ".ris": "ris",
    ".xml": "arxiv",
    ".atom": "arxiv",
}
_ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(v\d+)?(?![\d])")
_ARXIV_OLD = re.compile(r"\b([a-z][a-z.-]+/\d{7})(v\d+)?\b", re.I)
_DOI = re.compile(r"\b(10\.\d{4,9}/\S+[^\s.,;)\]}])")


@dataclass
class Entry:
    """One bibliography entry, normalised; ``where`` says where it came from for reports."""

    title: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    venue: str | None = None
    doi: str | None = None
    arxiv: str | None = None
    url: str | None = None
    abstract: str | None = None
    key: str | None = None
    entry_type: str | None = None
    where: str = ""


@dataclass
class Parsed:
    entries: list[Entry]
    skipped: list[tuple[str, str]]  # (where, why)


def detect(path: Path, explicit: str | None = None) -> str:
    """The format named by ``--format`` or, failing that, by the file's extension."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise BadInput(f"--format must be one of {', '.join(FORMATS)}")
        return explicit
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise BadInput(
            f"cannot tell the format of {path.name} from its extension; add --format ({', '.join(FORMATS)})"
        )
    return fmt


def parse(text: str, fmt: str) -> Parsed:
    parser = {"bibtex": parse_bibtex, "csl-json": parse_csl_json, "ris": parse_ris, "arxiv": parse_arxiv}
    return parser[fmt](text)


# -- normalisation ---------------------------------------------------------------


def norm_title(title: str) -> str:
    """A title reduced to what two exports of one paper share: letters and digits, lower case."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[^\W_]+", text))


def norm_doi(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    text = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", text, flags=re.I)
    m = _DOI.search(text)
    return m.group(1).lower() if m else None


def arxiv_id(*texts: str | None) -> str | None:
    """The first arXiv identifier in ``texts``, without its version (``2106.09685``)."""
    for text in texts:
        if not text:
            continue
        m = _ARXIV_NEW.search(text)
        if m:
            return m.group(1)
        m = _ARXIV_OLD.search(text)
        if m and ("arxiv" in text.lower() or text.strip() == m.group(0)):
            return m.group(1).lower()
    return None


def _year(value: object) -> int | None:
    m = re.search(r"\b(1[5-9]\d\d|2\d\d\d)\b", str(value or ""))
    return int(m.group(1)) if m else None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _entry(
    title: object, where: str, authors: list[str], skipped: list[tuple[str, str]], **fields: object
) -> Entry | None:
    clean = _clean(title)
    if not clean:
        skipped.append((where, "no title"))
        return None
    doi = norm_doi(str(fields.pop("doi") or ""))
    arxiv = fields.pop("arxiv", None) or arxiv_id(
        str(fields.get("url") or ""), doi and doi.replace("10.48550/arxiv.", "")
    )
    return Entry(
        title=clean,
        authors=[a for a in (_clean(a) for a in authors) if a],
        year=_year(fields.pop("year", None)),
        venue=_clean(fields.pop("venue", None)),
        doi=doi,
        arxiv=str(arxiv) if arxiv else None,
        url=_clean(fields.pop("url", None)),
        abstract=_clean(fields.pop("abstract", None)),
        key=_clean(fields.pop("key", None)),
        entry_type=_clean(fields.pop("entry_type", None)),
        where=where,
    )


def _not_format(what: str, text: str) -> BadInput:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            shown = line.strip()[:40]
            return BadInput(f"this file is not {what}: line {number} starts with {shown!r}; check --format")
    return BadInput(f"this file is not {what}: it is empty")


# -- BibTeX ------------------------------------------------------------------------


def _parse_library(text: str) -> Any:
    import bibtexparser
    from bibtexparser import middlewares as mw

    return bibtexparser.parse_string(
        text, append_middleware=[_latex_decoder(), mw.MonthIntMiddleware(True), mw.SeparateCoAuthors()]
    )


def parse_bibtex(text: str) -> Parsed:
    import logging

    from bibtexparser.model import DuplicateBlockKeyBlock, ParsingFailedBlock
    from bibtexparser.model import Entry as BibEntry

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # failures are reported, not logged
    library = _parse_library(text)
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    blocks = library.blocks
    if not any(isinstance(b, BibEntry | ParsingFailedBlock | DuplicateBlockKeyBlock) for b in blocks):
        raise _not_format("BibTeX (no @type{key, ...} entry found)", text)
    strings = "\n".join(s.raw for s in library.strings if s.raw)
    for block in blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            # A reused key is common in merged files and may be another paper: parse it on its
            # own (with the file's @strings) and let the duplicate rules decide.
            again = _parse_library(strings + "\n" + (block.raw or "")).entries
            if again:
                _add_bib_entry(again[0], f"line {line} ({block.key}, a reused key)", entries, skipped)
            else:
                skipped.append(
                    (f"line {line} ({block.key})", "not valid BibTeX (unbalanced braces or quotes?)")
                )
        elif isinstance(block, ParsingFailedBlock):
            head = (block.raw or "").strip().splitlines()[0][:40] if block.raw else ""
            skipped.append((f"line {line} {head!r}", "not valid BibTeX (unbalanced braces or quotes?)"))
        elif isinstance(block, BibEntry):
            _add_bib_entry(block, f"line {line} ({block.key})", entries, skipped)
    return Parsed(entries, skipped)


def _add_bib_entry(block: Any, where: str, entries: list[Entry], skipped: list[tuple[str, str]]) -> None:
    fields = {k.lower(): v.value for k, v in block.fields_dict.items()}

    def get(name: str) -> Any:
        return fields.get(name)

    authors = get("author") or []
    if isinstance(authors, str):
        authors = [authors]
    arxiv = None
    if str(get("archiveprefix") or "").lower() == "arxiv" or get("eprint"):
        arxiv = arxiv_id(str(get("eprint") or ""))
    arxiv = arxiv or arxiv_id(str(get("journal") or ""), str(get("note") or ""))
    entry = _entry(
        get("title"),
        where,
        list(authors),
        skipped,
        year=get("year") or get("date"),
        venue=get("journal") or get("booktitle") or get("publisher") or get("howpublished"),
        doi=get("doi"),
        arxiv=arxiv,
        url=get("url"),
        abstract=get("abstract"),
        key=block.key,
        entry_type=block.entry_type.lower(),
    )
    if entry is not None:
        entries.append(entry)


#: What makes a value need LaTeX decoding: a command, group, math, tie, comment, dash or quote ligature.
_LATEX_HINT = re.compile(r"[\\{}$~%&]|--|``|''")


def _latex_decoder() -> Any:
    """bibtexparser's LaTeX decoding, skipped for values with nothing to decode.

    pylatexenc costs ~5 ms per entry with an abstract, which made a 5,000-entry file
    take half a minute; most values are plain text and come out of it unchanged.
    """
    from bibtexparser.middlewares import LatexDecodingMiddleware

    class _Decoder(LatexDecodingMiddleware):
        def _transform_python_value_string(self, python_string: str) -> tuple[str, str]:
            if not _LATEX_HINT.search(python_string):
                return python_string, ""
            return super()._transform_python_value_string(python_string)

    return _Decoder()


def to_bibtex(entries: list[Entry]) -> str:
    """A ``.bib`` text of ``entries``; keys are kept or made from author, year and title."""
    import bibtexparser
    from bibtexparser.model import Entry as BibEntry
    from bibtexparser.model import Field

    library = bibtexparser.Library()
    used: set[str] = set()
    for e in entries:
        key = e.key if e.key and re.fullmatch(r"[\w.:+-]+", e.key) else _make_key(e)
        base, n = key, 1
        while key in used:
            n += 1
            key = f"{base}{chr(ord('a') + n - 2)}" if n <= 27 else f"{base}-{n}"
        used.add(key)
        fields = [Field("title", _brace_safe(e.title))]
        if e.authors:
            fields.append(Field("author", _brace_safe(" and ".join(e.authors))))
        if e.year:
            fields.append(Field("year", str(e.year)))
        if e.venue:
            name = "booktitle" if e.entry_type == "inproceedings" else "journal"
            fields.append(Field(name, _brace_safe(e.venue)))
        if e.doi:
            fields.append(Field("doi", _brace_safe(e.doi)))
        if e.arxiv:
            fields += [Field("eprint", e.arxiv), Field("archiveprefix", "arXiv")]
        if e.url:
            fields.append(Field("url", _brace_safe(e.url)))
        library.add(BibEntry(e.entry_type or ("misc" if e.arxiv and not e.venue else "article"), key, fields))
    return bibtexparser.write_string(library)


def _brace_safe(text: str) -> str:
    """Drop braces that do not balance: an unbalanced value would break the whole file."""
    depth, out = 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    text = "".join(out)
    while depth:  # unmatched opening braces: remove from the right
        i = text.rindex("{")
        text = text[:i] + text[i + 1 :]
        depth -= 1
    return text


def _make_key(e: Entry) -> str:
    first = e.authors[0] if e.authors else "anon"
    surname = first.split(",")[0] if "," in first else first.split()[-1]
    word = next((w for w in norm_title(e.title).split() if len(w) > 3), "paper")
    raw = f"{surname}{e.year or ''}{word}"
    ascii_ = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", ascii_).lower() or "paper"


# -- CSL-JSON ------------------------------------------------------------------------


def parse_csl_json(text: str) -> Parsed:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"this file is not CSL-JSON: invalid JSON at line {err.lineno} ({err.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise BadInput("this file is not CSL-JSON: expected a list of items (Zotero: Export → CSL JSON)")
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    for i, item in enumerate(data, 1):
        where = f"item {i}"
        if not isinstance(item, dict):
            skipped.append((where, "not a JSON object"))
            continue
        if item.get("id"):
            where += f" ({item['id']})"
        authors = []
        for a in item.get("author") or []:
            if isinstance(a, dict):
                name = a.get("literal") or ", ".join(x for x in (a.get("family"), a.get("given")) if x)
                authors.append(str(name))
        issued = item.get("issued") or {}
        year = None
        if isinstance(issued, dict):
            parts = issued.get("date-parts") or [[None]]
            year = (parts[0] or [None])[0] if isinstance(parts, list) and parts else None
            year = year or issued.get("raw") or issued.get("literal")
        arxiv = arxiv_id(
            *(
                str(item.get(k) or "")
                for k in ("number", "archive_location", "URL", "note", "container-title")
            )
        )
        entry = _entry(
            item.get("title"),
            where,
            authors,
            skipped,
            year=year,
            venue=item.get("container-title") or item.get("publisher") or item.get("event-title"),
            doi=item.get("DOI"),
            arxiv=arxiv,
            url=item.get("URL"),
            abstract=item.get("abstract"),
            key=item.get("citation-key") or _plain_key(item.get("id")),
            entry_type=_CSL_TYPES.get(str(item.get("type") or ""), "misc"),
        )
        if entry is not None:
            entries.append(entry)
    return Parsed(entries, skipped)


def _plain_key(value: object) -> str | None:
    """A CSL id usable as a citation key; Zotero's item URIs are not."""
    text = str(value or "")
    return text if re.fullmatch(r"[\w.:+-]+", text) and "//" not in text else None


_CSL_TYPES = {
    "article-journal": "article",
    "paper-conference": "inproceedings",
    "book": "book",
    "chapter": "incollection",
    "thesis": "phdthesis",
    "report": "techreport",
}

# -- RIS ------------------------------------------------------------------------------

_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_RIS_TYPES = {"JOUR": "article", "CONF": "inproceedings", "CPAPER": "inproceedings", "BOOK": "book"}


def parse_ris(text: str) -> Parsed:
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    record: dict[str, list[str]] | None = None
    start = 0
    last_tag = ""
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        line = raw.rstrip()
        if not line:
            continue
        m = _RIS_LINE.match(line)
        if record is None:
            if not m or m.group(1) != "TY":
                if not entries and not skipped:
                    raise _not_format("RIS (it must start with a 'TY  - ' line)", text)
                skipped.append((f"line {number}", f"text outside any record: {line[:40]!r}"))
                continue
            record, start, last_tag = {"TY": [m.group(2) or ""]}, number, "TY"
            continue
        if m is None:  # a continuation of the previous tag's value
            record.setdefault(last_tag, [""])[-1] += " " + line.strip()
            continue
        tag, value = m.group(1), (m.group(2) or "").strip()
        if tag == "TY":
            skipped.append((f"line {start}", f"record not closed by 'ER  -' before line {number}"))
            record, start, last_tag = {"TY": [value]}, number, "TY"
            continue
        if tag == "ER":
            entry = _ris_entry(record, f"line {start}", skipped)
            if entry is not None:
                entries.append(entry)
            record = None
            continue
        record.setdefault(tag, []).append(value)
        last_tag = tag
    if record is not None:
        skipped.append((f"line {start}", "record not closed by 'ER  -' at the end of the file"))
    return Parsed(entries, skipped)


def _ris_entry(r: dict[str, list[str]], where: str, skipped: list[tuple[str, str]]) -> Entry | None:
    def first(*tags: str) -> str | None:
        for t in tags:
            if r.get(t) and r[t][0]:
                return r[t][0]
        return None

    if first("ID"):
        where += f" ({first('ID')})"
    authors = [a for t in ("AU", "A1") for a in r.get(t, [])]
    urls = r.get("UR", [])
    return _entry(
        first("TI", "T1", "CT"),
        where,
        authors,
        skipped,
        year=first("PY", "Y1", "DA"),
        venue=first("T2", "JO", "JF", "JA", "BT", "PB"),
        doi=first("DO"),
        arxiv=arxiv_id(*urls, first("M1"), first("N1"), first("AN")),
        url=urls[0] if urls else None,
        abstract=first("AB", "N2"),
        key=first("ID"),
        entry_type=_RIS_TYPES.get(first("TY") or "", "misc"),
    )


# -- arXiv Atom ---------------------------------------------------------------------

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"


def parse_arxiv(text: str) -> Parsed:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as err:
        line = err.position[0] if err.position else "?"
        raise BadInput(f"this file is not arXiv Atom XML: malformed XML at line {line} ({err})") from None
    if root.tag != f"{_ATOM}feed":
        raise BadInput(
            f"this file is not an arXiv Atom feed: its root element is <{root.tag.split('}')[-1]}>, not <feed>"
        )
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    for i, node in enumerate(root.findall(f"{_ATOM}entry"), 1):
        ident = node.findtext(f"{_ATOM}id") or ""
        where = f"entry {i}" + (f" ({ident.rsplit('/', 1)[-1]})" if ident else "")
        abs_url = next(
            (
                link.get("href")
                for link in node.findall(f"{_ATOM}link")
                if link.get("rel") == "alternate" and link.get("href")
            ),
            ident or None,
        )
        entry = _entry(
            node.findtext(f"{_ATOM}title"),
            where,
            [a.findtext(f"{_ATOM}name") or "" for a in node.findall(f"{_ATOM}author")],
            skipped,
            year=node.findtext(f"{_ATOM}published"),
            venue=node.findtext(f"{_ARXIV}journal_ref"),
            doi=node.findtext(f"{_ARXIV}doi"),
            arxiv=arxiv_id(ident),
            url=abs_url,
            abstract=node.findtext(f"{_ATOM}summary"),
            entry_type="misc",
        )
        if entry is not None:
            if entry.arxiv is None:
                skipped.append((where, "no arXiv id in its <id>"))
                continue
            entries.append(entry)
    return Parsed(entries, skipped)
