"""``lab run`` and ``lab rerun``: their flags, and what a launch prints.

What to run is planned by ``labbook.launch.plan`` and started by a launcher; this module
only turns flags into those calls and their results into lines on the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labbook.cli.launcher import RunCommand, launcher_from, launcher_options, sweep_summary
from labbook.cli.runs import open_notebook
from labbook.views import tables as render

if TYPE_CHECKING:
    from labbook.launch.launcher import Launcher
    from labbook.launch.local import Capture
    from labbook.launch.plan import Batch, Labels, RunPlan
    from labbook.service.notebook import Notebook

DEFAULT_MAX_RUNS = 100


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
@click.option(
    "--parse",
    "parse",
    multiple=True,
    metavar="REGEX|NAME",
    help="Metrics from output lines: a regex with named groups, or a saved name (lab settings); repeatable.",
)
@click.option(
    "--logdir",
    "logdirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A TensorBoard folder to follow.",
)
@click.option(
    "--no-tensorboard", is_flag=True, help="Do not follow the TensorBoard event files the command writes."
)
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    metavar="GLOB",
    help="Keep the files matching GLOB (below the working directory, ** too) when the command ends; repeatable.",
)
@click.option(
    "--snapshot/--no-snapshot",
    default=None,
    help="Keep the repository's untracked files (default: the snapshot setting, off).",
)
@launcher_options
@click.option("--detach", is_flag=True, help="Slurm only: submit and return; lab ls follows the jobs.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing of labbook's own.")
@click.option("--adopt", hidden=True)
@click.option("--sweep-id", hidden=True)
@click.option("--sweep-overrides", hidden=True)
@click.option("--source-config", hidden=True)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(ctx: click.Context, /, overrides: tuple[str, ...], **opts: Any) -> None:
    """Run COMMAND as a recorded, reproducible run; with overrides that sweep, many runs.

    \b
    lab run -n baseline --tag resnet -- python train.py --lr 3e-4
    lab run -c config.yaml lr=3e-4 model.depth=4 -- python train.py
    lab run -c config.yaml seed=0,1,2 lr=1e-3,3e-4 --parallel 2 -- python train.py --lr {lr}
    lab run -c config.yaml seed=0,1,2 --launcher slurm --slurm-time 4:00:00 -- python train.py
    lab run -c config.yaml seed=0,1,2 --launcher ray --ray-gpus 1 -- python train.py

    The command's output streams through unchanged and is saved (lab logs RUN); its
    stdout lines that are JSON objects of numbers become metrics, and so do the scalars
    of the TensorBoard event files it writes below the working directory (or --logdir)
    and the lines --parse matches; labbook.init() inside it attaches to the run. The resolved config reaches the command as labbook.config(),
    as the file named by $LABBOOK_CONFIG, and through {key} and {config} placeholders.
    lab run exits with the command's exit code (a sweep: 0 if every run finished).
    """
    from labbook.launch.plan import plan_runs

    argv = ctx.meta.get("labbook.command")
    if argv is None:  # no "--": everything positional is the command (lab run python train.py)
        argv, overrides = list(overrides), ()
    plan = plan_runs(
        argv,
        list(overrides),
        opts["config_file"],
        smoke=opts["smoke"],
        smoke_first=opts["smoke_first"],
        pass_overrides=opts["pass_overrides"],
        max_runs=opts["max_runs"],
    )
    tags = tuple(opts["tags"]) + (("smoke",) if opts["smoke"] else ())
    launcher = launcher_from(opts)
    notebook = open_notebook(ctx)
    try:
        opts["capture"] = _capture(notebook, opts)
        if opts["smoke_first"]:
            code = _smoke_first(notebook, plan, opts)
            if code != 0:
                ctx.exit(code)
        if launcher.name in ("slurm", "ray"):
            code = _on_cluster(notebook, plan, tags, opts, launcher)
        elif plan.single:
            code = _single(notebook, plan, tags, opts)
        else:
            code = _sweep(notebook, plan, tags, opts, launcher)
    finally:
        notebook.close()
    ctx.exit(code)


def _single(notebook: Notebook, plan: RunPlan, tags: tuple[str, ...], opts: dict[str, Any]) -> int:
    """One run, supervised in this process (no child ``lab run``): the terminal is the command's."""
    from labbook.launch.local import execute

    quiet = opts["quiet"]

    def started(run_id: int, filled: list[str]) -> None:
        if not quiet:
            click.echo(f"lab: run {run_id} started: {' '.join(filled)}", err=True)

    texts = plan.texts[0]
    config = plan.configs[0] if plan.configs else None
    recorded = opts["sweep_overrides"].split() if opts["sweep_overrides"] else texts
    source = opts["source_config"] or opts["config_file"]
    run_id, code = execute(
        notebook,
        plan.argv + (texts if opts["pass_overrides"] else []),
        name=opts["name"],
        tags=tags,
        note=opts["note"],
        on_start=started,
        hypothesis=opts["hypothesis"],
        config=config,
        sweep_id=opts["sweep_id"],
        extra_capture={"overrides": recorded, "config_file": source} if config is not None else None,
        adopt=opts["adopt"],
        capture=opts["capture"],
    )
    if not quiet:
        run = notebook.get_run(run_id)
        click.echo(
            f"lab: run {run.id} {run.status} in {render.duration(run.duration)} (exit {code}); "
            f"lab show {run.id}",
            err=True,
        )
    return code


