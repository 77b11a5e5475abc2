"""Commands that look across runs: ``plot``, ``compare``, ``ablate``."""

from __future__ import annotations

from typing import Any

import click

from labbook.cli.launch import RunCommand, launcher_options, slurm_options
from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views import tables as render

_NOISE_HELP = "Parameters that are noise, not configuration (comma-separated). Default: seed."
_ALL_HELP = "Count smoke runs and runs that did not finish, too."


def _ci(s: Any, sd: bool = True) -> str:
    """``mean ± half-width [low, high] sd X`` (an interval of another method may not be symmetric: no ±)."""
    from labbook.service.compare import num

    if s.n < 2:
        return f"{num(s.mean, 4)} (1 run)"
    ci = f"[{num(s.low, 4)}, {num(s.high, 4)}]"
    text = (
        f"{num(s.mean, 4)} ± {num((s.high - s.low) / 2, 2)} {ci}"
        if s.method == "t"
        else f"{num(s.mean, 4)} {ci}"
    )
    return f"{text} sd {num(s.std, 2)}" if sd else text


def _ids(runs: list[Any]) -> str:
    ids = [str(r.id) for r in runs]
    return ", ".join(ids[:8]) + (f", ... ({len(ids)})" if len(ids) > 8 else "")


# -- lab compare -------------------------------------------------------------------------


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
@click.option(
    "--agg",
    type=click.Choice(["last", "min", "max", "mean"]),
    default="last",
    show_default=True,
    help="Which value of each run's metric.",
)
@click.option("-w", "--where", help="Only runs matching this expression, on both sides.")
@click.option("--noise", help=_NOISE_HELP)
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
@click.option("--all", "include_all", is_flag=True, help=_ALL_HELP)
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
    from labbook.service.compare import noise_keys

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
        from labbook.service.compare import compare

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
        render.echo_json(_report_json(report))
    else:
        click.echo(_report_text(report))


def _report_json(r: Any) -> dict[str, Any]:
    from labbook.service.compare import verdict

    def side(s: Any, name: str) -> dict[str, Any]:
        return {
            "spec": s.spec,
            "kind": s.kind,
            "runs": [x.id for x in s.runs],
            "excluded": s.excluded,
            "folded": r.folded.get(name, 0),
        }

    return {
        "a": side(r.a, "A"),
        "b": side(r.b, "B"),
        "config": [{"key": k, "a": va, "b": vb} for k, va, vb in r.config],
        "code": r.code,  # with both patches whole when they differ
        "environment": {
            "packages": [{"name": n, "a": va, "b": vb} for n, va, vb in r.environment["packages"]],
            **{
                k: {"a": v[0], "b": v[1], "differ": v[2]} for k, v in r.environment.items() if k != "packages"
            },
        },
        "primary": r.primary,
        "metrics": [
            {
                "metric": m.metric,
                "agg": m.agg,
                "goal": "min" if m.lower_better else "max",
                "pairing": m.pairing or None,
                **m.comparison.as_dict(),
                "sentence": verdict(m),
            }
            for m in r.metrics
        ],
        "tuning_budget": {"a": r.budgets[0], "b": r.budgets[1]},
        "examples": r.examples.as_dict() if r.examples else None,
        "warnings": r.warnings,
    }


def _report_text(r: Any) -> str:
    from labbook.service.compare import short

    out = []
    for name, s in (("A", r.a), ("B", r.b)):
        left = f"; left out {s.excluded_text()}" if s.excluded else ""
        out.append(
            f"{name}: {s.spec}  ({len(s.runs)} run{'s' if len(s.runs) != 1 else ''}: {_ids(s.runs)}{left})"
        )
    out.append("")
    out.append("config (keys that differ)")
    if r.config:
        rows = [[k, ", ".join(map(short, va)), ", ".join(map(short, vb))] for k, va, vb in r.config]
        out.append(_indent(render.plain_table(["key", "A", "B"], rows, set())))
    else:
        out.append("  same configuration (apart from the noise keys)")
    out.append("")
    out += _code_text(r.code)
    out.append("")
    out += _environment_text(r.environment)
    out.append("")
    out += _metrics_text(r)
    out += _examples_text(r.examples)
    out.append("")
    out += _verdict_text(r)
    if r.warnings:
        out.append("")
        out.append("warnings")
        out += [f"  ! {w}" for w in r.warnings]
    return "\n".join(out)


