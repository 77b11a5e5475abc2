"""``lab server``: the team notebook over HTTP, its schema upgrades and its tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from labbook.errors import BadInput

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PORT = 8770
MAX_UPLOAD = 64 << 20


def db_option(f: F) -> F:
    return click.option(
        "--db",
        envvar="LABBOOK_SERVER_DB",
        metavar="URL",
        help="The notebook database: postgresql://USER@HOST/DB, or a SQLite file (env LABBOOK_SERVER_DB).",
    )(f)


def _db(ctx: click.Context, db: str | None) -> str:
    """``--db`` where it was given: on this command, or on ``lab server`` before it."""
    chosen, outer = db, ctx.parent
    while not chosen and outer is not None:
        chosen, outer = outer.params.get("db"), outer.parent
    if not chosen:
        raise BadInput("give the notebook database: --db postgresql://USER@HOST/DB (or LABBOOK_SERVER_DB)")
    return str(chosen)


@click.group("server", invoke_without_command=True)
@db_option
@click.option(
    "--files",
    envvar="LABBOOK_SERVER_FILES",
    type=click.Path(file_okay=False),
    default="labbook-files",
    show_default=True,
    help="Where the server keeps runs' series, output and artifacts (env LABBOOK_SERVER_FILES).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@click.pass_context
def server_cmd(ctx: click.Context, db: str | None, files: str, host: str, port: int) -> None:
    """Serve a team notebook: the dashboard, the API, and remote logging with tokens.

    \b
    lab server migrate --db postgresql://lab@db/lab      # once, and after each upgrade
    lab server token create ada --db postgresql://lab@db/lab
    lab server --db postgresql://lab@db/lab --files /srv/labbook --host 0.0.0.0
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        import uvicorn

        from labbook.web import WebSettings, create_app
    except ImportError as err:
        raise BadInput(
            f"lab server needs the server extra ({err.name} is missing): pip install 'labbook[server]'"
        ) from None
    from labbook.cli.ui import _bind
    from labbook.service.server import open_server

    nb = open_server(_db(ctx, db), Path(files))
    sock = _bind(host, port)
    settings = WebSettings(host=host, port=sock.getsockname()[1], server=True, max_body=MAX_UPLOAD)
    app = create_app(nb, settings)
    click.echo(f"labbook server at {settings.base_url} (files in {nb.root})")
    if not nb.tokens.all():
        click.echo("no tokens yet: `lab server token create NAME` makes one", err=True)
    click.echo("Ctrl+C stops it", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        nb.close()


@server_cmd.command("migrate")
@db_option
@click.pass_context
def migrate_cmd(ctx: click.Context, db: str | None) -> None:
    """Create or upgrade the notebook database's schema (safe to run again)."""
    from labbook.service.server import migrate

    before, after = migrate(_db(ctx, db))
    if before == after:
        click.echo(f"the schema is up to date (v{after})")
    else:
        click.echo(
            f"upgraded the schema from v{before} to v{after}" if before else f"created the schema (v{after})"
        )


@server_cmd.group("token")
def token_cmd() -> None:
    """The server's tokens: every request needs one; its name is the author of what it sends."""


def _tokens(ctx: click.Context, db: str | None) -> Any:
    from labbook.service.notebook import Notebook
    from labbook.service.server import open_store

    return Notebook(Path("."), open_store(_db(ctx, db)))  # tokens live in the database alone


@token_cmd.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["read", "write", "admin"]),
    default="write",
    show_default=True,
    help="read: look; write: also log runs and write notes; admin: also manage the server.",
)
@db_option
@click.pass_context
def token_create_cmd(ctx: click.Context, name: str, role: str, db: str | None) -> None:
    """Make a token for NAME (a person or a machine) and print it, once."""
    nb = _tokens(ctx, db)
    try:
        row, token = nb.tokens.create(name, role)
    finally:
        nb.close()
    click.echo(token)
    click.echo(
        f"token {row.id} for {row.name!r} ({row.role}); it is shown only now."
        " On the machine that logs: lab login URL --token TOKEN",
        err=True,
    )


@token_cmd.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@click.pass_context
def token_ls_cmd(ctx: click.Context, as_json: bool, db: str | None) -> None:
    """List the tokens: id, name, role, when made, last used, revoked."""
    from labbook.views.server import token_rows, tokens_table

    nb = _tokens(ctx, db)
    try:
        rows = nb.tokens.all()
    finally:
        nb.close()
    if as_json:
        import json

        click.echo(json.dumps(token_rows(rows), indent=2))
    else:
        click.echo(tokens_table(rows))


@token_cmd.command("revoke")
@click.argument("ref", metavar="ID|NAME")
@db_option
@click.pass_context
def token_revoke_cmd(ctx: click.Context, ref: str, db: str | None) -> None:
    """Revoke a token by its id, or every active token of a name; effective at the next request."""
    nb = _tokens(ctx, db)
    try:
        done = nb.tokens.revoke(ref)
    finally:
        nb.close()
    for row in done:
        click.echo(f"revoked token {row.id} ({row.name}, {row.role})")
