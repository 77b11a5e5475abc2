"""Text shared by the commands: aligned tables, times, numbers, intervals and exact JSON.

Everything here returns strings or rich renderables and prints nothing, so any adapter
that shows notebook contents as text formats a number or a CI the same way.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

from labbook.core.dates import span

STATUS_STYLE = {
    "pending": "cyan",
    "running": "blue",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "crashed": "magenta",
    "cancelled": "yellow",
}

_ANSI = {"blue": "34", "green": "32", "red": "31", "yellow": "33", "magenta": "35"}


def plain_table(headers: list[str], rows: list[list[str]], right: set[int], styled: int | None = None) -> str:
    """A fast aligned table (rich's measuring costs ~5 ms a row; ``lab ls`` must stay quick).

    Column ``styled`` holds run statuses, coloured when writing to a terminal.
    """
    from rich.cells import cell_len

    widths = [cell_len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell_len(cell))
    colour = sys.stdout.isatty()

    def line(cells: list[str], is_header: bool = False) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - cell_len(cell))
            text = pad + cell if i in right else cell + pad
            if colour and not is_header and i == styled and cell in STATUS_STYLE:
                text = f"\x1b[{_ANSI[STATUS_STYLE[cell]]}m{text}\x1b[0m"
            elif colour and is_header:
                text = f"\x1b[1m{text}\x1b[0m"
            out.append(text)
        return "   ".join(out).rstrip()

    rule = "─" * (sum(widths) + 3 * (len(widths) - 1))
    return "\n".join([line(headers, True), rule, *(line(r) for r in rows)])


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def jsonable(value: Any) -> Any:
    """Values for strict JSON: NaN and ±Inf become the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """The exact text of ``--json``: strict JSON, indented, non-ASCII kept as typed."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def short_when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")


def exact(value: float) -> str:
    """A float that reads back to the same bits (``nan``, ``inf`` and ``-inf`` by name)."""
    return repr(value) if math.isfinite(value) else number(value)


def duration(seconds: float | None) -> str:
    return span(seconds)


def number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if 1e4 <= abs(value) < 1e9:
            return f"{value:.0f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def ci_text(s: Any, sd: bool = True) -> str:
    """``mean ± half-width [low, high] sd X`` (an interval of another method may not be symmetric: no ±)."""
    from labbook.service.compare.words import num

    if s.n < 2:
        return f"{num(s.mean, 4)} (1 run)"
    ci = f"[{num(s.low, 4)}, {num(s.high, 4)}]"
    text = (
        f"{num(s.mean, 4)} ± {num((s.high - s.low) / 2, 2)} {ci}"
        if s.method == "t"
        else f"{num(s.mean, 4)} {ci}"
    )
    return f"{text} sd {num(s.std, 2)}" if sd else text


def ids_text(ids: list[int], most: int = 8) -> str:
    """Run ids, the first ``most`` of them and a count beyond (a sweep can hold hundreds)."""
    shown = ", ".join(map(str, ids[:most]))
    return shown + (f", ... ({len(ids)})" if len(ids) > most else "")


def status_text(status: str) -> Any:
    from rich.text import Text

    return Text(status, style=STATUS_STYLE.get(status, ""))