def _code_text(code: dict[str, Any]) -> list[str]:
    out = ["code"]

    def commits(c: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v} run{'s' if v != 1 else ''})" for k, v in c.items())

    if set(code["a_commits"]) | set(code["b_commits"]) == {"none"}:
        out.append("  commit: none captured (not in a git repository)")
    elif code["same_commits"]:
        out.append(f"  commit: the same on both sides, {', '.join(code['a_commits'])}")
    else:
        out.append(f"  commit: A {commits(code['a_commits'])}; B {commits(code['b_commits'])}")
    if code["same_patches"]:
        out.append("  uncommitted changes: the same on both sides")
    else:
        lines = code["patch_diff"].splitlines()
        out.append(
            f"  uncommitted changes differ ({len(lines)}-line diff of the patches; --json has them whole):"
        )
        out += ["    " + line for line in lines[:40]]
        if len(lines) > 40:
            out.append(f"    ... {len(lines) - 40} more lines")
    return out


def _environment_text(env: dict[str, Any]) -> list[str]:
    out = ["environment"]
    if env["packages"]:
        shown = [f"{n} {'/'.join(va)} vs {'/'.join(vb)}" for n, va, vb in env["packages"][:12]]
        more = f" and {len(env['packages']) - 12} more" if len(env["packages"]) > 12 else ""
        out.append(f"  packages that differ: {', '.join(shown)}{more}")
    else:
        out.append("  packages: same versions")
    for key in ("python", "host", "gpu"):
        va, vb, differ = env[key]
        out.append(
            f"  {key}: " + (f"A {', '.join(va)}; B {', '.join(vb)}" if differ else f"{', '.join(va)} on both")
        )
    return out


def _shaped(s: Any) -> str:
    """A side's CI, marked † when its shape puts the CI's coverage in doubt."""
    return _ci(s) + (" †" if s.shape_note else "")


def _shape_lines(label: str, s: Any, prefix: str = "  ") -> list[str]:
    """The note beside a doubtful CI, with the distribution-free median interval."""
    from labbook.service.compare import num

    if not s.shape_note:
        return []
    return [
        f"{prefix}† {label}: {s.shape_note}; median {num(s.median, 4)} "
        f"[{num(s.median_low, 4)}, {num(s.median_high, 4)}] (order statistics: covers "
        f"{100 * s.median_level:.4g}% whatever the shape)"
    ]


