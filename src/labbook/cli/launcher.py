"""The launcher flags and what a launch prints, shared by every command that starts runs.

``lab run`` and ``lab ablate`` both take ``--launcher local|slurm|ray`` with the
``--slurm-*`` and ``--ray-*`` options, split their arguments at ``--``, and end a local
sweep on the same summary table; all of that is written once, here.
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
        type=click.Choice(["local", "slurm", "ray"]),
        default="local",
        show_default=True,
        help="Where the runs run: here, as Slurm jobs or as Ray tasks (a cluster's nodes must share the notebook's filesystem).",
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
    click.option(
        "--ray-address",
        metavar="ADDRESS",
        help="The Ray cluster: auto (RAY_ADDRESS, else the head started here; the default), HOST:PORT or ray://HOST:PORT.",
    ),
    click.option(
        "--ray-gpus", type=click.FloatRange(0), metavar="N", help="GPUs per task (a fraction shares one)."
    ),
    click.option(
        "--ray-cpus", type=click.FloatRange(0), metavar="N", help="CPUs per task (default: 1, Ray's)."
    ),
]


def launcher_options(command: F) -> F:
    """``--launcher`` with the ``--slurm-*`` and ``--ray-*`` options, the same wherever runs are launched."""
    for option in reversed(_LAUNCHER_OPTIONS):
        command = option(command)
    return command


def launcher_from(opts: dict[str, Any]) -> Launcher:
    """The launcher the options choose; a cluster is checked before anything is written."""
    from labbook.launch.launcher import Local, ray_launcher, slurm_launcher

    chosen = opts["launcher"]
    for cluster in ("slurm", "ray"):
        given = [k for k in opts if k.startswith(f"{cluster}_") and opts[k] not in (None, ())]
        if given and chosen != cluster:
            flag = "--" + given[0].replace("_", "-").replace("slurm-opts", "slurm-opt")
            raise BadInput(f"{flag} needs --launcher {cluster}")
    detach = bool(opts.get("detach"))
    if detach and chosen == "ray":
        raise BadInput(
            "--detach needs --launcher slurm: Ray ends a driver's tasks when it exits, so lab stays to "
            "follow them (leave it running in tmux or under nohup)"
        )
    if detach and chosen != "slurm":
        raise BadInput("--detach needs --launcher slurm")
    if chosen == "local":
        return Local(opts["parallel"], bool(opts.get("fail_fast")))
    if chosen == "ray":
        if opts["parallel"] > 1:
            raise BadInput(
                "--parallel is for local and Slurm runs: Ray runs as many tasks at once as its nodes' "
                "CPUs and GPUs hold; ask more of each with --ray-cpus or --ray-gpus"
            )
        if opts.get("fail_fast"):
            raise BadInput("--fail-fast is for local sweeps: a Ray batch runs each of its runs to its end")
        address = opts["ray_address"] or "auto"
        return ray_launcher({"address": address, "gpus": opts["ray_gpus"], "cpus": opts["ray_cpus"]})
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
