"""``lab artifacts``: the files kept with a run (checkpoints, outputs, source snapshots)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import click

from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook
from labbook.views import artifacts as views
from labbook.views import tables as render

LISTED = 20  # artifacts named one by one after an add; the rest are counted


@click.group("artifacts")
def artifacts_cmd() -> None:
    """Files kept with runs, each content stored once: lab artifacts ls RUN, get, add."""


@artifacts_cmd.command("ls")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the artifacts as JSON.")
@click.pass_context
def artifacts_ls(ctx: click.Context, run: str, as_json: bool) -> None:
    """List RUN's artifacts: name, kind, size and the start of the content's sha256."""
    with open_notebook(ctx) as nb:
        record = nb.get_run(run)
        arts = nb.artifacts.list(record)
    if as_json:
        echo_json(views.artifacts_list(arts))
        return
    if not arts:
        click.echo(f"run {record.id} has no artifacts; lab artifacts add {record.id} PATH keeps one")
        return
    click.echo(render.plain_table(["name", "kind", "size", "sha256"], views.artifact_rows(arts), {2}))


@artifacts_cmd.command("get")
@click.argument("run")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where to write it (a directory: under its file name). Default: ./NAME's file name.",
)
@click.option("--force", is_flag=True, help="Replace a file that is already there.")
@click.pass_context
def artifacts_get(ctx: click.Context, run: str, name: str, output: str | None, force: bool) -> None:
    """Copy RUN's artifact NAME out of the notebook (checked against its hash on the way)."""
    dest = Path(output) if output else Path(PurePosixPath(name).name)
    with open_notebook(ctx) as nb:
        written = nb.artifacts.export(run, name, dest, force=force)
        size = nb.artifacts.find(run, name).size
    click.echo(f"wrote {written} ({views.size_text(size)})")


@artifacts_cmd.command("add")
@click.argument("run")
@click.argument("path", type=click.Path(exists=False))
@click.option("--name", help="The artifact's name in the run (default: the file's name).")
@click.option("--kind", help="What it is: checkpoint, model, data, output ... (free text).")
@click.option(
    "--recursive", is_flag=True, help="A directory: keep every file under it as NAME/relative/path."
)
@click.pass_context
def artifacts_add(
    ctx: click.Context, run: str, path: str, name: str | None, kind: str | None, recursive: bool
) -> None:
    """Keep the file PATH with RUN after the fact (copied in; identical contents are kept once)."""
    with open_notebook(ctx) as nb:
        record = nb.get_run(run)
        stored = nb.artifacts.add(record, path, name=name, kind=kind, recursive=recursive)
    for a in stored[:LISTED]:
        click.echo(f"stored {a.name} ({views.size_text(a.size)}, sha256 {a.hash[: views.SHORT_HASH]})")
    if len(stored) > LISTED:
        total = sum(a.size for a in stored)
        click.echo(f"... {len(stored) - LISTED} more: {len(stored)} files, {views.size_text(total)} in all")
