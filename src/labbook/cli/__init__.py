"""The ``lab`` command: a thin adapter that parses, calls the notebook service, and prints.

Subcommands live in modules of this package and are imported only when used, so
``lab --help`` costs little more than starting Python and importing click. Errors are
rendered at one place, ``LabGroup.invoke``: a ``LabbookError`` becomes one line on
stderr and its exit code; anything unexpected becomes one line and exit 1 (set
``LABBOOK_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from labbook import __version__

#: name → (module, function, one-line help). The help is here so --help imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("notebook", "init_cmd", "Create a notebook (.labbook/) in a project."),
    "run": ("launch", "run_cmd", "Run a command (or a sweep of configs) as recorded runs."),
    "rerun": ("launch", "rerun_cmd", "Run a run again from its captured code, config and environment."),
    "ls": ("runs", "ls_cmd", "List runs, filtered and sorted."),
    "show": ("runs", "show_cmd", "Show everything recorded about a run."),
    "logs": ("runs", "logs_cmd", "Print a run's saved output."),
    "metrics": ("runs", "metrics_cmd", "Print one metric series of a run."),
    "artifacts": ("artifacts", "artifacts_cmd", "Files kept with runs: checkpoints, outputs, sources."),
    "tag": ("manage", "tag_cmd", "Add and remove tags of runs (+TAG -TAG)."),
    "rename": ("manage", "rename_cmd", "Give a run a new name."),
    "rm": ("manage", "rm_cmd", "Move runs to the trash (lab rm --undo brings them back)."),
    "archive": ("manage", "archive_cmd", "Keep runs but leave them out of ls and compare."),
    "gc": ("manage", "gc_cmd", "Empty the trash: delete its runs and their files for good."),
    "plot": ("plot", "plot_cmd", "Plot a metric: one line per variant, with its CI band."),
    "compare": ("compare", "compare_cmd", "Compare runs or variants: diffs, tests and a verdict."),
    "ablate": ("ablate", "ablate_cmd", "Run leave-one-out ablations of components and rank them."),
    "hyp": ("research", "hyp_cmd", "Hypotheses: add, list, show."),
    "predict": ("research", "predict_cmd", "Write down a prediction before any result exists."),
    "resolve": ("research", "resolve_cmd", "Record how a prediction or hypothesis ended."),
    "due": ("research", "due_cmd", "List predictions waiting to be resolved."),
    "calibration": ("calibration", "calibration_cmd", "Score predictions: Brier, coverage, reliability."),
    "note": ("journal", "note_cmd", "Write a note; --against H records evidence against."),
    "journal": ("journal", "journal_cmd", "The timeline of what happened."),
    "search": ("journal", "search_cmd", "Full-text search over everything."),
    "export": ("journal", "export_cmd", "Write a hypothesis up in Markdown with figures."),
    "papers": ("papers", "papers_cmd", "Papers: import, triage, guess results before reading."),
    "problems": ("problems", "problems_cmd", "The important problems; match a new method against them."),
    "ideas": ("problems", "ideas_cmd", "Ideas rated by you and mentors; raters scored."),
    "plan": ("problems", "plan_cmd", "Tasks ordered riskiest cheap step first."),
    "today": ("problems", "today_cmd", "One screen of what needs you today."),
    "failures": (
        "failures",
        "failures_cmd",
        "Per-example results: sample failures, review them into piles, diff.",
    ),
    "check": (
        "check",
        "check_cmd",
        "Run a script only as far as its sanity checks (labbook.checks); print them.",
    ),
    "import": ("imports", "import_cmd", "Import runs from TensorBoard, MLflow or W&B, every point."),
    "settings": ("settings", "settings_cmd", "Notebook settings: saved --parse patterns and more."),
    "ui": ("ui", "ui_cmd", "Serve the notebook's web dashboard (pip install 'labbook[web]')."),
    "login": ("sync", "login_cmd", "Send runs to a team server from now on (lab login URL --token T)."),
    "logout": ("sync", "logout_cmd", "Forget the team server: runs are kept here only."),
    "sync": ("sync", "sync_cmd", "Send the team server every run it does not yet hold whole."),
    "push": ("sync", "push_cmd", "Move this notebook's runs and research into the team server's."),
    "pull": ("sync", "pull_cmd", "Bring the team server's runs and research into this notebook."),
    "server": ("server", "server_cmd", "Serve a team notebook on PostgreSQL, with tokens (labbook[server])."),
    "mcp": ("mcp", "mcp_cmd", "Serve the notebook to an AI agent over MCP (labbook[mcp])."),
    "backup": ("notebook", "backup_cmd", "Write a consistent copy of the notebook, checked."),
    "verify": ("notebook", "verify_cmd", "Check the database and every series file; exit 1 on damage."),
    "demo": ("demo", "demo_cmd", "Run a small real experiment in a throwaway notebook."),
}


class LabGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module = importlib.import_module(f".{spec[0]}", __name__)
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, spec[2]) for name, spec in COMMANDS.items()])

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; click's usage errors, too, become one line and exit code 2."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as err:
            where = f"; see {err.ctx.command_path} --help" if err.ctx is not None else ""
            click.echo(f"error: {err.format_message().rstrip('.')}{where}", err=True)
            code = err.exit_code
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            code = err.exit_code
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        import warnings

        from labbook.errors import LabbookError, LabbookWarning

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", LabbookWarning)
                warnings.showwarning = _one_line_warnings(warnings.showwarning, LabbookWarning)
                result = super().invoke(ctx)
            if ctx.meta.get("labbook.sends_research"):  # set by the commands marked ``sends_research``
                from labbook.cli.sync import send_research_now

                send_research_now((ctx.obj or {}).get("dir"))
            return result
        except LabbookError as err:
            _debug_traceback()
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `lab ls | head`: the reader left; that is not an error.
            sys.stderr.close()
            ctx.exit(0)
        except Exception as err:
            _debug_traceback()
            click.echo(
                f"internal error: {type(err).__name__}: {err} (set LABBOOK_DEBUG=1 for the traceback)",
                err=True,
            )
            ctx.exit(1)


def _one_line_warnings(original: Any, ours: type[Warning]) -> Any:
    """labbook's warnings (damage met while reading, say) print as one line each, as errors do."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ours):
            click.echo(f"warning: {message}", err=True)
        else:
            original(message, category, *args, **kwargs)

    return show


def _debug_traceback() -> None:
    if os.environ.get("LABBOOK_DEBUG"):
        import traceback

        traceback.print_exc()


@click.group("lab", cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dir",
    "dir_",
    envvar="LABBOOK_DIR",
    metavar="PATH",
    help="Notebook to use (a project containing .labbook/, or the notebook itself). "
    "Default: the nearest .labbook/ at or above the current directory.",
)
@click.version_option(__version__, "--version", prog_name="labbook")
@click.pass_context
def cli(ctx: click.Context, dir_: str | None) -> None:
    """labbook: run experiments, predict before you look, and keep an honest record."""
    ctx.obj = {"dir": dir_}


def main() -> None:
    cli(prog_name="lab")
