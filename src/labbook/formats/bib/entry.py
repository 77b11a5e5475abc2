"""A bibliography entry as every parser returns it, and the normalisation duplicates are found by.

Two exports of one paper share a DOI, an arXiv id or a title reduced to its letters and
digits; every parser fills ``Entry`` through ``make_entry``, so those are normalised the
same way whatever the format.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from labbook.errors import BadInput

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
    """A file's usable entries and skipped ones; for BibTeX, also the macros later files may use."""

    entries: list[Entry]
    skipped: list[tuple[str, str]]  # (where, why)
    macros: dict[str, str] = field(default_factory=dict)  # @string name → value, earlier files' too
    strings: int = 0  # @string macros this file defines


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


def make_entry(
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


def not_format(what: str, text: str) -> BadInput:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            shown = line.strip()[:40]
            return BadInput(f"this file is not {what}: line {number} starts with {shown!r}; check --format")
    return BadInput(f"this file is not {what}: it is empty")
