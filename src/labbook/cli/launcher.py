"""The launcher flags and what a launch prints, shared by every command that starts runs.

``lab run`` and ``lab ablate`` both take ``--launcher local|slurm`` with the ``--slurm-*``
options, split their arguments at ``--``, and end a local sweep on the same summary
table; all of that is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from labbook.errors import BadInput
from labbook.views import tables as render

if TYPE_CHECKING:
    from labbook.launch.launcher import Launcher

F = TypeVar("F", bound=Callable[..., Any])

_LAUNCHER_OPTIONS = [
    click.option(
        "--launcher",
        type=click.Choice(["local", "slurm"]),
        default="local",
        show_default=True,
        help="Where the runs run: here, or as Slurm jobs (the notebook must be on a shared filesystem).",
    ),
    click.option("--slurm-partition", metavar="NAME", help="Slurm partition (default: the cluster's)."),
    click.option(
        "--slurm-time", metavar="TIME", help="Time limit in any Slurm format: 30, 4:00:00, 1-12:00."
    ),
    click.option("--slurm-gpus", type=click.IntRange(0), metavar="N", help="GPUs per job."),
    click.option("--slurm-cpus", type=click.IntRange(1), metavar="N", help="CPUs per job."),
    click.option("--slurm-mem", metavar="SIZE", help="Memory per job, e.g. 16G."),
    click.option(
        "--slurm-opt",
        "slurm_opts",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any other sbatch option; repeat.",
    ),
]


def launcher_options(command: F) -> F:
    """``--launcher`` and the ``--slurm-*`` options, the same wherever runs are launched."""
    for option in reversed(_LAUNCHER_OPTIONS):
        command = option(command)
    return command


def launcher_from(opts: dict[str, Any]) -> Launcher:
    """The launcher the options choose; Slurm is checked against the cluster before anything is written."""
    from labbook.launch.launcher import Local, slurm_launcher

    given = [k for k in opts if k.startswith("slurm_") and opts[k] not in (None, ())]
    detach = bool(opts.get("detach"))
    if opts["launcher"] != "slurm":
        if given or detach:
            flag = (
                "--" + given[0].replace("_", "-").replace("slurm-opts", "slurm-opt") if given else "--detach"
            )
            raise BadInput(f"{flag} needs --launcher slurm")
        return Local(opts["parallel"], bool(opts.get("fail_fast")))
    request = {
        "partition": opts["slurm_partition"],
        "time": opts["slurm_time"],
        "gpus": opts["slurm_gpus"],
        "cpus": opts["slurm_cpus"],
        "mem": opts["slurm_mem"],
        "extra": tuple(opts["slurm_opts"]),
        "parallel": opts["parallel"] if opts["parallel"] > 1 else None,
    }
    return slurm_launcher(request, detach)


class RunCommand(click.Command):
    """Splits its arguments at the first ``--``: overrides before it, the command after."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta["labbook.command"] = args[i + 1 :]
            args = args[:i]
            # Before "--" only options and overrides: options may come anywhere, typos are errors.
            ctx.allow_interspersed_args = True
            ctx.ignore_unknown_options = False
        else:
            ctx.meta["labbook.command"] = None
        return super().parse_args(ctx, args)


def sweep_summary(result: Any, jobs: list[Any]) -> None:
    """A local sweep's table of runs, then the last lines of the first failures' logs."""
    rows = []
    for job in jobs:
        status = result.statuses.get(job.run_id, "not started" if job.exit_code is None else "?")
        rows.append(
            [
                str(job.run_id or ""),
                " ".join(job.overrides) or "-",
                status,
                "" if job.exit_code is None else str(job.exit_code),
                render.duration(job.seconds),
            ]
        )
    click.echo(render.plain_table(["run", "overrides", "status", "exit", "time"], rows, {0, 3}, 2))
    failed = [j for j in jobs if j.exit_code not in (0, None)]
    for job in failed[:3]:
        tail = Path(job.log).read_text(errors="replace").strip().splitlines()[-3:] if job.log else []
        click.echo(f"run {job.run_id or '?'} ({' '.join(job.overrides)}) failed:", err=True)
        for line in tail:
            click.echo(f"    {line}", err=True)
    if result.stopped_early:
        click.echo("stopped at the first failure (--fail-fast)", err=True)
    if result.interrupted:
        click.echo("interrupted: the runs still going were stopped and marked killed", err=True)
