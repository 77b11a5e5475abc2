"""Which format a bibliography file is in, and the parser for it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from labbook.errors import BadInput
from labbook.formats.bib.atom import parse_arxiv
from labbook.formats.bib.bibtex import parse_bibtex
from labbook.formats.bib.csl import parse_csl_json
from labbook.formats.bib.entry import Parsed
from labbook.formats.bib.ris import parse_ris

FORMATS = ("bibtex", "csl-json", "ris", "arxiv")
_SUFFIXES = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".json": "csl-json",
    ".ris": "ris",
    ".xml": "arxiv",
    ".atom": "arxiv",
}


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


def parse(text: str, fmt: str, macros: Mapping[str, str] | None = None) -> Parsed:
    """``text`` read as ``fmt``; ``macros`` are the BibTeX ``@string``s of the files before it.

    The macros come back in ``Parsed.macros`` whatever the format, so a CSL-JSON file
    between two ``.bib`` files does not make the second forget the first's macros.
    """
    if fmt == "bibtex":
        return parse_bibtex(text, macros)
    parser = {"csl-json": parse_csl_json, "ris": parse_ris, "arxiv": parse_arxiv}
    parsed = parser[fmt](text)
    parsed.macros = dict(macros or {})
    return parsed
