"""Saved arXiv Atom feeds, read with the standard library.

``xml.etree`` resolves no external entities and expat ≥ 2.4.1 caps entity expansion, so
a hostile file cannot reach the disk or the network.
"""

from __future__ import annotations

from labbook.errors import BadInput
from labbook.formats.bib.entry import Entry, Parsed, arxiv_id, make_entry

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
        entry = make_entry(
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
