"""``lab ablate``: leave-one-out or factorial runs of a config's components, then their effects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from labbook.cli.launcher import RunCommand, launcher_from, launcher_options, sweep_summary
from labbook.cli.output import agg_option, echo_json
from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views import tables as render
from labbook.views.compare import ablation_dict

if TYPE_CHECKING:
    from labbook.launch.launcher import Launched


@click.command(
    "ablate",
    cls=RunCommand,
    context_settings={"ignore_unknown_options": False, "allow_interspersed_args": True},
    options_metavar="[OPTIONS] -- COMMAND...",
)
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="The YAML config with every component on.",
)
@click.option(
    "--report",
    "report_sweep",
    metavar="SWEEP",
    help="Analyse the runs of an ablation sweep already made (e.g. after --detach); runs nothing.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Slurm only: submit the runs and return; --report SWEEP analyses them later.",
)
@click.option(
    "--components", required=True, help="Boolean config keys, comma-separated, e.g. a.enabled,b.enabled."
)
@click.option("-m", "--metric", required=True, help="The metric to attribute.")
@click.option(
    "--seeds", type=click.IntRange(1, 1000), default=3, show_default=True, help="Seeds per configuration."
)
@click.option("--seed-key", default="seed", show_default=True, help="The config key that takes the seed.")
@click.option(
    "--factorial", is_flag=True, help="Every on/off combination (at most 4 components), not leave-one-out."
)
@agg_option
@click.option(
    "--goal",
    type=click.Choice(["max", "min"]),
    help="Whether higher or lower is better (default: guessed from the name).",
)
@launcher_options
@click.option(
    "-p", "--parallel", type=click.IntRange(1, 256), default=1, show_default=True, help="Runs at a time."
)
@click.option(
    "--max-runs",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Refuse an ablation larger than this.",
)
@click.option("-t", "--tag", "tags", multiple=True, help="A tag for every run; repeat for several.")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
@click.pass_context
def ablate_cmd(ctx: click.Context, /, **opts: Any) -> None:
    """Run the full config and each leave-one-out, then rank the components by their effect.

    \b
    lab ablate -c config.yaml --components aug.enabled,warmup.enabled --metric val_acc -- python train.py
    lab ablate -c config.yaml --components a.on,b.on,c.on --factorial --seeds 5 -p 4 -- python train.py

    The runs are one sweep (lab ls --where "sweep == 'ID'"), each an ordinary lab run
    with the config's component keys set true/false and the seed key set per seed. The
    report gives each component's contribution to the metric (full minus without it, or
    its least-squares main effect with --factorial) with a 95% CI, largest first, and
    names the component that carries the result.
    """
    from labbook.core.config import load
    from labbook.launch.local import resolve_command
    from labbook.launch.plan import check_placeholders
    from labbook.service.ablation import parse_components, plan

    components = parse_components(opts["components"])
    if opts["report_sweep"]:
        _ablation_report(ctx, opts["report_sweep"], components, opts)
        return
    if not opts["config_file"]:
        raise BadInput(
            "give the config with -c CONFIG (or --report SWEEP to analyse an ablation already run)"
        )
    if opts["detach"] and opts["launcher"] == "local":
        raise BadInput("--detach needs --launcher slurm: local runs end with the command")
    argv = ctx.meta.get("labbook.command")
    if not argv:
        raise BadInput(
            "give the command after --, e.g. lab ablate -c config.yaml --components a.on -m acc -- python train.py"
        )
    resolve_command(argv)
    p = plan(load(opts["config_file"]), components, opts["seeds"], opts["factorial"], opts["seed_key"])
    if len(p.configs) > opts["max_runs"]:
        raise BadInput(
            f"this ablation is {len(p.configs)} runs, more than --max-runs {opts['max_runs']}; raise it if you mean it"
        )
    check_placeholders(argv, p.configs)
    launcher = launcher_from(opts)  # checks the cluster before anything is written
    nb = open_notebook(ctx)
    try:
        sweep_id, launched = _run_ablation(nb, p, argv, opts, launcher)
        if launched.detached:
            click.echo(
                f"lab: detached; when the jobs are done: lab ablate --report {sweep_id} "
                f"--components {opts['components']} -m {opts['metric']}"
                + (" --factorial" if opts["factorial"] else ""),
                err=True,
            )
            return
        _print_ablation(nb, sweep_id, components, opts)
    finally:
        nb.close()
    ctx.exit(0 if launched.all_finished else 1)


def _print_ablation(nb: Any, sweep_id: str, components: list[str], opts: dict[str, Any]) -> None:
    """Attribute the metric over the sweep's runs and print the report (text or JSON)."""
    from labbook.service.ablation import analyse

    analysis = analyse(
        nb,
        sweep_id,
        components,
        opts["metric"],
        agg=opts["agg"],
        factorial=opts["factorial"],
        goal=opts["goal"],
    )
    if opts["as_json"]:
        echo_json(ablation_dict(analysis, sweep_id))
    else:
        click.echo(_ablation_text(analysis, sweep_id))


