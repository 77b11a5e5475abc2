"""Reading a Fatebook CSV export, so a forecasting history made there counts in ``lab calibration``.

The format is Fatebook's own (``lib/web/export.ts`` in github.com/Sage-Future/fatebook): one row per
forecast, by anyone, on every question the user made, forecast on or was shared, with these columns:

    Question title, Multiple choice option, Forecast created by, Forecast (scale = 0-1),
    Forecast created at, Question created by, Question created at, Question resolve by, Resolution,
    Resolved at, Your Brier score for this question, Your relative Brier score for this question,
    Question notes, Question shared with, Question shared publicly, Question comments, Question tags

Strings are double-quoted (and may hold commas and newlines), the forecast is a 0–1 decimal, the
resolution is ``YES`` / ``NO`` / ``AMBIGUOUS`` or empty while open, and dates are written
``YYYY-MM-DD HH:MM:S`` with no zone and unpadded seconds (Fatebook issue #90). Exports made before
multiple-choice questions call two columns ``Question resolution`` and ``Question resolved at`` and
have no option column; ``Question tags`` arrived later (issue #91); tournament exports add
``Tournament name``. There is no question id, so a question is known by its title and creation time.

This module only parses: it never touches a notebook, and a bad row is reported, not fatal.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from labbook.errors import BadInput

WHAT_IT_SHOULD_BE = "a Fatebook CSV export (on fatebook.io: More → Export all your forecasts)"

# Field names, each the normalised header Fatebook writes today.
TITLE = "question title"
OPTION = "multiple choice option"
BY = "forecast created by"
FORECAST = "forecast (scale = 0-1)"
FORECAST_AT = "forecast created at"
CREATED = "question created at"
RESOLVE_BY = "question resolve by"
RESOLUTION = "resolution"
RESOLVED_AT = "resolved at"
NOTES = "question notes"
TAGS = "question tags"

# Older exports' names for the same fields.
_ALIASES = {"question resolution": RESOLUTION, "question resolved at": RESOLVED_AT}
_KNOWN = (TITLE, OPTION, BY, FORECAST, FORECAST_AT, CREATED, RESOLVE_BY, RESOLUTION, RESOLVED_AT, NOTES, TAGS)
REQUIRED = (TITLE, FORECAST, FORECAST_AT, CREATED, RESOLUTION, RESOLVED_AT)
# How the header spells each field that can be required, for error messages.
_SPELLED = {
    TITLE: "Question title",
    FORECAST: "Forecast (scale = 0-1)",
    FORECAST_AT: "Forecast created at",
    CREATED: "Question created at",
    RESOLUTION: "Resolution",
    RESOLVED_AT: "Resolved at",
    BY: "Forecast created by",
}
_OUTCOMES = {"yes": "true", "no": "false", "ambiguous": "ambiguous"}

_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FatebookForecast:
    """One forecaster's scored forecast on one Fatebook question (or one option of a multiple-choice one)."""

    question: str
    p: float
    created_at: float  # epoch seconds, when this forecast was made
    outcome: str | None  # true / false / ambiguous; None while unresolved
    resolved_at: float | None
    tags: tuple[str, ...]
    notes: str | None
    key: str  # the same question, option and forecaster give the same key in every export
    option: str | None = None  # the option of a multiple-choice question; each is scored as yes/no
    forecaster: str | None = None  # Fatebook's "Forecast created by": a display name, may be empty
    question_created_at: float | None = None
    resolve_by: float | None = None  # the date the question was meant to resolve by
    line: int = 0  # the CSV line this forecast came from

    @property
    def text(self) -> str:
        """The question as one line of text, naming the option when there is one."""
        return f"{self.question} — {self.option}" if self.option else self.question


@dataclass(frozen=True)
class FatebookImport:
    """What a file held: the forecasts to import, and the lines left out with the reason for each."""

    rows: list[FatebookForecast]
    skipped: list[tuple[int, str]]  # (CSV line, reason), in line order
    forecasters: tuple[str, ...] = ()  # every named forecaster in the file, sorted
    excluded: int = 0  # good rows left out because they were by someone other than ``forecaster``


class _BadRow(Exception):
    """A row that cannot be read; its message is the reason shown to the user."""


@dataclass(frozen=True)
class _Row:
    line: int
    group: tuple[str, str, str, str]
    forecast: FatebookForecast