def _smoke_first(notebook: Notebook, plan: RunPlan, opts: dict[str, Any]) -> int:
    """One smoke run of the first combination, in the foreground; the sweep starts only if it passes."""
    from labbook.launch.launcher import run_alone
    from labbook.launch.plan import smoke_job

    job = smoke_job(notebook, plan, _labels(opts, tuple(opts["tags"])))
    click.secho(f"lab: smoke run first ({' '.join(job.overrides) or 'no overrides'})", err=True, bold=True)
    code = run_alone(notebook, job)
    if code != 0:
        click.echo(f"lab: the smoke run failed (exit {code}); the sweep was not started", err=True)
    return code


def _batch(notebook: Notebook, plan: RunPlan, tags: tuple[str, ...], opts: dict[str, Any]) -> Batch:
    from labbook.launch.plan import write_batch

    return write_batch(notebook, plan, _labels(opts, tags))


def _labels(opts: dict[str, Any], tags: tuple[str, ...]) -> Labels:
    from labbook.launch.plan import Labels

    return Labels(opts["name"], tags, opts["note"], opts["hypothesis"], _capture_args(opts))


def _capture(notebook: Notebook, opts: dict[str, Any]) -> Capture:
    """What to read besides JSON lines; every --parse pattern is checked before anything runs."""
    from labbook.launch.local import Capture
    from labbook.service.settings import snapshot_by_default

    patterns = notebook.settings.patterns(list(opts["parse"]))
    logdirs = tuple(Path(d).resolve() for d in opts["logdirs"])
    snapshot = opts["snapshot"] if opts["snapshot"] is not None else snapshot_by_default(notebook.settings)
    return Capture(tuple(patterns), logdirs, not opts["no_tensorboard"], tuple(opts["artifacts"]), snapshot)


def _capture_args(opts: dict[str, Any]) -> tuple[str, ...]:
    """The same capture for each child lab run of a sweep."""
    args: list[str] = []
    for pattern in opts["parse"]:
        args += ["--parse", pattern]
    for folder in opts["logdirs"]:
        args += ["--logdir", str(Path(folder).resolve())]
    for pattern in opts["artifacts"]:
        args += ["--artifact", pattern]
    if opts["snapshot"] is not None:  # else each child reads the setting as this run did
        args.append("--snapshot" if opts["snapshot"] else "--no-snapshot")
    return (*args, "--no-tensorboard") if opts["no_tensorboard"] else tuple(args)


def _sweep(
    notebook: Notebook, plan: RunPlan, tags: tuple[str, ...], opts: dict[str, Any], launcher: Launcher
) -> int:
    batch = _batch(notebook, plan, tags, opts)
    if not opts["quiet"]:
        click.echo(
            f"lab: sweep {batch.sweep_id}: {len(batch.jobs)} runs, {opts['parallel']} at a time "
            f"(lab ls --where \"sweep == '{batch.sweep_id}'\")",
            err=True,
        )
    launched = launcher.launch(notebook, batch, _Bars(opts["quiet"], batch.sweep_id, launcher.name))
    sweep_summary(launched.sweep, batch.jobs)
    return launched.exit_code


def _on_cluster(
    notebook: Notebook, plan: RunPlan, tags: tuple[str, ...], opts: dict[str, Any], launcher: Launcher
) -> int:
    """Runs as Slurm jobs or Ray tasks: submitted, followed (unless detached), then their table."""
    quiet = opts["quiet"]
    batch = _batch(notebook, plan, tags, opts)
    launched = launcher.launch(notebook, batch, _Bars(quiet, batch.sweep_id, launcher.name))
    if launched.detached:
        if not quiet:
            click.echo("lab: detached; lab ls shows their status as the jobs run", err=True)
        return 0
    on_ray = launcher.name == "ray"
    click.echo(_cluster_table(notebook, launched.submitted, "ray state" if on_ray else "slurm state"))
    for s in launched.submitted:
        run = notebook.get_run(s.run_id)
        if run.started_at is None and run.status == "crashed":
            if on_ray:
                reason = getattr(s, "reason", "")
                why = f"Ray: {run.job_state}" + (f", {reason}" if reason else "")
                where = "is labbook installed on the node, and the notebook on a filesystem the nodes share?"
            else:
                why = f"Slurm: {run.job_state}"
                where = (
                    f"the job's own output is in {s.handle.paths.stderr}; "
                    "is the notebook on a filesystem the nodes share?"
                )
            click.echo(f"run {run.id} never started on its node ({why}); {where}", err=True)
    if launched.interrupted:
        what = "tasks" if on_ray else "jobs"
        click.echo(f"interrupted: the {what} were cancelled; their runs ended killed or cancelled", err=True)
    return launched.exit_code


