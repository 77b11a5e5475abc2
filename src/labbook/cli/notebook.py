"""Commands about the notebook itself: ``init``, ``backup`` and ``verify``."""

from __future__ import annotations

from pathlib import Path

import click

from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook
from labbook.service.notebook import Notebook
from labbook.views.notebook import verify_dict


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


@click.command("verify")
@click.argument("runs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def verify_cmd(ctx: click.Context, runs: tuple[str, ...], as_json: bool) -> None:
    """Check the database and the series files of RUNS (default: every run) against their summaries.

    Prints each problem with its run and file; exits 1 if anything the notebook accepted is
    damaged or lost, 0 otherwise (a torn tail left by a killed writer is reported, not counted).
    """
    with open_notebook(ctx) as nb:
        report = nb.verify(list(runs))
    if as_json:
        echo_json(verify_dict(report))
    else:
        for p in report.problems:
            click.echo(("damage: " if p.damage else "note: ") + p.what)
        n_bad = sum(p.damage for p in report.problems)
        verdict = f"{n_bad} problem{'s' if n_bad != 1 else ''}" if n_bad else "ok"
        click.echo(
            f"Checked the database, {report.runs} run{'s' if report.runs != 1 else ''} and "
            f"{report.files} series file{'s' if report.files != 1 else ''}: {verdict}"
        )
    if report.damaged:
        ctx.exit(1)
