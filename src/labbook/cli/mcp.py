"""``lab mcp``: serve the notebook to an AI agent over MCP (stdio), as the agent's own author."""

from __future__ import annotations

import click


@click.command("mcp")
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    metavar="PATH",
    help="The notebook to serve (as lab --dir; default: the nearest .labbook/).",
)
@click.option(
    "--agent",
    default="agent",
    show_default=True,
    metavar="NAME",
    help="Who the agent is: the author of its predictions and notes, and the tag agent:NAME on its runs.",
)
@click.pass_context
def mcp_cmd(ctx: click.Context, dir_: str | None, agent: str) -> None:
    """Serve the notebook to an AI agent over MCP on stdin/stdout (pip install 'labbook[mcp]').

    \b
    lab mcp --agent claude                 # in an MCP client's configuration
    lab mcp --dir ~/projects/resnet --agent codex

    The agent lists, shows, compares and plots runs, writes hypotheses, predictions and
    notes, launches runs and waits for them, under the rules people follow: a prediction
    made after results exist is stored late, and lab calibration --author NAME scores
    the agent's forecasts on their own.
    """
    from labbook.mcp.start import serve

    serve(dir_ if dir_ is not None else (ctx.obj or {}).get("dir"), agent)