def _cluster_table(notebook: Notebook, submitted: list[Any], state: str) -> str:
    """Each run beside its job or task: status, the cluster's last word, exit code and time."""
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
    headers = ["run", "overrides", "status", "job", state, "exit", "time"]
    return render.plain_table(headers, rows, {0, 5}, 2)


class _Bars:
    """``lab run``'s watcher: the submission in one line, then a progress bar on stderr."""

    def __init__(self, quiet: bool, sweep_id: str | None, where: str) -> None:
        self.quiet, self.sweep_id, self.where = quiet, sweep_id, where

    def submitted(self, submitted: list[Any]) -> None:
        if self.quiet:
            return
        first, last = submitted[0], submitted[-1]
        many = len(submitted) > 1
        what = (
            f"run {first.run_id}" if not many else f"runs {first.run_id}-{last.run_id}, sweep {self.sweep_id}"
        )
        if self.where == "ray":
            tasks = "a task" if not many else f"{len(submitted)} tasks"
            click.echo(f"lab: submitted {what} to Ray as {tasks} of job {first.ray_job}", err=True)
            return
        jobs_text = first.job_id if not many else f"{first.job_id} .. {last.job_id}"
        click.echo(f"lab: submitted {what} to Slurm as job {jobs_text}", err=True)

    @contextmanager
    def waiting(self, total: int) -> Iterator[Any]:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self.where in ("slurm", "ray"):
            label, failed = self.where, "not finished"
            eta: list[Any] = []
        else:
            label, failed = "sweep", "failed"
            eta = [TextColumn("ETA"), TimeRemainingColumn()]
        progress = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[running]} running, {task.fields[failed]} " + failed),
            TimeElapsedColumn(),
            *eta,
            console=Console(stderr=True),
            disable=self.quiet,
            transient=False,
        )
        with progress:
            task = progress.add_task(label, total=total, running=0, failed=0)

            def update(done: int, running: int, failed: int) -> None:
                progress.update(task, completed=done, running=running, failed=failed)

            yield update


@click.command("rerun")
@click.argument("run")
@click.option("--keep-worktree", is_flag=True, help="Leave the temporary checkout in place.")
@click.option("--allow-missing", is_flag=True, help="Run even when files the run had at launch are missing.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing of labbook's own.")
@click.pass_context
def rerun_cmd(ctx: click.Context, run: str, keep_worktree: bool, allow_missing: bool, quiet: bool) -> None:
    """Run RUN again from its captured commit, patch, config, snapshot and environment.

    The code is checked out in a temporary git worktree, so today's working tree does not
    matter; the run's source snapshot (lab run --snapshot) is put back in it. If a file
    the run had at launch is missing there (an untracked file not snapshotted, a file its
    arguments named), the rerun is refused with the list. What cannot be restored is said
    first. lab show of the new run says whether each metric matched; the artifacts that
    differ from the original's are named at the end.
    """
    from labbook.launch.rerun import plan, run_again
    from labbook.service.detail import rerun_match as compare

    notebook = open_notebook(ctx)
    try:
        p = plan(notebook, run)
        for warning in p.warnings:
            click.echo(f"lab: cannot restore: {warning}", err=True)

        def started(run_id: int, filled: list[str], where: Any) -> None:
            if not quiet:
                click.echo(
                    f"lab: run {run_id} reruns run {p.run.id} in {where}: {' '.join(filled)}", err=True
                )

        def say(line: str) -> None:
            click.echo(f"lab: cannot restore: {line}", err=True)

        run_id, code = run_again(notebook, p, keep_worktree, started, allow_missing, say)
        if not quiet:
            rows = compare(p.run, notebook.get_run(run_id))
            same = sum(1 for r in rows if r[3])
            click.echo(
                f"lab: run {run_id} ({notebook.get_run(run_id).status}, exit {code}): "
                f"{same} of {len(rows)} metrics match run {p.run.id}; lab show {run_id}",
                err=True,
            )
            _rerun_artifacts(notebook, p.run.id, run_id)
    finally:
        notebook.close()
    ctx.exit(code)


def _rerun_artifacts(notebook: Notebook, original: int, rerun: int) -> None:
    """Which kept outputs (and snapshot files) of the rerun differ from the original's."""
    from labbook.views.artifacts import diff_words

    for snapshot, what in ((False, "artifacts"), (True, "snapshot files")):
        d = notebook.artifacts.differ(original, rerun, snapshot=snapshot)
        if d.differs:
            words = diff_words(d, f"run {original}", f"run {rerun}")
            click.echo(f"lab: {what} that differ from run {original}: {words}", err=True)
        elif d.same:
            click.echo(f"lab: {what}: all {d.same} the same as run {original}'s", err=True)
