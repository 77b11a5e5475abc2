"""Dates typed by users: one parser, one message."""

from __future__ import annotations

from datetime import datetime

from labbook.errors import BadInput


def span(seconds: float | None) -> str:
    """A duration in a few characters: ``1.5s``, ``3m04s``, ``2h05m``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def parse_date(text: str, what: str, error: type[BadInput] = BadInput) -> float:
    """``2026-11-01`` or ``2026-11-01T14:30`` (local time) → epoch seconds."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise error(f"{what} {text!r} is not a date; write it like 2026-11-01 or 2026-11-01T14:30") from None
