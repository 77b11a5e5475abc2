"""Commands about runs: ``run``, ``ls``, ``show``, ``logs``, ``metrics``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from labbook.cli.output import echo_json, json_or_hint, show
from labbook.core.sizes import size_text
from labbook.errors import BadInput
from labbook.launch import settle_jobs
from labbook.records.artifacts import Artifact
from labbook.records.checks import is_check_key, report_of
from labbook.records.runs import RunRecord
from labbook.service.notebook import Notebook, register_job_settler
from labbook.views import columns as cols
from labbook.views import runs as views
from labbook.views import tables as render
from labbook.views.runs import RerunRows


def open_notebook(ctx: click.Context) -> Notebook:
    """The notebook ``--dir`` names (or the nearest one), with the clusters' settling hooked into reaping."""
    register_job_settler(settle_jobs)
    return Notebook.open((ctx.obj or {}).get("dir"))


# -- lab ls ----------------------------------------------------------------------


@click.command("ls")
@click.option("-w", "--where", help="Filter, e.g. \"status == 'finished' and acc.max > 0.9\".")
@click.option("-s", "--sort", help="Sort keys, comma-separated; '-' for descending, e.g. -acc.max.")
@click.option("-c", "--columns", help="Columns to show, comma-separated (default: a useful set).")
@click.option(
    "-l", "--limit", type=int, default=50, show_default=True, help="At most this many runs; 0 for all."
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option("--all", "archived", is_flag=True, help="Archived runs too (lab archive).")
@click.option(
    "--group-by",
    "group",
    metavar="variant|KEY",
    help="One row per variant (seeds pooled) or per value of a parameter: n, mean and 95% CI of each metric.",
)
@click.pass_context
def ls_cmd(
    ctx: click.Context,
    where: str | None,
    sort: str | None,
    columns: str | None,
    limit: int,
    as_json: bool,
    archived: bool = False,
    group: str | None = None,
) -> None:
    """List runs, newest first.

    \b
    lab ls --where "status == 'finished' and acc.max > 0.9" --sort -acc.max
    lab ls --where "'baseline' in tags and lr < 1e-3" --columns id,name,lr,acc.max
    lab ls --group-by variant --columns acc.last,loss.min
    """
    if group is not None:
        from labbook.service.settings import noise_of

        with open_notebook(ctx) as nb:
            runs, _ = nb.list_runs(where=where, sort=sort or "id", limit=0, archived=archived)
            noise, noise_set = noise_of(nb.settings, None)
        if noise_set and group == "variant":
            click.echo(f"noise keys {', '.join(noise)} (lab settings)", err=True)
        _variants(runs, columns, group, as_json, noise)
        return
    with open_notebook(ctx) as nb:
        runs, total = nb.list_runs(where=where, sort=sort, limit=limit, archived=archived)
    if as_json:
        echo_json(views.runs_list(runs))
        return
    names = cols.parse_columns(columns) or cols.default_columns(runs)
    getters = [cols.column(n, runs) for n in names]
    if not runs:
        click.echo("no runs match" if where else "no runs yet; start one with: lab run -- COMMAND")
        return
    numeric = {i for i, g in enumerate(getters) if cols.is_numeric(g, runs)}
    rows = [[render.number(g(r)) for g in getters] for r in runs]
    status_col = names.index("status") if "status" in names else None
    click.echo(render.plain_table(names, rows, numeric, status_col))
    if total > len(runs):
        click.echo(f"{len(runs)} of {total} runs shown; --limit 0 shows all")


# -- lab show --------------------------------------------------------------------


@click.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--patch", is_flag=True, help="Print the uncommitted diff captured at launch.")
@click.option("--packages", is_flag=True, help="Print the package list (pip freeze format).")
@click.pass_context
def show_cmd(ctx: click.Context, run: str, as_json: bool, patch: bool, packages: bool) -> None:
    """Show everything recorded about RUN (a short id, a name, or a uid prefix)."""
    from labbook.service.detail import detail

    with open_notebook(ctx) as nb:
        d = detail(nb, run)
    record, patch_text, packages_text = d.run, d.patch, d.packages
    files, rerun, damage, artifacts = d.files, d.rerun, d.damage, d.artifacts
    if patch:
        click.echo(patch_text, nl=False) if patch_text else click.echo("no uncommitted changes were captured")
        return
    if packages:
        click.echo(packages_text or "no package list was captured")
        return
    if as_json:
        echo_json(views.run_detail(record, patch_text, packages_text, files, damage, rerun, artifacts))
        return
    _show_text(record, patch_text, packages_text, files, rerun, damage, artifacts)


def _origin_rows(cap: dict[str, Any]) -> list[tuple[str, Any]]:
    """Where points came from besides run.log: an import, or TensorBoard files lab run followed."""
    rows: list[tuple[str, Any]] = []
    imported = cap.get("import")
    if imported:
        when = render.when(imported.get("imported_at"))
        rows.append(
            ("imported", f"from {imported['source']} {imported['origin']} (id {imported['id']}), {when}")
        )
        if imported.get("artifacts"):
            rows.append(
                (
                    "artifacts",
                    f"{len(imported['artifacts'])} at the source: " + ", ".join(imported["artifacts"][:5]),
                )
            )
    followed = (cap.get("tensorboard") or {}).get("files") or []
    if followed:
        points = cap["tensorboard"].get("points", 0)
        rows.append(
            ("tensorboard", f"{points:,} points from {len(followed)} event file(s): {followed[0]['path']}")
        )
    for entry in followed:
        for kind, tags in (entry.get("not stored") or {}).items():
            rows.append(("", f"{kind} not stored: " + ", ".join(f"{t} ({n})" for t, n in tags.items())))
    return rows


def _show_text(
    r: RunRecord,
    patch: str,
    packages: str,
    files: dict[str, int],
    rerun: RerunRows | None = None,
    damage: list[str] | None = None,
    artifacts: list[Artifact] | None = None,
) -> None:
    from rich import box
    from rich.table import Table

    cap = r.capture
    rows: list[tuple[str, Any]] = []
    title = f"run {r.id}" + (f"  {r.name}" if r.name else "") + f"  (uid {r.uid})"
    exit_part = f" (exit {r.exit_code})" if r.exit_code is not None else ""
    rows.append(("status", render.status_text(r.status) + exit_part if r.status else r.status))
    if r.archived_at is not None:
        rows.append(("archived", f"{render.when(r.archived_at)}: left out of lab ls and lab compare (--all)"))
    if r.lost:
        rows.append(("data", f"lost {r.lost:,} points that run.log accepted (the disk refused them)"))
    for line in damage or ():
        rows.append(("damage", line.removeprefix(f"run {r.id}: ") + "; `lab verify` checks the notebook"))
    if r.job_id:
        cluster, unit = ("ray", "task") if r.source == "ray" else ("slurm", "job")
        rows.append((cluster, f"{unit} {r.job_id}" + (f" ({r.job_state})" if r.job_state else "")))
    if r.command:
        rows.append(("command", " ".join(cap.get("command_filled") or r.command)))
    if cap.get("config") is not None:
        source = cap.get("config_file") or "overrides only"
        overrides = " ".join(cap.get("overrides") or []) or "none"
        rows.append(("config", f"{source}, overrides: {overrides}"))
    elif cap.get("argv"):
        rows.append(("script", " ".join(cap["argv"])))
    if r.cwd or not cap.get("import"):
        rows.append(("cwd", r.cwd or ""))
    rows += _origin_rows(cap)
    times = f"started {render.when(r.started_at)}" if r.started_at else f"queued {render.when(r.created_at)}"
    if r.ended_at:
        times += f", ended {render.when(r.ended_at)}"
    rows.append(("time", f"{times}, {render.duration(r.duration)}"))
    system = cap.get("system") or {}
    if system:
        ram = system.get("ram_bytes")
        gpus = system.get("gpus") or []
        gpu_text = ", ".join(g["name"] for g in gpus) if gpus else "no GPU"
        ram_text = f"{ram / 2**30:.1f} GiB RAM" if ram else "RAM unknown"
        rows.append(
            ("host", f"{system.get('hostname')} ({system.get('cpu_count')} CPUs, {ram_text}, {gpu_text})")
        )
    elif r.host:
        rows.append(("host", r.host))
    py = cap.get("python") or {}
    if py:
        n_pkgs = len(packages.splitlines()) if packages else 0
        rows.append(("python", f"{py.get('version', '?')} ({py.get('executable', '?')}), {n_pkgs} packages"))
    git = cap.get("git")
    if git is not None:
        rows.append(("git", _git_text(git, patch)))
        if git.get("untracked"):
            rows.append(("untracked", _untracked_text(git)))
    elif r.status == "running":
        rows.append(("capture", "in progress"))
    env = cap.get("env") or {}
    if env:
        rows.append(("env", "  ".join(f"{k}={v}" for k, v in env.items())))
    if r.tags:
        rows.append(("tags", ", ".join(r.tags)))
    if r.note:
        rows.append(("note", r.note))
    if r.params:
        rows.append(("params", "  ".join(f"{k}={render.number(v)}" for k, v in r.params.items())))
    summary = {k: v for k, v in r.summary.items() if not is_check_key(k)}
    if summary:
        rows.append(("summary", "  ".join(f"{k}={render.number(v)}" for k, v in summary.items())))
    if files:
        rows.append(("files", "  ".join(f"{k} ({size_text(v)})" for k, v in files.items())))
    rows += _artifact_rows(r, artifacts or [])

    from rich.text import Text

    parts: list[Any] = [Text(title, style="bold")]
    head = Table(box=None, show_header=False, pad_edge=False)
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    for key, value in rows:
        head.add_row(key, value)
    parts.append(head)
    if rerun is not None:
        parts += ["", _rerun_text(rerun)]
    if r.metrics:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for col in ("metric", "last", "min", "max", "mean", "count", "last step"):
            table.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
        for key, m in r.metrics.items():
            count = f"{m.count}" + (f" ({m.nan_count} NaN)" if m.nan_count else "")
            count += f" ({m.lost:,} lost)" if m.lost else ""
            table.add_row(
                key,
                *(render.number(v) for v in (m.last, m.min, m.max, m.mean)),
                count,
                render.number(m.last_step),
            )
        parts += ["", table]
    else:
        parts.append("no metrics logged")
    report = report_of(r)
    if report is not None:
        from labbook.checks.report import Report

        parts += ["", Text("sanity checks", style="bold"), Text(Report.from_json(report).render())]
    show(*parts)


ARTIFACTS_SHOWN = 20


def _artifact_rows(r: RunRecord, arts: list[Artifact]) -> list[tuple[str, Any]]:
    """Each kept output with its size and hash; the source snapshot in one line, with what it skipped."""
    from labbook.records.artifacts import OUTPUT, SNAPSHOT
    from labbook.views.artifacts import SHORT_HASH, size_text, snapshot_of

    outputs = [a for a in arts if a.kind != SNAPSHOT]
    rows: list[tuple[str, Any]] = []
    for a in outputs[:ARTIFACTS_SHOWN]:
        kind = f"{a.kind}, " if a.kind not in (None, OUTPUT) else ""
        text = f"{a.name} ({kind}{size_text(a.size)}, {a.hash[:SHORT_HASH]})"
        rows.append(("artifacts" if not rows else "", text))
    if len(outputs) > ARTIFACTS_SHOWN:
        rows.append(("", f"... {len(outputs) - ARTIFACTS_SHOWN} more (lab artifacts ls {r.id})"))
    snap = r.capture.get("snapshot") or {}
    count, size = snapshot_of(arts)
    if snap or count:
        text = f"{count} untracked file{'s' if count != 1 else ''}, {size_text(size)}"
        if snap.get("skipped_count"):
            names = ", ".join(s["path"] for s in snap.get("skipped", [])[:5])
            text += f"; {snap['skipped_count']} skipped over the limits: {names}"
        rows.append(("snapshot", text))
    return rows


def _rerun_text(rerun: RerunRows) -> str:
    original_id, rows = rerun
    if not rows:
        return f"rerun of run {original_id} (no metrics to compare)"
    same = sum(1 for row in rows if row[3])
    lines = [f"rerun of run {original_id}: {same} of {len(rows)} metrics match (last value)"]
    for key, then, now, ok in rows:
        mark = "same" if ok else f"differs: {render.exact(then)} then, {render.exact(now)} now"
        lines.append(f"  {key}: {render.number(now)} ({mark})")
    return "\n".join(lines)


def _git_text(git: dict[str, Any], patch: str) -> str:
    if git.get("repo") is None:
        return f"none ({git.get('reason', 'not a git repository')})"
    commit = (git.get("commit") or "no commit")[:10]
    text = f"{git.get('branch') or 'detached'} @ {commit}"
    extras = []
    if git.get("dirty"):
        lines = patch.count("\n")
        extras.append(f"uncommitted changes: {lines}-line patch (lab show --patch)")
        if git.get("patch_truncated"):
            extras.append("patch truncated")
    n_untracked = git.get("untracked_count", 0)
    if n_untracked:
        extras.append(f"{n_untracked:,} untracked file{'s' if n_untracked != 1 else ''}")
    envs = git.get("untracked_envs") or []
    if envs:
        extras.append(f"untracked environment{'s' if len(envs) != 1 else ''} {', '.join(envs)}")
    if git.get("remote"):
        extras.append(git["remote"])
    return text + ("; " + "; ".join(extras) if extras else "; clean")


UNTRACKED_SHOWN = 5


def _untracked_text(git: dict[str, Any]) -> str:
    """A few of the untracked paths, saying how many more there are (--json has the kept list)."""
    paths: list[str] = git["untracked"]
    total = max(git.get("untracked_count", len(paths)), len(paths))
    shown = ", ".join(paths[:UNTRACKED_SHOWN])
    if total <= UNTRACKED_SHOWN:
        return shown
    return (
        f"{shown}, … (first {min(UNTRACKED_SHOWN, len(paths))} of {total:,} shown; --json lists {len(paths)})"
    )


# -- lab logs / lab metrics ----------------------------------------------------------


@click.command("logs")
@click.argument("run")
@click.option("--stderr", "stream", flag_value="stderr", help="Only what the command wrote to stderr.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing what a running run writes until it ends.")
@click.pass_context
def logs_cmd(ctx: click.Context, run: str, stream: str | None, follow: bool) -> None:
    """Print RUN's saved output (stdout and stderr, in the order they arrived).

    With -f, a pending or running run's output is printed as it arrives; the command
    returns once the run has ended and everything it wrote is printed.
    """
    from labbook.records.runs import UNFINISHED
    from labbook.service.follow import follow_output, no_output

    out = sys.stdout.buffer

    def write(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    with open_notebook(ctx) as nb:
        record = nb.get_run(run)
        if follow and record.status in UNFINISHED:
            try:
                follow_output(nb, record, stream or "output", write)
            except KeyboardInterrupt:
                ctx.exit(130)
            return
        path = nb.output_path(record, stream or "output")
    if not path.exists():
        raise no_output(record)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            out.write(chunk)
    out.flush()


@click.command("metrics")
@click.argument("run")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the series as JSON arrays.")
@click.option(
    "-f", "--follow", is_flag=True, help="Print KEY's points as they are written until the run ends."
)
@click.pass_context
def metrics_cmd(ctx: click.Context, run: str, key: str | None, as_json: bool, follow: bool) -> None:
    """Print the series of metric KEY of RUN (without KEY: list its metrics)."""
    from labbook.records.runs import UNFINISHED

    if follow and (key is None or as_json):
        raise BadInput("--follow prints one KEY's points as lines: lab metrics -f RUN KEY, without --json")

    def line(step: int, value: float, t: float) -> str:
        return f"{step}\t{render.exact(value)}\t{t:.3f}"

    with open_notebook(ctx) as nb:
        record = nb.get_run(run)
        if key is None:
            keys = nb.metric_keys(record)
            if as_json:
                echo_json(keys)
            else:
                click.echo("\n".join(keys) if keys else f"run {record.id} has no metrics")
            return
        if follow and record.status in UNFINISHED:
            _follow_metric(ctx, nb, record, key, line)
            return
        s = nb.series(record, key)
    if as_json:
        echo_json(views.series_dict(record, key, s))
        return
    lines = ["step\tvalue\ttime"]
    lines += [line(*p) for p in zip(s.steps.tolist(), s.values.tolist(), s.times.tolist(), strict=True)]
    sys.stdout.write("\n".join(lines) + "\n")


def _follow_metric(
    ctx: click.Context, nb: Notebook, record: RunRecord, key: str, line: Callable[[int, float, float], str]
) -> None:
    """``lab metrics -f``: the header, then each batch of new points as it lands."""
    from labbook.service.follow import follow_metric

    if key not in record.metrics:
        known = ", ".join(sorted(record.metrics)) or "none yet"
        click.echo(
            f"lab: run {record.id} has not logged {key!r} yet (its metrics: {known}); waiting", err=True
        )

    def emit(points: list[tuple[int, float, float]]) -> None:
        sys.stdout.write("".join(line(*p) + "\n" for p in points))
        sys.stdout.flush()

    sys.stdout.write("step\tvalue\ttime\n")
    sys.stdout.flush()
    try:
        follow_metric(nb, record, key, emit)
    except KeyboardInterrupt:
        ctx.exit(130)


# -- lab ls --group-by ---------------------------------------------------------------------


def _variants(
    runs: list[RunRecord], columns: str | None, group: str, as_json: bool, noise: tuple[str, ...]
) -> None:
    """One row per variant with n, mean, std and the 95% CI of each metric."""
    from labbook.service.compare.variants import variant_table
    from labbook.views.compare import variants_dict

    names = cols.variant_columns(runs, columns)
    rows, excluded = variant_table(runs, names, group=group, noise=noise)
    if json_or_hint(
        as_json,
        lambda: variants_dict(group, rows, excluded),
        not rows,
        "no finished runs match" + (f" (left out: {_left_out(excluded)})" if excluded else ""),
    ):
        return
    table = []
    for r in rows:
        cells = ["" if r.summaries[name] is None else render.ci_text(r.summaries[name]) for name in names]
        table.append([r.label, str(len(r.runs)), *cells])
    click.echo(render.plain_table([group, "n", *names], table, {1}))
    methods = sorted({s.method for r in rows for s in r.summaries.values() if s and s.n > 1})
    click.echo(
        f"mean ± half-width [95% CI of the mean: {' / '.join(methods) or 'none'}], sd: standard deviation"
    )
    if excluded:
        click.echo(f"left out: {_left_out(excluded)}")


def _left_out(excluded: dict[str, list[int]]) -> str:
    return (
        ", ".join(f"{len(v)} {k}" for k, v in sorted(excluded.items()))
        + " (smoke runs and runs that did not finish)"
    )
