"""``lab run``: one command as a run, or a sweep of configs as many."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views import tables as render

DEFAULT_MAX_RUNS = 100


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


@click.command(
    "run", cls=RunCommand, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-n", "--name", help="A name for the run (need not be unique); a sweep numbers its runs.")
@click.option("-t", "--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option("--note", help="Why you are running this, in a sentence.")
@click.option("-H", "--hyp", "hypothesis", metavar="H", help="The hypothesis this run tests (e.g. H3).")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), help="A YAML config.")
@click.option("--smoke", is_flag=True, help="Apply the config's smoke: section and tag the run smoke.")
@click.option("--smoke-first", is_flag=True, help="Run one smoke run of the first combination first.")
@click.option(
    "-p",
    "--parallel",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="How many runs of a sweep at once.",
)
@click.option("--fail-fast", is_flag=True, help="Stop the sweep at its first failed run.")
@click.option(
    "--max-runs",
    type=click.IntRange(1),
    default=DEFAULT_MAX_RUNS,
    show_default=True,
    help="Refuse a sweep larger than this (a typo can expand to thousands).",
)
@click.option(
    "--pass-overrides", is_flag=True, help="Append the overrides to the command (for Hydra scripts)."
)
@launcher_options
@click.option("--detach", is_flag=True, help="Slurm: submit and return; lab ls follows the jobs.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing of labbook's own.")
@click.option("--adopt", hidden=True)
@click.option("--sweep-id", hidden=True)
@click.option("--sweep-overrides", hidden=True)
@click.option("--source-config", hidden=True)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(ctx: click.Context, overrides: tuple[str, ...], **opts: Any) -> None:
    """Run COMMAND as a recorded, reproducible run; with overrides that sweep, many runs.

    \b
    lab run -n baseline --tag resnet -- python train.py --lr 3e-4
    lab run -c config.yaml lr=3e-4 model.depth=4 -- python train.py
    lab run -c config.yaml seed=0,1,2 lr=1e-3,3e-4 --parallel 2 -- python train.py --lr {lr}
    lab run -c config.yaml seed=0,1,2 --launcher slurm --slurm-time 4:00:00 -- python train.py

    The command's output streams through unchanged and is saved (lab logs RUN); its
    stdout lines that are JSON objects of numbers become metrics; labbook.init() inside
    it attaches to the run. The resolved config reaches the command as labbook.config(),
    as the file named by $LABBOOK_CONFIG, and through {key} and {config} placeholders.
    lab run exits with the command's exit code (a sweep: 0 if every run finished).
    """
    from labbook.core.config import (
        ConfigError,
        apply,
        expand,
        load,
        parse_override,
        smoke_overrides,
        substitute,
        without_smoke,
    )
    from labbook.launch.local import resolve_command

    argv = ctx.meta.get("labbook.command")
    if argv is None:  # no "--": everything positional is the command (lab run python train.py)
        argv, overrides = list(overrides), ()
    resolve_command(argv)
    parsed = [parse_override(o) for o in overrides]
    base = load(opts["config_file"]) if opts["config_file"] else ({} if parsed or opts["smoke"] else None)
    if base is None and (opts["smoke_first"] or opts["pass_overrides"]):
        raise ConfigError("--smoke-first and --pass-overrides need a config (-c) or overrides")
    grid = expand(parsed) if base is not None else [[]]
    if len(grid) > opts["max_runs"]:
        raise BadInput(
            f"this sweep expands to {len(grid)} runs, more than --max-runs {opts['max_runs']}; "
            "raise --max-runs if you mean it"
        )
    smoke = smoke_overrides(base) if base is not None and (opts["smoke"] or opts["smoke_first"]) else []
    configs = []
    if base is not None:
        clean = without_smoke(base)
        configs = [apply(clean, combo + (smoke if opts["smoke"] else [])) for combo in grid]
    for config in configs:  # every placeholder of every combination checked before anything starts
        substitute(argv, config, Path("config.yaml"))
    texts = [[o.text for o in combo] for combo in grid]
    tags = tuple(opts["tags"]) + (("smoke",) if opts["smoke"] else ())
    slurm = slurm_options(opts)
    notebook = open_notebook(ctx)
    try:
        if opts["smoke_first"]:
            code = _smoke_first(notebook, argv, apply(without_smoke(base), grid[0] + smoke), texts[0], opts)
            if code != 0:
                ctx.exit(code)
        if slurm is not None:
            code = _on_slurm(notebook, argv, configs, texts, tags, opts, slurm)
        elif len(grid) == 1:
            code = _single(
                notebook,
                argv + (texts[0] if opts["pass_overrides"] else []),
                configs[0] if configs else None,
                texts[0],
                tags,
                opts,
            )
        else:
            code = _sweep(notebook, argv, configs, texts, tags, opts)
    finally:
        notebook.close()
    ctx.exit(code)


def _single(
    notebook: Any,
    argv: list[str],
    config: dict[str, Any] | None,
    texts: list[str],
    tags: tuple[str, ...],
    opts: dict[str, Any],
) -> int:
    from labbook.launch.local import execute

    quiet = opts["quiet"]

    def started(run_id: int, filled: list[str]) -> None:
        if not quiet:
            click.echo(f"lab: run {run_id} started: {' '.join(filled)}", err=True)

    recorded = opts["sweep_overrides"].split() if opts["sweep_overrides"] else texts
    source = opts["source_config"] or opts["config_file"]
    extra = {"overrides": recorded, "config_file": source} if config is not None else None
    run_id, code = execute(
        notebook,
        argv,
        name=opts["name"],
        tags=tags,
        note=opts["note"],
        on_start=started,
        hypothesis=opts["hypothesis"],
        config=config,
        sweep_id=opts["sweep_id"],
        extra_capture=extra,
        adopt=opts["adopt"],
    )
    if not quiet:
        run = notebook.get_run(run_id)
        click.echo(
            f"lab: run {run.id} {run.status} in {render.duration(run.duration)} (exit {code}); "
            f"lab show {run.id}",
            err=True,
        )
    return code


def slurm_options(opts: dict[str, Any]) -> Any:
    """The Slurm request, checked against the cluster before anything is written; None: local."""
    given = [k for k in opts if k.startswith("slurm_") and opts[k] not in (None, ())]
    if opts["launcher"] != "slurm":
        if given or opts["detach"]:
            flag = (
                "--" + given[0].replace("_", "-").replace("slurm-opts", "slurm-opt") if given else "--detach"
            )
            raise BadInput(f"{flag} needs --launcher slurm")
        return None
    from labbook.launch.slurm import SlurmOptions, check_reachable

    options = SlurmOptions(
        partition=opts["slurm_partition"],
        time=opts["slurm_time"],
        gpus=opts["slurm_gpus"],
        cpus=opts["slurm_cpus"],
        mem=opts["slurm_mem"],
        extra=tuple(opts["slurm_opts"]),
        parallel=opts["parallel"] if opts["parallel"] > 1 else None,
    )
    check_reachable(options)
    return options


def _on_slurm(
    notebook: Any,
    argv: list[str],
    configs: list[dict[str, Any]],
    texts: list[list[str]],
    tags: tuple[str, ...],
    opts: dict[str, Any],
    options: Any,
) -> int:
    from labbook.launch import slurm
    from labbook.launch.sweep import Job, new_sweep_id, prepare

    many = len(texts) > 1
    sweep_id = new_sweep_id()
    if configs:
        jobs = prepare(notebook, sweep_id, configs, texts, argv, opts["pass_overrides"])
    else:
        jobs = [Job(0, [], None, list(argv))]
    names = [f"{opts['name']}-{j.index}" if opts["name"] and many else opts["name"] for j in jobs]
    for job in jobs:
        job.options = _child_options(opts, (), None)
    submitted = slurm.submit(
        notebook,
        jobs,
        list(configs) or [None],
        sweep_id if many else None,
        options,
        names=names,
        tags=tags,
        note=opts["note"],
        hypothesis=opts["hypothesis"],
    )
    if not opts["quiet"]:
        first, last = submitted[0], submitted[-1]
        what = f"run {first.run_id}" if not many else f"runs {first.run_id}-{last.run_id}, sweep {sweep_id}"
        jobs_text = first.job_id if not many else f"{first.job_id} .. {last.job_id}"
        click.echo(f"lab: submitted {what} to Slurm as job {jobs_text}", err=True)
    if opts["detach"]:
        if not opts["quiet"]:
            click.echo("lab: detached; lab ls shows their status as the jobs run", err=True)
        return 0
    statuses, interrupted = _follow_with_progress(notebook, submitted, opts["quiet"])
    rows = []
    for s in submitted:
        run = notebook.get_run(s.run_id)
        rows.append(
            [
                str(run.id),
                " ".join(s.job.overrides) or "-",
                run.status,
                s.job_id,
                run.job_state or "",
                "" if run.exit_code is None else str(run.exit_code),
                render.duration(run.duration),
            ]
        )
    click.echo(
        render.plain_table(
            ["run", "overrides", "status", "job", "slurm state", "exit", "time"], rows, {0, 5}, 2
        )
    )
    for s in submitted:
        run = notebook.get_run(s.run_id)
        if run.started_at is None and run.status == "crashed":
            click.echo(
                f"run {run.id} never started on its node (Slurm: {run.job_state}); the job's own output is in "
                f"{s.handle.paths.stderr}; is the notebook on a filesystem the nodes share?",
                err=True,
            )
    if interrupted:
        click.echo("interrupted: the jobs were cancelled; their runs ended killed or cancelled", err=True)
        return 130
    return 0 if all(st == "finished" for st in statuses.values()) else 1


def _follow_with_progress(notebook: Any, submitted: list[Any], quiet: bool) -> tuple[dict[int, str], bool]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from labbook.launch.slurm import follow

    progress = Progress(
        TextColumn("slurm"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[running]} running, {task.fields[failed]} not finished"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    with progress:
        task = progress.add_task("slurm", total=len(submitted), running=0, failed=0)

        def update(done: int, running: int, failed: int) -> None:
            progress.update(task, completed=done, running=running, failed=failed)

        return follow(notebook, submitted, update)


def _child_options(opts: dict[str, Any], tags: tuple[str, ...], name: str | None) -> list[str]:
    out = ["--source-config", str(Path(opts["config_file"]).resolve())] if opts["config_file"] else []
    if name:
        out += ["-n", name]
    for tag in tags:
        out += ["-t", tag]
    if opts["note"]:
        out += ["--note", opts["note"]]
    if opts["hypothesis"]:
        out += ["-H", opts["hypothesis"]]
    return out


def _smoke_first(
    notebook: Any, argv: list[str], config: dict[str, Any], texts: list[str], opts: dict[str, Any]
) -> int:
    import subprocess

    from labbook.core.config import dump
    from labbook.launch.sweep import Job, child_command, new_sweep_id

    path = dump(config, notebook.root / "sweeps" / f"smoke-{new_sweep_id()}.yaml")
    name = f"{opts['name']}-smoke" if opts["name"] else None
    job = Job(
        0,
        texts,
        path,
        argv + texts if opts["pass_overrides"] else list(argv),
        options=_child_options(opts, (*opts["tags"], "smoke"), name),
    )
    child = child_command(notebook, job, None)
    click.secho(f"lab: smoke run first ({' '.join(texts) or 'no overrides'})", err=True, bold=True)
    code = subprocess.run(child).returncode
    if code != 0:
        click.echo(f"lab: the smoke run failed (exit {code}); the sweep was not started", err=True)
    return code


def _sweep(
    notebook: Any,
    argv: list[str],
    configs: list[dict[str, Any]],
    texts: list[list[str]],
    tags: tuple[str, ...],
    opts: dict[str, Any],
) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from labbook.launch.sweep import new_sweep_id, prepare, run_sweep

    sweep_id = new_sweep_id()
    jobs = prepare(notebook, sweep_id, configs, texts, argv, opts["pass_overrides"])
    if not opts["quiet"]:
        click.echo(
            f"lab: sweep {sweep_id}: {len(jobs)} runs, {opts['parallel']} at a time "
            f"(lab ls --where \"sweep == '{sweep_id}'\")",
            err=True,
        )
    for job in jobs:
        job.options = _child_options(opts, tags, f"{opts['name']}-{job.index}" if opts["name"] else None)
    progress = Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[running]} running, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=opts["quiet"],
        transient=False,
    )
    with progress:
        task = progress.add_task("sweep", total=len(jobs), running=0, failed=0)

        def update(done: int, running: int, failed: int) -> None:
            progress.update(task, completed=done, running=running, failed=failed)

        result = run_sweep(notebook, jobs, sweep_id, opts["parallel"], opts["fail_fast"], update)
    sweep_summary(result, jobs)
    if result.interrupted:
        return 130
    statuses = [result.statuses.get(j.run_id or -1) for j in jobs]
    return 0 if all(s == "finished" for s in statuses) else 1


def sweep_summary(result: Any, jobs: list[Any]) -> None:
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


@click.command("rerun")
@click.argument("run")
@click.option("--keep-worktree", is_flag=True, help="Leave the temporary checkout in place.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing of labbook's own.")
@click.pass_context
def rerun_cmd(ctx: click.Context, run: str, keep_worktree: bool, quiet: bool) -> None:
    """Run RUN again from its captured commit, patch, config and environment.

    The code is checked out in a temporary git worktree, so today's working tree does not
    matter. What cannot be restored is said first. lab show of the new run says whether
    each metric matched.
    """
    import os as _os

    from labbook.launch.local import execute
    from labbook.launch.rerun import plan, worktree

    notebook = open_notebook(ctx)
    try:
        p = plan(notebook, run)
        for warning in p.warnings:
            click.echo(f"lab: cannot restore: {warning}", err=True)
        with worktree(p, keep_worktree) as code:
            cwd = str(code / p.cwd_in_repo)
            saved = {k: _os.environ.get(k) for k in p.env}
            _os.environ.update(p.env)
            try:

                def started(run_id: int, filled: list[str]) -> None:
                    if not quiet:
                        click.echo(
                            f"lab: run {run_id} reruns run {p.run.id} in {code}: {' '.join(filled)}", err=True
                        )

                run_id, code_ = execute(
                    notebook,
                    p.argv,
                    name=f"rerun-of-{p.run.id}",
                    tags=(*p.run.tags, "rerun"),
                    note=f"rerun of run {p.run.id}",
                    cwd=cwd,
                    config=p.config,
                    on_start=started,
                    extra_capture={
                        "rerun_of": p.run.id,
                        "rerun_warnings": p.warnings,
                        "overrides": p.run.capture.get("overrides", []),
                        "config_file": p.run.capture.get("config_file"),
                    },
                )
            finally:
                for k, v in saved.items():
                    if v is None:
                        _os.environ.pop(k, None)
                    else:
                        _os.environ[k] = v
        if not quiet:
            from labbook.launch.rerun import compare

            rows = compare(p.run, notebook.get_run(run_id))
            same = sum(1 for r in rows if r[3])
            click.echo(
                f"lab: run {run_id} ({notebook.get_run(run_id).status}, exit {code_}): "
                f"{same} of {len(rows)} metrics match run {p.run.id}; lab show {run_id}",
                err=True,
            )
    finally:
        notebook.close()
    ctx.exit(code_)
