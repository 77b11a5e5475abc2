"""``lab ui``: the notebook's web dashboard, built in-process and served by uvicorn."""

from __future__ import annotations

import errno
import socket
from typing import Any

import click

from labbook.cli.runs import open_notebook
from labbook.errors import BadInput


@click.command("ui")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but the loopback needs the printed token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser once it is up.")
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    help="The notebook to serve (as lab --dir; lab demo --dir DIR makes one there).",
)
@click.pass_context
def ui_cmd(ctx: click.Context, host: str, port: int, open_browser: bool, dir_: str | None) -> None:
    """Serve the notebook's dashboard: runs, charts, compare, hypotheses, calibration, review.

    \b
    lab ui                      # http://127.0.0.1:8765, this machine only
    lab ui --dir demo           # the notebook lab demo --dir demo made
    lab ui --host 0.0.0.0       # other machines too: prints a login link with a token
    """
    try:
        import uvicorn

        from labbook.web import WebSettings, create_app
    except ImportError as err:
        raise BadInput(
            f"lab ui needs the web extra ({err.name} is missing): pip install 'labbook[web]'"
        ) from None
    if dir_ is not None:
        ctx.obj = dict(ctx.obj or {}, dir=dir_)
    nb = open_notebook(ctx)
    sock = _bind(host, port)
    settings = WebSettings(host=host, port=sock.getsockname()[1]).secured()
    app = create_app(nb, settings)
    url = settings.base_url + (f"/login?token={settings.token}" if settings.token else "/")
    click.echo(f"labbook dashboard of {nb.root} at {url}")
    if settings.token:
        click.echo("the link holds this server's token: share it only with people who may read the notebook")
    click.echo("Ctrl+C stops it", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    if open_browser:
        _open_when_up(server, url)
    try:
        server.run(sockets=[sock])
    finally:
        nb.close()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is one clear line, not a server log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise BadInput(
                f"port {port} on {host} is in use; pick another with --port (0: any free one)"
            ) from None
        raise BadInput(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(128)
    return sock


def _open_when_up(server: Any, url: str) -> None:
    import threading
    import webbrowser

    def wait() -> None:
        import time

        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            webbrowser.open(url)

    threading.Thread(target=wait, daemon=True).start()
