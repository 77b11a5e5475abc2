"""Which format a bibliography file is in, and the parser for it."""

from __future__ import annotations

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


def parse(text: str, fmt: str) -> Parsed:
    parser = {"bibtex": parse_bibtex, "csl-json": parse_csl_json, "ris": parse_ris, "arxiv": parse_arxiv}
    return parser[fmt](text)