def _metrics_text(r: Any) -> list[str]:
    from labbook.service.compare import num, pvalue

    agg = r.metrics[0].agg
    family = len(r.metrics) > 1
    out = [f"metrics ({agg} value per run: mean ± half-width [95% CI], sd = standard deviation)"]
    rows = []
    for m in r.metrics:
        c = m.comparison
        row = [m.metric + (" ↓" if m.lower_better else "")]
        row += [c.role] if family else []
        row += [
            _shaped(c.a),
            _shaped(c.b),
            f"{num(c.diff, 4)} [{num(c.low, 3)}, {num(c.high, 3)}]",
            c.test.split(" (")[0],
            pvalue(c.p).removeprefix("= "),
        ]
        row += [pvalue(c.p_adjusted).removeprefix("= ")] if family else []
        row += [num(c.superiority, 2), num(c.effect, 2)]
        rows.append(row)
    head = ["metric", *(["role"] if family else []), "A", "B", "A − B [95% CI]", "test", "p"]
    head += [*(["p adj."] if family else []), "P(A beats B)", "g"]
    right = set(range(len(head) - (4 if family else 3), len(head)))
    out.append(_indent(render.plain_table(head, rows, right)))
    methods = sorted(
        {x.method for m in r.metrics for x in (m.comparison.a, m.comparison.b) if x.method != "none"}
    )
    tests = sorted({m.comparison.test for m in r.metrics})
    out.append(
        f"  CI of each mean: {' / '.join(methods) or 'none'}; of the difference: "
        f"{', '.join(sorted({m.comparison.ci_method for m in r.metrics}))}. Tests: {'; '.join(tests)}."
    )
    if family:
        k = len(r.metrics) - 1
        them = (
            "the other metric is secondary: its p adj. is at least the primary's p, and it counts"
            if k == 1
            else f"the other {k} are secondary: p adj. is Holm's over them, at least the primary's p, and they count"
        )
        out.append(
            f"  primary: {r.metrics[0].metric} (the first --metric, else the first by name), tested at 0.05; "
            f"{them} only when the primary shows a difference."
        )
    lower = "↓ lower is better. " if any(m.lower_better for m in r.metrics) else ""
    out.append(
        f"  {lower}P(A beats B): chance a random run of A beats one of B by the goal"
        f"{' (the lower wins for ↓)' if lower else ''}. g: Hedges' g."
    )
    for m in r.metrics:
        for name, s in (("A", m.comparison.a), ("B", m.comparison.b)):
            out += _shape_lines(f"{m.metric}, {name}", s)
    return out


def _shared_notes(
    notes_by: list[tuple[str, list[str]]],
) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """Notes said of one item only, by item; and those said of several, once with their items."""
    who: dict[str, list[str]] = {}
    for item, notes in notes_by:
        for note in notes:
            who.setdefault(note, []).append(item)
    own = {item: [n for n in notes if len(who[n]) == 1] for item, notes in notes_by}
    shared = [(note, items) for note, items in who.items() if len(items) > 1]
    return own, shared


def _verdict_text(r: Any) -> list[str]:
    from labbook.service.compare import verdict

    out = ["verdict"]
    own, shared = _shared_notes([(m.metric, m.comparison.notes) for m in r.metrics])
    for m in r.metrics:
        out.append(f"  {m.metric}: {verdict(m)}")
        out += [f"    ({note})" for note in own[m.metric]]
    for note, items in shared:
        out.append(f"  ({', '.join(items)}: {note})")
    if r.examples is not None:
        out.append(f"  examples: {_examples_verdict(r.examples)}")
    return out


def _examples_text(e: Any) -> list[str]:
    """The per-example paired comparison, when both sides scored the same examples."""
    from labbook.service.compare import num, pvalue

    if e is None:
        return []
    out = ["", f"examples ({e.split}: {e.n} ids scored by every run of both sides, paired)"]
    out.append(
        f"  accuracy A {num(e.acc_a, 4)}, B {num(e.acc_b, 4)}: A − B = {num(e.diff, 4)} "
        f"[{num(e.low, 3)}, {num(e.high, 3)}], {e.test} p {pvalue(e.p)}"
    )
    if e.a_only is not None:
        out.append(
            f"  right in A only: {e.a_only}, right in B only: {e.b_only} (lab failures diff shows them)"
        )
    else:
        out.append(
            "  each example's accuracy averaged over a side's runs; the examples are the units, so this says "
            "the runs differ on these examples, not that new seeds would"
        )
    return out


