"""RIS, read here: it is one ``TAG  - value`` per line, and the import report needs each
entry's line, which rispy does not keep."""

from __future__ import annotations

import re

from labbook.formats.bib.entry import Entry, Parsed, arxiv_id, make_entry, not_format

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
                    raise not_format("RIS (it must start with a 'TY  - ' line)", text)
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
    return make_entry(
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
