"""``lab import tensorboard|mlflow|wandb SOURCE``: another tracker's runs into this notebook."""

from __future__ import annotations

import importlib
import os
import time

import click

from labbook.cli.runs import open_notebook

READERS = {
    "tensorboard": "a log directory (every folder with event files is one run)",
    "mlflow": "a tracking URI (sqlite:///mlflow.db, postgresql://...) or an mlruns/ folder",
    "wandb": "a folder of W&B runs (wandb/, or one offline-run-* folder)",
}


class _Progress:
    """Progress lines on stderr, at most one every half second, so a long import shows it is alive."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.last = quiet, 0.0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if not self.quiet and now - self.last >= 0.5:
            self.last = now
            click.echo(f"lab: {line}", err=True)


@click.command("import")
@click.argument("kind", type=click.Choice(sorted(READERS)))
@click.argument("source")
@click.option("-t", "--tag", "tags", multiple=True, help="A tag for every imported run; repeat for several.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def import_cmd(ctx: click.Context, kind: str, source: str, tags: tuple[str, ...], quiet: bool) -> None:
    """Import the runs of another tracker: every point, param and tag, with its status.

    \b
    lab import tensorboard runs/
    lab import mlflow sqlite:///mlflow.db
    lab import mlflow ./mlruns
    lab import wandb ./wandb

    Importing the same source again updates the runs it made (their ids, notes and
    links stay); it never adds a run twice. lab show names where a run came from.
    """
    if kind == "mlflow":  # an import reads files; it has nothing to report to MLflow's servers
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    reader = importlib.import_module(f"labbook.importers.{kind}")
    progress = _Progress(quiet)
    with open_notebook(ctx) as nb:
        items = reader.read(source, progress)
        if tags:
            items = (_tagged(item, tags) for item in items)
        report = nb.imports.run_all(items, progress)
    runs = len(report.added) + len(report.updated)
    click.echo(
        f"imported {runs} run{'s' if runs != 1 else ''} from {kind} ({len(report.added)} new, "
        f"{len(report.updated)} updated), {report.points:,} points"
        + (f'; lab ls --where "id >= {min(report.added)}"' if report.added else "")
    )
    for skip in report.skipped:
        click.echo(f"  skipped {skip.item}: {skip.reason}")


def _tagged(item: object, tags: tuple[str, ...]) -> object:
    from labbook.records.imports import ImportedRun

    if isinstance(item, ImportedRun):
        item.tags = (*item.tags, *tags)
    return item
