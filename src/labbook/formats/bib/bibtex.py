"""BibTeX in and out, through bibtexparser 2.

bibtexparser splits the text into blocks; ``@string`` macros, ``#`` concatenation and
BibTeX's predefined month names are resolved here, so that a macro nobody defined is
reported instead of being stored as its own name. LaTeX accents and co-author splitting
are bibtexparser's middlewares, run on each entry once its values are known.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from labbook.formats.bib.entry import Entry, Parsed, arxiv_id, make_entry, norm_title, not_format

#: The macros BibTeX predefines (plain.bst's month names); a file may redefine them.
MONTHS = {
    m[:3].lower(): m
    for m in (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )
}
#: The fields an entry is read from: a macro only has to resolve where its value is used.
READ = (
    "title",
    "author",
    "year",
    "date",
    "journal",
    "booktitle",
    "publisher",
    "howpublished",
    "doi",
    "archiveprefix",
    "eprint",
    "note",
    "url",
    "abstract",
)
_NAME = re.compile(r"[^\d\s\"#%'(),={}][^\s\"#%'(),={}]*")
_WORD = re.compile(r"[^\s#{}\"]+")
_MARK = re.compile(r"\\.|[{}\"]", re.S)  # what can open or close a part; a backslash escapes


class Unresolved(Exception):
    """A value that cannot be worked out: an undefined or circular macro, or malformed text."""


def parse_bibtex(text: str, macros: Mapping[str, str] | None = None) -> Parsed:
    """The entries of ``text``; ``macros`` are the ``@string``s of the files read before it.

    Within one file a macro may be used before its ``@string`` (bibtexparser always
    allowed it); across files only earlier files count, as in ``\\bibliography{strings,refs}``.
    """
    import logging

    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, ParsingFailedBlock, String
    from bibtexparser.model import Entry as BibEntry

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # failures are reported, not logged
    blocks = bibtexparser.parse_string(text, parse_stack=[]).blocks  # values exactly as written
    found: list[Any] = [b.ignore_error_block if isinstance(b, DuplicateBlockKeyBlock) else b for b in blocks]
    if not any(isinstance(b, BibEntry | ParsingFailedBlock | String) for b in found):
        raise not_format("BibTeX (no @type{key, ...} entry found)", text)
    table = Macros(macros or {}, {b.key.lower(): b.value for b in found if isinstance(b, String)})
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    reader = _Reader(table, entries, skipped)
    for block, original in zip(found, blocks, strict=True):
        line = (block.start_line or 0) + 1
        if isinstance(block, String):
            reader.check_string(block.key, block.value, line)
        elif isinstance(block, BibEntry):
            # A reused key is common in merged files and may be another paper: the duplicate
            # rules decide.
            reused = ", a reused key" if isinstance(original, DuplicateBlockKeyBlock) else ""
            reader.add(block, f"line {line} ({block.key}{reused})")
        elif isinstance(block, ParsingFailedBlock):
            head = (block.raw or "").strip().splitlines()[0][:40] if block.raw else ""
            skipped.append((f"line {line} {head!r}", "not valid BibTeX (unbalanced braces or quotes?)"))
    own = table.own()
    return Parsed(entries, skipped, macros={**table.inherited, **own}, strings=len(own))


class Macros:
    """The macros a file's values may use: BibTeX's months, earlier files' ``@string``s, then its own."""

    def __init__(self, inherited: Mapping[str, str], raw: dict[str, str]) -> None:
        self.inherited = dict(inherited)
        self.raw = raw  # this file's definitions, as written; the last of a name wins
        self._known = {**MONTHS, **self.inherited}
        self._done: dict[str, str] = {}
        self._busy: set[str] = set()

    def value(self, text: str, field: str) -> str:
        """A value as BibTeX reads it: braced or quoted text, numbers and macros joined by ``#``."""
        return "".join(self._part(quoted, word, field) for quoted, word in tokens(text, field))

    def _part(self, quoted: bool, word: str, field: str) -> str:
        if quoted or word.isdigit():
            return word
        if not _NAME.fullmatch(word):
            raise Unresolved(f'{field} = {word}: not a BibTeX value (put text in {{braces}} or "quotes")')
        return self.lookup(word.lower(), field)

    def lookup(self, name: str, field: str) -> str:
        if name in self._done:
            return self._done[name]
        if name not in self.raw:
            if name in self._known:
                return self._known[name]
            raise Unresolved(
                f"undefined macro {name} in {field}: no @string{{{name} = ...}} in this file"
                " or in one imported before it"
            )
        if name in self._busy:
            raise Unresolved(f"the @string {name} is defined in terms of itself")
        self._busy.add(name)
        try:
            self._done[name] = self.value(self.raw[name], f"@string {name}")
        finally:
            self._busy.discard(name)
        return self._done[name]

    def own(self) -> dict[str, str]:
        """This file's macros that resolve: with the inherited ones, what the files after it may use."""
        out = {}
        for name in self.raw:
            try:
                out[name] = self.lookup(name, f"@string {name}")
            except Unresolved:
                continue  # reported at its own line
        return out


