"""Formatting shared by the commands: tables, times, numbers and exact JSON."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

import click

from labbook.core.dates import span
from labbook.records.runs import RunRecord

STATUS_STYLE = {
    "pending": "cyan",
    "running": "blue",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "crashed": "magenta",
    "cancelled": "yellow",
}


def console(width: int | None = None) -> Any:
    """A rich console; when output is not a terminal, without colour."""
    from rich.console import Console

    # User text (names, tags, params) is never markup: "[bold]" in a run name stays as typed.
    if sys.stdout.isatty():
        return Console(width=width, highlight=False, markup=False, emoji=False)
    return Console(
        width=width or 200, no_color=True, highlight=False, soft_wrap=False, markup=False, emoji=False
    )


def show(*renderables: Any) -> None:
    """Print rich renderables at their natural width: a wide table is never cut to ellipses.

    Off a terminal, the trailing spaces of padded cells are dropped.
    """
    probe = console()
    sizes = [probe.measure(r) for r in renderables]
    if probe.is_terminal:  # wrap text columns to the terminal, never squeeze the others
        width = max([probe.width, *(s.minimum for s in sizes)])
    else:  # full lines, for files and grep
        width = max([80, *(s.maximum for s in sizes)])
    out = console(width)
    if out.is_terminal:
        out.print(*renderables, sep="\n")
        return
    with out.capture() as cap:
        out.print(*renderables, sep="\n")
    click.echo("\n".join(line.rstrip() for line in cap.get().splitlines()))


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


def echo_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


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


def run_dict(run: RunRecord, full: bool = False) -> dict[str, Any]:
    """The JSON shape of a run (``full`` adds the capture)."""
    out: dict[str, Any] = {
        "id": run.id,
        "uid": run.uid,
        "name": run.name,
        "status": run.status,
        "exit_code": run.exit_code,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration": run.duration,
        "command": run.command,
        "cwd": run.cwd,
        "host": run.host,
        "source": run.source,
        "note": run.note,
        "hypothesis": run.hyp_id,
        "sweep": run.sweep_id,
        "job_id": run.job_id,
        "job_state": run.job_state,
        "tags": list(run.tags),
        "params": run.params,
        "metrics": {k: m.as_dict() for k, m in run.metrics.items()},
        "summary": run.summary,
        "lost": run.lost,
    }
    if full:
        out["capture"] = run.capture
    return out


def status_text(status: str) -> Any:
    from rich.text import Text

    return Text(status, style=STATUS_STYLE.get(status, ""))