def parse(text: str, *, forecaster: str | None = None) -> FatebookImport:
    """Parse a Fatebook CSV export into one scored forecast per question and forecaster.

    Fatebook writes every forecast ever made, so a question forecast three times has three rows.
    Only the LAST forecast each forecaster made before the question resolved is kept (for an open
    question, the last one made): that is the forecast a score should judge, as a revision does in
    labbook. Fatebook's export also holds other people's forecasts on questions shared with the user;
    pass ``forecaster`` (Fatebook's display name, any case) to keep only one person's, the rest are
    counted in ``excluded``. Dates carry no zone in the export; they are read as UTC, the zone of
    Fatebook's servers (issue #90). A row that cannot be read is skipped with its line and a reason;
    a file whose header lacks a needed column raises ``BadInput``.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    columns: dict[str, int] | None = None
    rows: list[_Row] = []
    skipped: list[tuple[int, str]] = []
    names: set[str] = set()
    wanted = forecaster.strip().casefold() if forecaster is not None else None
    excluded = 0
    last_line = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise BadInput(
                f"line {reader.line_num} is not valid CSV ({exc}); expected {WHAT_IT_SHOULD_BE}"
            ) from None
        line, last_line = last_line + 1, reader.line_num
        if not any(field.strip() for field in record):
            continue
        if columns is None:
            columns = _columns(record, need_by=wanted is not None)
            continue
        try:
            row = _row(record, columns, line)
        except _BadRow as exc:
            skipped.append((line, str(exc)))
            continue
        if row.forecast.forecaster:
            names.add(row.forecast.forecaster)
        if wanted is not None and (row.forecast.forecaster or "").casefold() != wanted:
            excluded += 1
            continue
        rows.append(row)
    if columns is None:
        raise BadInput(f"the file is empty; expected {WHAT_IT_SHOULD_BE}")
    kept = _last_before_resolution(rows, skipped)
    return FatebookImport(
        rows=kept,
        skipped=sorted(skipped),
        forecasters=tuple(sorted(names, key=str.casefold)),
        excluded=excluded,
    )


def _columns(header: list[str], *, need_by: bool) -> dict[str, int]:
    """Field → column index, matching names case- and space-insensitively; the first of duplicates wins."""
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        norm = " ".join(name.strip().lower().split())
        field = _ALIASES.get(norm, norm)
        if field in _KNOWN:
            found.setdefault(field, i)
    needed = REQUIRED + ((BY,) if need_by else ())
    missing = [_SPELLED[f] for f in needed if f not in found]
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        plural = "s" if len(missing) > 1 else ""
        raise BadInput(f"the file has no {listed} column{plural}; it should be {WHAT_IT_SHOULD_BE}")
    return found


def _row(record: list[str], columns: dict[str, int], line: int) -> _Row:
    """One CSV record as a forecast, or ``_BadRow`` saying what is wrong with it."""

    def get(field: str) -> str:
        i = columns.get(field)
        return record[i].strip() if i is not None and i < len(record) else ""

    title = get(TITLE)
    if not title:
        raise _BadRow("no question title")
    p = _probability(get(FORECAST))
    created_at = _date(get(FORECAST_AT), "Forecast created at")
    if created_at is None:
        raise _BadRow("no 'Forecast created at' date")
    question_created_at = _date(get(CREATED), "Question created at")
    resolve_by = _date(get(RESOLVE_BY), "Question resolve by")
    word = get(RESOLUTION)
    outcome = _OUTCOMES.get(word.lower()) if word else None
    if word and outcome is None:
        raise _BadRow(f"resolution {word!r} is not YES, NO or AMBIGUOUS")
    resolved_at = _date(get(RESOLVED_AT), "Resolved at") if outcome else None
    option = get(OPTION) or None
    by = get(BY) or None
    created_part = "" if question_created_at is None else str(int(question_created_at))
    group = (title, created_part, option or "", by or "")
    key = "fatebook:" + hashlib.sha256("\x1f".join(group).encode()).hexdigest()[:20]
    forecast = FatebookForecast(
        question=title,
        p=p,
        created_at=created_at,
        outcome=outcome,
        resolved_at=resolved_at,
        tags=_tags(get(TAGS)),
        notes=get(NOTES) or None,
        key=key,
        option=option,
        forecaster=by,
        question_created_at=question_created_at,
        resolve_by=resolve_by,
        line=line,
    )
    return _Row(line, group, forecast)


def _last_before_resolution(rows: list[_Row], skipped: list[tuple[int, str]]) -> list[FatebookForecast]:
    """Per question and forecaster, the latest forecast not made after the question resolved."""
    groups: dict[tuple[str, str, str, str], list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    kept = []
    for members in groups.values():
        eligible = [
            r
            for r in members
            if r.forecast.resolved_at is None or r.forecast.created_at <= r.forecast.resolved_at
        ]
        if not eligible:
            last = max(members, key=lambda r: r.line)
            skipped.append((last.line, "every forecast on this question was made after it resolved"))
            continue
        kept.append(max(eligible, key=lambda r: (r.forecast.created_at, r.line)).forecast)
    return sorted(kept, key=lambda f: f.line)


def _probability(text: str) -> float:
    """The forecast as a fraction: ``0.7`` as written, ``70%`` divided by 100; a bare 70 is refused."""
    if not text:
        raise _BadRow("no forecast")
    percent = text.endswith("%")
    number = text.removesuffix("%").strip()
    try:
        value = float(number)
    except ValueError:
        raise _BadRow(f"forecast {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _BadRow(f"forecast {text!r} is not a number")
    if percent:
        value /= 100
    if not 0 <= value <= 1:
        hint = "" if percent else " (the column is on a 0-1 scale; write 70% for a percentage)"
        raise _BadRow(f"forecast {text} is outside [0, 1]{hint}")
    return value


def _date(text: str, column: str) -> float | None:
    """Epoch seconds of a Fatebook date (``2025-01-15 03:50:5``, read as UTC) or an ISO 8601 one."""
    if not text:
        return None
    m = _DATE.fullmatch(text)
    if m is None:
        raise _BadRow(f"{column} {text!r} is not a date")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz = UTC
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        raise _BadRow(f"{column} {text!r} is not a date") from None
    return moment.timestamp()


def _tags(text: str) -> tuple[str, ...]:
    """Tag names from the ``Question tags`` cell, split on commas or semicolons, duplicates dropped."""
    return tuple(dict.fromkeys(t.strip() for t in re.split(r"[;,]", text) if t.strip()))


__all__ = ["WHAT_IT_SHOULD_BE", "FatebookForecast", "FatebookImport", "parse"]
