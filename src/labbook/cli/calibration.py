"""``lab calibration``: how well your forecasts have matched what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from labbook.cli.output import echo_json, show
from labbook.cli.runs import open_notebook
from labbook.views.research import bin_list, calibration_dict


@click.command("calibration")
@click.option("--since", help="Only predictions made since: 30d, 12w, 6m, 1y or a date.")
@click.option("--tag", help="Only predictions on hypotheses with this tag.")
@click.option("--problem", help="Only predictions on hypotheses about this problem (Q3, or its text).")
@click.option("--kind", help="binary, numeric, point, paper, lab or fatebook.")
@click.option(
    "--author",
    metavar="NAME",
    help="Only predictions made by this forecaster (a person, or an agent by its lab mcp name).",
)
@click.option("--include-late", is_flag=True, help="Count predictions made after results existed.")
@click.option("--bins", type=click.IntRange(2, 50), default=10, show_default=True, help="Reliability bins.")
@click.option("--bin", "bin_range", metavar="LO-HI", help="List the yes/no predictions with p in [LO, HI).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the reliability diagram (PNG).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def calibration_cmd(
    ctx: click.Context,
    since: str | None,
    tag: str | None,
    problem: str | None,
    kind: str | None,
    author: str | None,
    include_late: bool,
    bins: int,
    bin_range: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Score your resolved predictions: Brier, log score, interval coverage, reliability.

    Only the newest revision of each prediction counts, and only if it was made before
    any result of its hypothesis existed (--include-late to see the rest).
    """
    from labbook.service.calibration import Filters, in_bin, parse_bin, parse_since, report

    filters = Filters(parse_since(since), tag, kind, problem, include_late, author)
    with open_notebook(ctx) as nb:
        if bin_range is not None:
            lo, hi = parse_bin(bin_range)
            preds = in_bin(nb, filters, lo, hi)
            if as_json:
                echo_json(bin_list(preds))
                return
            if not preds:
                click.echo(f"no scored yes/no predictions with p in [{lo:g}, {hi:g})")
            for p in preds:
                outcome = p.resolution.outcome if p.resolution else "open"
                click.echo(f"{p.ref}  p={p.p:g}  {outcome:5}  {p.text}")
            return
        rep = report(nb, filters, bins)
        default_png = nb.root / "figures" / "calibration.png"
    if output is not None or (rep.bins and not as_json):
        from labbook.views.plots import reliability_diagram

        path = Path(output) if output else default_png
        title = f"Reliability of {rep.binary['n']} yes/no forecasts" if rep.binary else "no yes/no forecasts"
        reliability_diagram(rep.bins, path, title)
    else:
        path = None
    if as_json:
        echo_json(calibration_dict(rep, path))
        return
    _print(rep, path)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def _print(rep: Any, figure: Path | None) -> None:
    from rich import box
    from rich.table import Table

    scored = sum((part or {}).get("n", 0) for part in (rep.binary, rep.numeric, rep.point))
    click.echo(
        f"{scored} scored of {rep.considered} predictions "
        f"({rep.unresolved} unresolved, {rep.late_excluded} late, {rep.ambiguous} ambiguous, "
        f"{rep.superseded} revised)"
    )
    if not scored:
        click.echo("nothing to score yet: resolve predictions with lab resolve, or wait for their runs")
        return
    parts: list[Any] = []
    if rep.binary:
        b = rep.binary
        parts.append(
            f"\nyes/no: n={b['n']}  Brier {b['brier']:.3f} (0 is perfect, 0.25 is always saying 50%)  "
            f"log score {b['log_score']:.3f} nats (natural log, p clipped to [{b['log_clip']:g}, "
            f"{1 - b['log_clip']:g}])\n"
            f"        said {_pct(b['mean_forecast'])} on average, {_pct(b['base_rate'])} came true; "
            f"Murphy: reliability {b['reliability']:.3f} (lower is better), "
            f"resolution {b['resolution']:.3f} (higher is better), uncertainty {b['uncertainty']:.3f}"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for col in ("bin", "n", "said", "came true", "95% interval"):
            table.add_column(col, justify="left" if col == "bin" else "right", no_wrap=True)
        for bin_ in rep.bins:
            if not bin_.count:
                table.add_row(f"{bin_.lo:.1f}-{bin_.hi:.1f}", "0", "", "", "")
                continue
            table.add_row(
                f"{bin_.lo:.1f}-{bin_.hi:.1f}",
                str(bin_.count),
                _pct(bin_.mean_forecast),
                _pct(bin_.observed),
                f"{_pct(bin_.ci_low)}-{_pct(bin_.ci_high)}",
            )
        parts += ["", table]
    if rep.numeric:
        n = rep.numeric
        parts.append(_intervals_text(n))
    if rep.point:
        pt = rep.point
        parts.append(
            f"\nguessed numbers: n={pt['n']}  off by {_pct(pt['relative_error'])} of the actual value on average; "
            f"{_pct(pt['within_10pct'])} within 10%"
        )
    if len(rep.trend) > 1:
        parts.append(
            "\nby month: " + "  ".join(f"{m.month} Brier {m.brier:.3f} (n={m.count})" for m in rep.trend)
        )
    for name, rows in rep.slices.items():
        if len(rows) > 1:
            cells = []
            for row in rows:
                score = f"Brier {row['brier']:.3f}" if row["brier"] is not None else ""
                cover = (
                    f"covered {_pct(row['coverage'])}/{_pct(row['expected_coverage'])}"
                    if row["coverage"] is not None
                    else ""
                )
                cells.append(f"{row[name]}: n={row['n']} {score} {cover}".rstrip())
            parts.append(f"by {name}: " + ";  ".join(cells))
    for warning in rep.warnings:
        parts.append(f"note: {warning}")
    if figure is not None:
        parts.append(f"reliability diagram: {figure}")
    show(*parts)


def _intervals_text(n: dict[str, Any]) -> str:
    """Coverage overall; the interval score per metric (it has the metric's units) and scaled by width."""
    lines = [
        f"\nintervals: n={n['n']}  covered {_pct(n['coverage'])} of outcomes against a stated "
        f"{_pct(n['expected_coverage'])}"
    ]
    if n["interval_score_scaled"] is not None:
        lines.append(
            f"  interval score {n['interval_score_scaled']:.3g} widths on average over {n['scaled_n']} "
            "(Gneiting & Raftery, each divided by its interval's width: 1 is a hit, a miss adds 2/α times "
            "its distance in widths; lower is better)"
        )
    for m in n["by_metric"]:
        lines.append(
            f"  {m['metric']}: n={m['n']}  covered {_pct(m['coverage'])} against {_pct(m['expected_coverage'])}"
            f"  interval score {m['interval_score']:.4g} (in {m['metric']}'s units)"
        )
    return "\n".join(lines)