def _ablation_report(ctx: click.Context, sweep_id: str, components: list[str], opts: dict[str, Any]) -> None:
    """The analysis of an ablation sweep whose runs exist already."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]+", sweep_id):
        raise BadInput(f"--report {sweep_id!r} is not a sweep id; lab ls --columns id,sweep shows them")
    if ctx.meta.get("labbook.command") or opts["config_file"]:
        raise BadInput("--report analyses runs already made: give it no -c and no command")
    with open_notebook(ctx) as nb:
        if not nb.list_runs(where=f"sweep == '{sweep_id}'", limit=1)[0]:
            raise BadInput(
                f"no run of sweep {sweep_id!r} in this notebook; lab ls --columns id,sweep shows them"
            )
        _print_ablation(nb, sweep_id, components, opts)


def _run_ablation(
    nb: Any, p: Any, argv: list[str], opts: dict[str, Any], launcher: Any
) -> tuple[str, Launched]:
    """The plan as one sweep through the launcher: each job an ordinary ``lab run`` (here, on Slurm or Ray)."""
    from labbook.launch.plan import write_sweep

    names: list[str | None] = [
        f"{cell.slug(p.components)}-s{texts[-1].split('=', 1)[1]}"
        for texts, cell in zip(p.overrides, p.cell_of_job, strict=True)
    ]
    tags = ("ablation", *opts["tags"])
    batch = write_sweep(nb, p.configs, p.overrides, argv, names, tags=tags, config_file=opts["config_file"])
    kind = "factorial" if opts["factorial"] else "leave-one-out"
    limited = launcher.name == "local" or opts["parallel"] > 1  # a cluster's own limits otherwise
    pace = f"{opts['parallel']} at a time" if limited else "as many at a time as it takes"
    click.echo(
        f"lab: ablation sweep {batch.sweep_id}: {len(p.cells)} configurations ({kind}) × {p.seeds} seeds = "
        f"{len(batch.jobs)} runs, {pace} on {launcher.name}",
        err=True,
    )
    launched = launcher.launch(nb, batch, _Lines(launcher.name))
    if launched.interrupted:
        raise click.exceptions.Exit(130)
    if launched.sweep is not None and any(j.exit_code not in (0, None) for j in batch.jobs):
        sweep_summary(launched.sweep, batch.jobs)
    assert batch.sweep_id is not None  # an ablation is always one sweep
    return batch.sweep_id, launched


class _Lines:
    """``lab ablate``'s watcher: plain lines on stderr, one each time another run is done."""

    def __init__(self, where: str) -> None:
        self.where = where

    def submitted(self, submitted: list[Any]) -> None:
        first, last = submitted[0], submitted[-1]
        runs = f"runs {first.run_id}-{last.run_id}"
        if self.where == "ray":
            click.echo(f"lab: submitted {runs} to Ray as tasks of job {first.ray_job}", err=True)
            return
        click.echo(f"lab: submitted {runs} to Slurm as jobs {first.job_id} .. {last.job_id}", err=True)

    @contextmanager
    def waiting(self, total: int) -> Iterator[Any]:
        last = [-1]

        def progress(done: int, running: int, failed: int) -> None:
            if done != last[0] and done:
                last[0] = done
                click.echo(f"lab: {done}/{total} done, {running} running, {failed} failed", err=True)

        yield progress


def _ablation_text(a: Any, sweep_id: str) -> str:
    from labbook.service.compare.words import num, pvalue

    goal = "lower is better" if a.lower_better else "higher is better"
    out = [f"{a.metric} ({a.agg} value per run, {goal}) by configuration, sweep {sweep_id}"]
    rows = [
        [name, str(s.n) if s else "0", render.ci_text(s) if s else "no finished run"] for name, s in a.cells
    ]
    out.append(render.plain_table(["configuration", "n", "mean ± [95% CI] sd"], rows, {1}))
    out.append("")
    how = "main effect (least squares)" if a.factorial else "full minus without it"
    out.append(f"contribution of each component ({how}; > 0 means it helps), largest first")
    rows = [
        [
            e.component,
            num(e.contribution, 4),
            f"[{num(e.low, 3)}, {num(e.high, 3)}]",
            pvalue(e.p).removeprefix("= "),
        ]
        for e in a.effects
    ]
    out.append(render.plain_table(["component", "contribution", "95% CI", "p"], rows, {1, 3}))
    out.append("")
    out.append(a.sentence)
    if a.missing:
        out.append(f"! no finished run for: {', '.join(a.missing)}")
    if a.excluded:
        out.append("! left out: " + ", ".join(f"{len(v)} {k}" for k, v in a.excluded.items()))
    return "\n".join(out)
