"""Writing to the terminal: JSON and rich renderables, the same way for every command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from labbook.views.tables import json_text


def echo_json(value: Any) -> None:
    click.echo(json_text(value))


def json_or_hint(as_json: bool, to_json: Callable[[], Any], empty: bool, hint: str) -> bool:
    """Print the JSON, or the hint when there is nothing to list; True when the command is done.

    JSON comes first so that an empty listing is still valid JSON (``[]``) for scripts, and a
    person who sees nothing is told what to do next.
    """
    if as_json:
        echo_json(to_json())
        return True
    if empty:
        click.echo(hint)
        return True
    return False


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


#: ``--agg`` of the commands that read one value per run (``compare``, ``ablate``).
agg_option = click.option(
    "--agg",
    type=click.Choice(["last", "min", "max", "mean"]),
    default="last",
    show_default=True,
    help="Which value of each run's metric.",
)
