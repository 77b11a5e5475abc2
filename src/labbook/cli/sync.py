"""``lab login``, ``lab logout`` and ``lab sync``: a notebook that sends its runs to a team server."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from labbook.cli.runs import open_notebook
from labbook.errors import BadInput

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook
    from labbook.tracking.remote import Client
    from labbook.tracking.sync import SyncReport


@click.command("login")
@click.argument("url")
@click.option(
    "--token", required=True, envvar="LABBOOK_TOKEN", help="The token `lab server token create` printed."
)
def login_cmd(url: str, token: str) -> None:
    """Send runs to the team server at URL from now on (the token is checked first, then kept 0600)."""
    from labbook.tracking.remote import Client, Server, normal_url, save_login

    server = Server(normal_url(url), token.strip())
    client = Client(server)
    try:
        info = client.info()
    finally:
        client.close()
    path = save_login(server)
    click.echo(f"logged in to {server.url} as {info.get('name')!r} ({info.get('role')}); kept in {path}")
    click.echo("runs started from now on are sent there too; LABBOOK_SERVER=off logs here only", err=True)


@click.command("logout")
def logout_cmd() -> None:
    """Forget the team server: runs are kept here only."""
    from labbook.tracking.remote import config_path, forget_login

    if forget_login():
        click.echo(f"logged out (removed {config_path()})")
    else:
        click.echo("not logged in to a server")


@click.command("sync")
@click.option("--status", "status", is_flag=True, help="Only say what is not yet on the server.")
@click.option("--json", "as_json", is_flag=True, help="With --status: print JSON.")
@click.pass_context
def sync_cmd(ctx: click.Context, status: bool, as_json: bool) -> None:
    """Send every run the team server does not yet hold whole; safe to stop and to run again.

    \b
    lab sync             # send what is missing, resuming where the last one stopped
    lab sync --status    # what is pending, without sending
    """
    if as_json and not status:
        raise BadInput("--json goes with --status")
    with _connected(ctx) as (nb, client):
        if status:
            _status(nb, client, as_json)
            return
        from labbook.tracking.sync import sync_all

        report = sync_all(nb, client)
    click.echo(_said(report, client.server.url))


@contextmanager
def _connected(ctx: click.Context) -> Iterator[tuple[Notebook, Client]]:
    """This notebook and a client of the configured team server, both closed afterwards."""
    from labbook.tracking.remote import Client, configured

    server = configured()
    if server is None:
        raise BadInput(
            "no team server: `lab login URL --token T` first (or set LABBOOK_SERVER and LABBOOK_TOKEN)"
        )
    client = Client(server)
    try:
        with open_notebook(ctx) as nb:
            yield nb, client
    finally:
        client.close()


def _said(report: SyncReport, url: str) -> str:
    still = f", {len(report.unfinished)} still running (sent so far)" if report.unfinished else ""
    return (
        f"sent {report.points:,} points, {report.records:,} research records (papers, problems, hypotheses,"
        f" predictions, notes, failure samples) and {report.examples:,} per-example results to {url}:"
        f" {len(report.done)} runs whole there{still}"
    )


@click.command("push")
@click.pass_context
def push_cmd(ctx: click.Context) -> None:
    """Move this notebook into the team server's: runs, papers, problems, hypotheses, predictions, notes, failures.

    Everything is keyed by uid, so a second push sends nothing twice. The server is asked
    first: if it holds other content under any of these uids, nothing is sent and the
    clashing uids are listed.
    """
    from labbook.tracking.sync import sync_all

    with _connected(ctx) as (nb, client):
        report = sync_all(nb, client, check=True)
    click.echo(_said(report, client.server.url))


def _status(nb: Notebook, client: Client, as_json: bool) -> None:
    from labbook.errors import StoreUnreachable
    from labbook.tracking.sync import missing

    pending = nb.outbox.pending(client.server.url)
    rows: list[dict[str, object]] = []
    try:
        client.info()
        reachable = True
    except StoreUnreachable:
        reachable = False
    for run in pending:
        points: int | None = None
        if reachable:
            try:
                points = missing(nb, client, run)
            except StoreUnreachable:
                reachable = False
        rows.append(
            {"id": run.id, "uid": run.uid, "name": run.name, "status": run.status, "missing_points": points}
        )
    from labbook.service.ingest_records import RECORD_KINDS

    records = {k: len(v) for k, v in nb.outbox.records(client.server.url, RECORD_KINDS).items() if v}
    examples = [{"run": run.id, "split": split} for run, split, _ in nb.outbox.examples(client.server.url)]
    if as_json:
        click.echo(json.dumps({"server": client.server.url, "reachable": reachable, "pending": rows,
                               "records": records, "examples": examples}, indent=2))  # fmt: skip
        return
    if not rows and not records and not examples:
        click.echo(f"nothing pending: everything is on {client.server.url}")
        return
    where = client.server.url + ("" if reachable else " (which does not answer now)")
    click.echo(f"{len(rows)} runs not yet whole on {where}:")
    for r in rows:
        lacks = "" if r["missing_points"] is None else f", {r['missing_points']:,} points to send"
        click.echo(f"  run {r['id']} {r['name'] or ''} ({r['status']}{lacks})")
    if records:
        click.echo("records to send: " + ", ".join(f"{n} {kind}" for kind, n in records.items()))
    for e in examples:
        click.echo(f"  per-example results of run {e['run']}, split {e['split']}")
    click.echo("`lab sync` sends them")


@click.command("pull")
@click.pass_context
def pull_cmd(ctx: click.Context) -> None:
    """Bring the team server's runs, points, papers, problems, hypotheses, predictions, notes and failures here.

    Keyed by uid: a second pull brings nothing twice, and what was pulled is not sent
    back. If this notebook holds other content under any of the server's uids, nothing is
    written and the clashing uids are listed.
    """
    from labbook.tracking.sync import pull_all

    with _connected(ctx) as (nb, client):
        report = pull_all(nb, client)
    click.echo(
        f"pulled {report.runs:,} new runs, {report.points:,} points, {report.records:,} research records"
        f" (papers, problems, hypotheses, predictions, notes, failure samples) and {report.examples:,}"
        f" per-example results from {client.server.url}"
    )


def send_research_now(directory: str | None) -> None:
    """After a command marked ``sends_research`` succeeded: its records to the team server, if one is set
    (``tracking.sync.send_research_now``); a server that cannot take them now is one warning line."""
    from labbook.tracking.sync import send_research_now as send

    warning = send(directory)
    if warning:
        click.echo(f"warning: {warning}", err=True)


SEND_KEY = "labbook.sends_research"
F = TypeVar("F", bound=Callable[..., Any])


def sends_research(command: F) -> F:
    """Mark a command (under ``click.pass_context``) whose research records go to the server when it succeeds."""

    @functools.wraps(command)
    def marked(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        ctx.meta[SEND_KEY] = True
        return command(ctx, *args, **kwargs)

    return cast(F, marked)
