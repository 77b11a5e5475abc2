"""``lab compare``: two sides (or every value of a parameter) with diffs, tests and a verdict."""

from __future__ import annotations

from typing import Any

import click

from labbook.cli.output import agg_option, echo_json
from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views.compare import groups_dict, report_dict
from labbook.views.compare_text import groups_text, report_text

NOISE_HELP = "Parameters that are noise, not configuration (comma-separated). Default: seed."
ALL_HELP = "Count smoke runs, runs that did not finish and archived runs, too."


@click.command("compare")
@click.argument("a", required=False)
@click.argument("b", required=False)
@click.option(
    "-m",
    "--metric",
    "metrics",
    multiple=True,
    help="Metric to compare; repeat for several (default: all shared). The first is primary, "
    "the others secondary (Holm-adjusted, called only when the primary is).",
)
@agg_option
@click.option("-w", "--where", help="Only runs matching this expression, on both sides.")
@click.option("--noise", help=NOISE_HELP)
@click.option(
    "--goal",
    type=click.Choice(["max", "min"]),
    help="Whether higher or lower is better (default: guessed from the name; loss/error are minimised).",
)
@click.option(
    "--paired", is_flag=True, help="Pair the runs of A and B by seed (the same seeds on both sides)."
)
@click.option(
    "--examples", metavar="KEY", help="A per-example metric (logged with step=example id) to pair A and B on."
)
@click.option(
    "--group-by",
    "group_key",
    metavar="KEY",
    help="Compare every value of parameter KEY with a baseline (Holm-adjusted).",
)
@click.option(
    "--baseline", metavar="VALUE", help="With --group-by: the baseline value (default: the smallest)."
)
@click.option("--all", "include_all", is_flag=True, help=ALL_HELP)
@click.option(
    "--detect",
    type=float,
    metavar="D",
    help="The smallest difference that matters, for the seeds-needed estimate "
    "(default: the observed one, only when the data tell it from 0).",
)
@click.option("--json", "as_json", is_flag=True, help="Exact machine output.")
@click.pass_context
def compare_cmd(ctx: click.Context, /, a: str | None, b: str | None, **opts: Any) -> None:
    """Compare A with B: config, code and environment diffs, then each metric with honest statistics.

    \b
    A and B are each run ids (3,4,5), a variant (lr=1e-3 or 'lr=1e-3 depth=4'),
    a tag, a run name, or a --where expression:
    lab compare scale=true scale=false --metric val_acc
    lab compare 'lr == 1e-3 and seed < 5' baseline --agg max
    lab compare --group-by lr --metric val_acc --baseline 0.1

    Each side's seeds are summarised (mean, std, 95% CI: Student t; the median with a
    distribution-free interval when a side looks skewed); the difference gets Welch's CI and a test (Welch's t, or a permutation test for
    small or skewed samples; the paired t with --paired), P(a run of A beats one of B by the
    goal), Hedges' g, and a verdict in words. The first metric is primary; the others are
    secondary, Holm-adjusted and called only when the primary is. Repeats of a
    configuration and seed count once.
    """
    from labbook.service.compare.variants import noise_keys

    nb = open_notebook(ctx)
    try:
        if opts["group_key"]:
            if b is not None:
                raise BadInput(
                    "--group-by compares the values of one parameter; give at most one side (or --where)"
                )
            if len(opts["metrics"]) != 1:
                raise BadInput("--group-by needs exactly one --metric")
            _compare_groups(nb, a, opts)
            return
        if opts["detect"] is not None and not opts["detect"] > 0:
            raise BadInput("--detect takes a positive difference, e.g. --detect 0.01")
        if a is None or b is None:
            raise BadInput("give two sides to compare, e.g. lab compare lr=1e-3 lr=3e-4 (or --group-by KEY)")
        if opts["baseline"]:
            raise BadInput("--baseline goes with --group-by KEY")
        from labbook.service.compare.report import compare

        report = compare(
            nb,
            a,
            b,
            metrics=list(opts["metrics"]) or None,
            agg=opts["agg"],
            where=opts["where"],
            noise=noise_keys(opts["noise"]),
            goal=opts["goal"],
            paired=opts["paired"],
            examples=opts["examples"],
            include_all=opts["include_all"],
            detect=opts["detect"],
        )
    finally:
        nb.close()
    if opts["as_json"]:
        echo_json(report_dict(report))
    else:
        click.echo(report_text(report))


def _compare_groups(nb: Any, spec: str | None, opts: dict[str, Any]) -> None:
    from labbook.service.compare.groups import compare_groups
    from labbook.service.compare.variants import noise_keys

    where = opts["where"]
    if spec is not None:
        from labbook.service.compare.sides import side_query

        _, expr = side_query(nb, spec)
        where = f"({expr}) and ({where})" if where else expr
    metric = opts["metrics"][0]
    rows, side, warnings = compare_groups(
        nb,
        opts["group_key"],
        metric,
        baseline=opts["baseline"],
        agg=opts["agg"],
        where=where,
        goal=opts["goal"],
        include_all=opts["include_all"],
        noise=noise_keys(opts["noise"]),
    )
    key = opts["group_key"]
    if opts["as_json"]:
        echo_json(groups_dict(key, metric, opts["agg"], rows, side, warnings))
        return
    click.echo("\n".join(groups_text(rows, side, warnings, key, metric, opts["agg"])))
