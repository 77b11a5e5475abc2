"""Dates typed by users: one parser, one message."""

from __future__ import annotations

from datetime import datetime

from .errors import BadInput


def parse_date(text: str, what: str, error: type[BadInput] = BadInput) -> float:
    """``2026-11-01`` or ``2026-11-01T14:30`` (local time) → epoch seconds."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise error(f"{what} {text!r} is not a date; write it like 2026-11-01 or 2026-11-01T14:30") from None
