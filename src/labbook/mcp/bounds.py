"""How much of a reply an agent receives: every tool's result is cut to a bounded size.

An agent reads replies into a context window it pays for, so a patch of 50,000 lines, a
package list or a thousand runs must not arrive whole. The shapes stay those of
``views/`` (the CLI's ``--json``); what is cut says how much was left out and how to get it.
"""

from __future__ import annotations

from typing import Any

from labbook.views.tables import jsonable

#: Longest text kept whole (a patch, a log excerpt, a long note); the rest is counted.
TEXT = 2000
#: Most items of a list (runs, packages, hits) or keys of a mapping (metrics, params) kept.
ITEMS = 50


def clip(value: Any, text: int = TEXT, items: int = ITEMS) -> Any:
    """``value`` as strict JSON data, each long string, list and mapping cut and counted."""
    return _clip(jsonable(value), text, items)


def _clip(value: Any, text: int, items: int) -> Any:
    if isinstance(value, str) and len(value) > text:
        return value[:text] + f"… [{len(value) - text:,} more characters cut]"
    if isinstance(value, list):
        kept = [_clip(v, text, items) for v in value[:items]]
        return kept + ([f"… [{len(value) - items:,} more cut]"] if len(value) > items else [])
    if isinstance(value, dict):
        pairs = list(value.items())
        out = {k: _clip(v, text, items) for k, v in pairs[:items]}
        if len(pairs) > items:
            out["…"] = f"[{len(pairs) - items:,} more keys cut]"
        return out
    return value


def bounded(reply: dict[str, Any]) -> dict[str, Any]:
    """A tool's reply (a mapping, which stays one), clipped."""
    out: dict[str, Any] = clip(reply)
    return out