def tokens(text: str, field: str) -> list[tuple[bool, str]]:
    """The parts of a value joined by ``#``: (True, text) for ``{text}`` or ``"text"``, else (False, word)."""
    parts: list[tuple[bool, str]] = []
    rest = text.strip()
    while rest:
        if rest[0] in '{"':
            end = _closing(rest)
            if end < 0:
                raise Unresolved(f"{field}: unbalanced braces or quotes")
            parts.append((True, rest[1:end]))
            rest = rest[end + 1 :].lstrip()
        else:
            m = _WORD.match(rest)
            if m is None:
                raise Unresolved(f"{field} = {text.strip()}: not a BibTeX value")
            parts.append((False, m.group()))
            rest = rest[m.end() :].lstrip()
        if rest and (rest[0] != "#" or not rest[1:].strip()):
            raise Unresolved(
                f"{field} = {text.strip()}: not a BibTeX value (join parts with #, put text in {{braces}})"
            )
        rest = rest[1:].lstrip()
    return parts


def _closing(text: str) -> int:
    """Where the brace or quote opening ``text`` closes (-1 if never); ``\\`` escapes, as in the splitter."""
    quote = text[0] == '"'
    depth = 0
    for m in _MARK.finditer(text, 1 if quote else 0):
        ch = m.group()
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return -1
            if depth == 0 and not quote:
                return m.start()
        elif ch == '"' and quote and depth == 0:
            return m.start()
    return -1


class _Reader:
    """bibtexparser's entries as ``Entry``s: macros resolved, then LaTeX decoded and authors split."""

    def __init__(self, macros: Macros, entries: list[Entry], skipped: list[tuple[str, str]]) -> None:
        from bibtexparser import Library
        from bibtexparser.middlewares import SeparateCoAuthors

        self.macros, self.entries, self.skipped = macros, entries, skipped
        self.steps = (_latex_decoder(), SeparateCoAuthors())
        self.library = Library()

    def check_string(self, key: str, value: str, line: int) -> None:
        try:
            self.macros.value(value, f"@string {key.lower()}")
        except Unresolved as err:
            self.skipped.append((f"line {line} (@string {key})", str(err)))

    def add(self, block: Any, where: str) -> None:
        try:
            values = {
                name: self.macros.value(str(f.value), name)
                for f in block.fields
                if (name := f.key.lower()) in READ
            }
        except Unresolved as err:
            self.skipped.append((where, str(err)))
            return
        fields = self._decoded(block, values)
        if fields is None:
            self.skipped.append((where, "its LaTeX or its author list cannot be read"))
            return
        entry = _entry(block, fields, where, self.skipped)
        if entry is not None:
            self.entries.append(entry)

    def _decoded(self, block: Any, values: dict[str, str]) -> dict[str, Any] | None:
        from bibtexparser.model import Entry as BibEntry
        from bibtexparser.model import Field, ParsingFailedBlock

        one: Any = BibEntry(block.entry_type, block.key, [Field(k, v) for k, v in values.items()])
        for step in self.steps:
            one = step.transform_block(one, self.library)
            if isinstance(one, ParsingFailedBlock):
                return None
        return {f.key: f.value for f in one.fields}


def _entry(block: Any, fields: dict[str, Any], where: str, skipped: list[tuple[str, str]]) -> Entry | None:
    get = fields.get
    authors = get("author") or []
    if isinstance(authors, str):
        authors = [authors]
    arxiv = None
    if str(get("archiveprefix") or "").lower() == "arxiv" or get("eprint"):
        arxiv = arxiv_id(str(get("eprint") or ""))
    arxiv = arxiv or arxiv_id(str(get("journal") or ""), str(get("note") or ""))
    return make_entry(
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
