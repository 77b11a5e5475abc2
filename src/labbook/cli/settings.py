"""``lab settings``: what a notebook remembers so that commands need not be told again."""

from __future__ import annotations

import json

import click

from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook


@click.group("settings")
def settings_cmd() -> None:
    """Notebook settings: what commands assume unless told.

    \b
    lab settings set noise seed,work_dir     parameters that are not configuration
    lab settings set metric val_acc          lab compare's metric when none is given
    lab settings set goal val_loss min       lower is better
    lab settings set detect val_acc 0.01     the smallest difference that matters
    lab settings set parse NAME REGEX        then lab run --parse NAME
    """


@settings_cmd.command("set")
@click.argument("key")
@click.argument("values", nargs=-1, required=True)
@click.pass_context
def settings_set(ctx: click.Context, key: str, values: tuple[str, ...]) -> None:
    """Set KEY: lab settings set parse NAME REGEX."""
    with open_notebook(ctx) as nb:
        full, value = nb.settings.set(key, list(values))
    click.echo(f"{full} = {json.dumps(value)}")


@settings_cmd.command("get")
@click.argument("key")
@click.argument("name", required=False)
@click.pass_context
def settings_get(ctx: click.Context, key: str, name: str | None) -> None:
    """Print one setting's value: lab settings get parse NAME (or parse.NAME)."""
    with open_notebook(ctx) as nb:
        value = nb.settings.get(f"{key}.{name}" if name else key)
    click.echo(value if isinstance(value, str) else json.dumps(value))


@settings_cmd.command("unset")
@click.argument("key")
@click.argument("name", required=False)
@click.pass_context
def settings_unset(ctx: click.Context, key: str, name: str | None) -> None:
    """Remove a setting: lab settings unset parse NAME."""
    full = f"{key}.{name}" if name else key
    with open_notebook(ctx) as nb:
        nb.settings.unset(full)
    click.echo(f"{full} removed")


@settings_cmd.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_context
def settings_ls(ctx: click.Context, as_json: bool) -> None:
    """List every setting."""
    with open_notebook(ctx) as nb:
        values = nb.settings.all()
    if as_json:
        echo_json(values)
        return
    for key, value in values.items():
        click.echo(f"{key} = {json.dumps(value)}")
    if not values:
        from labbook.service.settings import FAMILIES

        click.echo("no settings yet; what can be set (lab settings set KEY VALUE...):")
        for name, (_, what) in sorted(FAMILIES.items()):
            click.echo(f"  {name:<20} {what}")
