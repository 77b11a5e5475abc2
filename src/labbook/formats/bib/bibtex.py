"""BibTeX in and out, through bibtexparser 2.

Month macros, ``@string``s, LaTeX accents and co-author splitting are its middlewares.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from labbook.formats.bib.entry import Entry, Parsed, arxiv_id, make_entry, norm_title, not_format


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
        raise not_format("BibTeX (no @type{key, ...} entry found)", text)
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
    entry = make_entry(
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
