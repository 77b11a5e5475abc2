"""CSL-JSON, as Zotero and most reference managers export it."""

from __future__ import annotations

import json
import re

from labbook.errors import BadInput
from labbook.formats.bib.entry import Entry, Parsed, arxiv_id, make_entry


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
        entry = make_entry(
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
