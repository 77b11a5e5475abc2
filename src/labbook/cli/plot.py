"""``lab plot``: a metric's curves, one line per variant with the CI band of its seeds."""

from __future__ import annotations

from typing import Any

import click

from labbook.cli.compare import ALL_HELP, NOISE_HELP
from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views import tables as render
from labbook.views.compare import curves_dict


@click.command("plot")
@click.argument("metric")
@click.argument("runs", nargs=-1)
@click.option("-w", "--where", help="Only runs matching this expression.")
@click.option("--sweep", help="Only the runs of this sweep.")
@click.option(
    "--group-by",
    "group",
    default="variant",
    show_default=True,
    metavar="KEY|variant",
    help="One line per variant (seeds pooled) or per value of a parameter.",
)
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(["step", "time"]),
    default="step",
    show_default=True,
    help="Against the step, or seconds since the run's first point.",
)
@click.option(
    "--smooth",
    "smooth_k",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Moving average over K points, per run, before averaging.",
)
@click.option("--log-y", is_flag=True, help="Logarithmic y axis.")
@click.option("--noise", help=NOISE_HELP)
@click.option("--all", "include_all", is_flag=True, help=ALL_HELP)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="FILE.png or FILE.svg (default: a PNG in the notebook's figures/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figure's path and its lines as JSON.")
@click.pass_context
def plot_cmd(ctx: click.Context, /, metric: str, runs: tuple[str, ...], **opts: Any) -> None:
    """Plot METRIC: one line per variant (the mean of its seeds) with a 95% CI band.

    \b
    lab plot val_acc                          every finished run, grouped by variant
    lab plot loss --sweep 3f2a9c1b07 --log-y --smooth 20
    lab plot val_acc scale=true scale=false   (RUNS: ids, variants, tags, names)
    lab plot loss --group-by lr --x time -o loss.svg

    The legend names only the parameters that differ; a variant of a single run is drawn
    without a band and says so. Long series are reduced to each pixel's minimum and
    maximum for drawing, never cut.
    """
    from pathlib import Path

    from labbook.service.compare.variants import noise_keys
    from labbook.service.curves import default_path, gather, total_points
    from labbook.views.plots import variant_plot

    output = opts["output"]
    if output and Path(output).suffix.lower() not in (".png", ".svg"):
        raise BadInput(f"-o {output}: the figure is written as .png or .svg; name the file so")
    from labbook.service.settings import noise_of

    nb = open_notebook(ctx)
    try:
        noise, noise_set = noise_of(nb.settings, noise_keys(opts["noise"]))
        if noise_set:
            click.echo(f"noise keys {', '.join(noise)} (lab settings)", err=True)
        curves, side = gather(
            nb,
            metric,
            refs=list(runs) or None,
            where=opts["where"],
            sweep=opts["sweep"],
            group=opts["group"],
            x_axis=opts["x_axis"],
            smooth_k=opts["smooth_k"],
            noise=noise,
            include_all=opts["include_all"],
        )
        path = Path(output).resolve() if output else default_path(nb, metric)
    finally:
        nb.close()
    x_label = "step" if opts["x_axis"] == "step" else "seconds since the first point"
    smooth = f", smoothed over {opts['smooth_k']} points" if opts["smooth_k"] > 1 else ""
    title = f"{metric}: mean of each variant's runs, 95% CI band (Student t){smooth}"
    try:
        variant_plot(curves, metric, path, x_label, opts["log_y"], title)
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}; choose another -o") from None
    if opts["as_json"]:
        echo_json(curves_dict(path, metric, opts["x_axis"], curves, side))
        return
    n_runs = sum(c.n for c in curves)
    left = f"; left out {side.excluded_text()}" if side.excluded else ""
    click.echo(
        f"{len(curves)} line{'s' if len(curves) != 1 else ''} from {n_runs} run{'s' if n_runs != 1 else ''} "
        f"({total_points(curves):,} points){left}"
    )
    for c in curves:
        click.echo(f"  {c.label}: runs {render.ids_text(c.run_ids, 10)}")
    click.echo(str(path))
