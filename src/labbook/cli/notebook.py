"""Commands about the notebook itself: ``init`` and ``backup``."""

from __future__ import annotations

from pathlib import Path

import click

from ..notebook import Notebook
from .runs import open_notebook


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=True, dir_okay=True))
def init_cmd(directory: str) -> None:
    """Create a notebook in DIRECTORY (default: here) as DIRECTORY/.labbook/.

    Commands run anywhere below DIRECTORY find it, as git finds its repository. In a
    git work tree, .labbook/ is added to .gitignore.
    """
    nb, created, ignored = Notebook.init(Path(directory))
    with nb:
        if created:
            click.echo(f"Initialised an empty notebook in {nb.root}")
        else:
            click.echo(f"A notebook already exists in {nb.root}; nothing changed")
        if ignored:
            click.echo("Added .labbook/ to .gitignore")


@click.command("backup")
@click.argument("path", type=click.Path())
@click.pass_context
def backup_cmd(ctx: click.Context, path: str) -> None:
    """Write a consistent copy of the notebook to the new directory PATH.

    Safe while runs are logging (SQLite's online backup). The copy is itself a
    notebook: lab --dir PATH ls.
    """
    with open_notebook(ctx) as nb:
        target = nb.backup(Path(path))
        _, total = nb.list_runs(limit=1)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    click.echo(f"Backed up {total} run{'s' if total != 1 else ''} to {target} ({size / 2**20:.1f} MB)")