def _examples_verdict(e: Any) -> str:
    from labbook.service.compare import num, pvalue

    if e.p < 0.05 and (e.low > 0 or e.high < 0):
        better, low, high = ("A", e.low, e.high) if e.diff > 0 else ("B", -e.high, -e.low)
        return (
            f"{better} is more accurate by {num(abs(e.diff), 3)} (95% CI {num(low, 3)} to {num(high, 3)}, "
            f"p {pvalue(e.p)}, {e.n} paired examples)"
        )
    return f"no detectable difference in accuracy over {e.n} paired examples (p {pvalue(e.p)})"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _compare_groups(nb: Any, spec: str | None, opts: dict[str, Any]) -> None:
    from labbook.service.compare import compare_groups, noise_keys

    where = opts["where"]
    if spec is not None:
        from labbook.service.compare import side_query

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
        render.echo_json(
            {
                "key": key,
                "metric": metric,
                "agg": opts["agg"],
                "excluded": side.excluded,
                "groups": [
                    {
                        "value": row.value,
                        "runs": row.runs,
                        "folded": len(row.runs) - row.summary.n,
                        **row.summary.as_dict(),
                        "baseline": row.comparison is None,
                        "comparison": row.comparison.as_dict() if row.comparison else None,
                        "p_holm": row.p_holm,
                        "verdict": row.verdict,
                    }
                    for row in rows
                ],
                "warnings": warnings,
            }
        )
        return
    click.echo("\n".join(_groups_text(rows, side, warnings, key, metric, opts["agg"])))


def _groups_text(
    rows: list[Any], side: Any, warnings: list[str], key: str, metric: str, agg: str
) -> list[str]:
    from labbook.service.compare import num, pvalue, short

    table = []
    for row in rows:
        c = row.comparison
        table.append(
            [
                f"{key}={short(row.value)}",
                str(row.summary.n),
                _shaped(row.summary),
                "baseline" if c is None else f"{num(c.diff, 4)} [{num(c.low, 3)}, {num(c.high, 3)}]",
                "" if c is None else pvalue(c.p).removeprefix("= "),
                "" if row.p_holm is None else pvalue(row.p_holm).removeprefix("= "),
                "" if c is None else {"none": "no detectable difference"}.get(row.verdict, row.verdict),
            ]
        )
    out = [f"{metric} ({agg} value per run) by {key}, each against the baseline"]
    if side.excluded:
        out.append(f"left out: {side.excluded_text()} runs")
    out.append(
        render.plain_table(
            ["group", "n", "mean ± [95% CI] sd", "diff vs baseline [95% CI]", "p", "p (Holm)", "verdict"],
            table,
            {1, 4, 5},
        )
    )
    out.append("p (Holm): adjusted for the number of comparisons; the verdict uses it.")
    for row in rows:
        out += _shape_lines(f"{key}={short(row.value)}", row.summary, prefix="")
    labelled = [(f"{key}={short(row.value)}", row) for row in rows if row.comparison is not None]
    own, shared = _shared_notes([(label, row.comparison.notes) for label, row in labelled])
    for label, row in labelled:
        said = ([row.comparison.conflict] if row.comparison.conflict else []) + own[label]
        out += [f"{label}: {note}" for note in said]
    for note, items in shared:
        out.append(f"{', '.join(items)}: {note}")
    out += [f"! {w}" for w in warnings]
    return out


# -- lab plot ----------------------------------------------------------------------------


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
@click.option("--noise", help=_NOISE_HELP)
@click.option("--all", "include_all", is_flag=True, help=_ALL_HELP)
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

    from labbook.service.compare import noise_keys
    from labbook.service.curves import default_path, gather, total_points
    from labbook.views.plots import variant_plot

    output = opts["output"]
    if output and Path(output).suffix.lower() not in (".png", ".svg"):
        raise BadInput(f"-o {output}: the figure is written as .png or .svg; name the file so")
    nb = open_notebook(ctx)
    try:
        curves, side = gather(
            nb,
            metric,
            refs=list(runs) or None,
            where=opts["where"],
            sweep=opts["sweep"],
            group=opts["group"],
            x_axis=opts["x_axis"],
            smooth_k=opts["smooth_k"],
            noise=noise_keys(opts["noise"]),
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
        render.echo_json(
            {
                "path": str(path),
                "metric": metric,
                "x": opts["x_axis"],
                "lines": [{"label": c.label, "runs": c.run_ids, "points": c.points} for c in curves],
                "excluded": side.excluded,
            }
        )
        return
    n_runs = sum(c.n for c in curves)
    left = f"; left out {side.excluded_text()}" if side.excluded else ""
    click.echo(
        f"{len(curves)} line{'s' if len(curves) != 1 else ''} from {n_runs} run{'s' if n_runs != 1 else ''} "
        f"({total_points(curves):,} points){left}"
    )
    for c in curves:
        click.echo(f"  {c.label}: runs {_ids_list(c.run_ids)}")
    click.echo(str(path))


def _ids_list(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (f", ... ({len(ids)})" if len(ids) > 10 else "")


# -- lab ablate --------------------------------------------------------------------------


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
    "--detach", is_flag=True, help="Slurm: submit the runs and return; --report SWEEP analyses them later."
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
@click.option(
    "--agg",
    type=click.Choice(["last", "min", "max", "mean"]),
    default="last",
    show_default=True,
    help="Which value of each run's metric.",
)
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
    from pathlib import Path

    from labbook.core.config import load, substitute
    from labbook.launch.local import resolve_command
    from labbook.service.ablation import parse_components, plan

    components = parse_components(opts["components"])
    if opts["report_sweep"]:
        _ablation_report(ctx, opts["report_sweep"], components, opts)
        return
    if not opts["config_file"]:
        raise BadInput(
            "give the config with -c CONFIG (or --report SWEEP to analyse an ablation already run)"
        )
    if opts["detach"] and opts["launcher"] != "slurm":
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
    for config in p.configs:  # every placeholder of every run checked before anything starts
        substitute(argv, config, Path("config.yaml"))
    slurm = slurm_options({**opts, "detach": False})  # checks the cluster before anything is written
    nb = open_notebook(ctx)
    try:
        sweep_id, statuses = _run_ablation(nb, p, argv, opts, slurm)
        if opts["detach"]:
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
    ctx.exit(0 if all(s == "finished" for s in statuses) else 1)


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
        render.echo_json(_ablation_json(analysis, sweep_id))
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
    nb: Any, p: Any, argv: list[str], opts: dict[str, Any], slurm: Any = None
) -> tuple[str, list[str]]:
    """The plan as one sweep through the launcher: each job an ordinary ``lab run`` (here or on Slurm)."""
    from pathlib import Path

    from labbook.launch.sweep import new_sweep_id, prepare

    sweep_id = new_sweep_id()
    jobs = prepare(nb, sweep_id, p.configs, p.overrides, argv, False)
    source = str(Path(opts["config_file"]).resolve())
    tags = ("ablation", *opts["tags"])
    names = [
        f"{cell.slug(p.components)}-s{job.overrides[-1].split('=', 1)[1]}"
        for job, cell in zip(jobs, p.cell_of_job, strict=True)
    ]
    kind = "factorial" if opts["factorial"] else "leave-one-out"
    click.echo(
        f"lab: ablation sweep {sweep_id}: {len(p.cells)} configurations ({kind}) × {p.seeds} seeds = {len(jobs)} runs, "
        f"{opts['parallel']} at a time on {opts['launcher']}",
        err=True,
    )
    last = [-1]

    def progress(done: int, running: int, failed: int) -> None:
        if done != last[0] and done:
            last[0] = done
            click.echo(f"lab: {done}/{len(jobs)} done, {running} running, {failed} failed", err=True)

    if slurm is not None:
        detach = opts["detach"]
        return sweep_id, _on_slurm(
            nb, jobs, p.configs, sweep_id, slurm, names, tags, source, progress, detach
        )
    from labbook.cli.launch import sweep_summary
    from labbook.launch.sweep import run_sweep

    for job, name in zip(jobs, names, strict=True):
        job.options = ["--source-config", source, "-n", name]
        for tag in tags:
            job.options += ["-t", tag]
    result = run_sweep(nb, jobs, sweep_id, opts["parallel"], False, progress)
    if result.interrupted:
        raise click.exceptions.Exit(130)
    if any(j.exit_code not in (0, None) for j in jobs):
        sweep_summary(result, jobs)
    return sweep_id, [result.statuses.get(j.run_id or -1, "not started") for j in jobs]


def _on_slurm(
    nb: Any,
    jobs: list[Any],
    configs: list[dict[str, Any]],
    sweep_id: str,
    options: Any,
    names: list[str],
    tags: tuple[str, ...],
    source: str,
    progress: Any,
    detach: bool = False,
) -> list[str]:
    """Each run of the ablation as a Slurm job, through the launcher ``lab run --launcher slurm`` uses."""
    from labbook.launch import slurm

    for job in jobs:
        job.options = ["--source-config", source]
    submitted = slurm.submit(
        nb,
        jobs,
        list(configs),
        sweep_id,
        options,
        names=list(names),
        tags=tags,
        note=None,
        hypothesis=None,
    )
    click.echo(
        f"lab: submitted runs {submitted[0].run_id}-{submitted[-1].run_id} to Slurm as jobs "
        f"{submitted[0].job_id} .. {submitted[-1].job_id}",
        err=True,
    )
    if detach:
        return ["pending"] * len(submitted)
    statuses, interrupted = slurm.follow(nb, submitted, progress)
    if interrupted:
        raise click.exceptions.Exit(130)
    return [statuses.get(s.run_id, "not started") for s in submitted]


def _ablation_json(a: Any, sweep_id: str) -> dict[str, Any]:
    return {
        "sweep": sweep_id,
        "metric": a.metric,
        "agg": a.agg,
        "goal": "min" if a.lower_better else "max",
        "design": "factorial" if a.factorial else "leave-one-out",
        "configurations": [{"name": name, **(s.as_dict() if s else {"n": 0})} for name, s in a.cells],
        "effects": [
            {
                "component": e.component,
                "contribution": e.contribution,
                "ci_low": e.low,
                "ci_high": e.high,
                "p": e.p,
                "how": e.detail,
            }
            for e in a.effects
        ],
        "carrier": a.carrier,
        "verdict": a.sentence,
        "missing": a.missing,
        "excluded": a.excluded,
    }


def _ablation_text(a: Any, sweep_id: str) -> str:
    from labbook.service.compare import num, pvalue

    goal = "lower is better" if a.lower_better else "higher is better"
    out = [f"{a.metric} ({a.agg} value per run, {goal}) by configuration, sweep {sweep_id}"]
    rows = [[name, str(s.n) if s else "0", _ci(s) if s else "no finished run"] for name, s in a.cells]
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


# -- lab ls --group-by ---------------------------------------------------------------------


def variants_table(runs: list[Any], columns: str | None, group: str, as_json: bool) -> None:
    """``lab ls --group-by``: one row per variant with n, mean, std and the 95% CI of each metric."""
    from collections import Counter

    from labbook.service.compare import variant_table

    if columns:
        names = [c.strip() for c in columns.split(",") if c.strip()]
        bad = [c for c in names if c.rpartition(".")[2] not in ("last", "min", "max", "mean") or "." not in c]
        if bad:
            raise BadInput(
                f"with --group-by, columns are METRIC.AGG (AGG last/min/max/mean); not {', '.join(bad)}"
            )
    else:
        counts = Counter(k for r in runs for k in r.metrics if not k.startswith("sys/"))
        names = [f"{k}.last" for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    rows, excluded = variant_table(runs, names, group=group)
    if as_json:
        render.echo_json(
            {
                "group_by": group,
                "excluded": excluded,
                "groups": [
                    {
                        "label": r.label,
                        "runs": r.runs,
                        **{k: (s.as_dict() if s else None) for k, s in r.summaries.items()},
                    }
                    for r in rows
                ],
            }
        )
        return
    if not rows:
        click.echo("no finished runs match" + (f" (left out: {_left_out(excluded)})" if excluded else ""))
        return
    table = []
    for r in rows:
        cells = []
        for name in names:
            s = r.summaries[name]
            cells.append("" if s is None else _ci(s))
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
