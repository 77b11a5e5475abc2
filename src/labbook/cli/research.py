"""Commands about hypotheses and predictions: ``hyp``, ``predict``, ``resolve``, ``due``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from labbook.cli.output import echo_json, json_or_hint, show
from labbook.cli.runs import open_notebook
from labbook.cli.sync import sends_research
from labbook.errors import BadInput
from labbook.service.forecast import Forecast
from labbook.service.hypotheses import Dossier, Hypotheses, when_made
from labbook.views import research as views
from labbook.views import tables as render
from labbook.views.research import outcome_text

# -- lab hyp ---------------------------------------------------------------------


@click.group("hyp")
def hyp_cmd() -> None:
    """Hypotheses: what you expect and why, before you run anything."""


@hyp_cmd.command("add")
@click.argument("text")
@click.option(
    "--problem", help="The problem this hypothesis bears on: a problem id (Q3) or title links to it."
)
@click.option("-t", "--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option(
    "--from-pile",
    metavar="SAMPLE[:PILE]",
    help="Start from a failure pile (default: the sample's biggest); the link is kept.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new hypothesis as JSON.")
@click.pass_context
@sends_research
def hyp_add(
    ctx: click.Context,
    text: str,
    problem: str | None,
    tags: tuple[str, ...],
    from_pile: str | None,
    as_json: bool,
) -> None:
    """Record a hypothesis. Link runs to it with lab run -H H."""
    link = None
    with open_notebook(ctx) as nb:
        if from_pile is not None:
            h, link = nb.failures.start_hypothesis(from_pile, text, problem, tags)
        else:
            h = nb.hypotheses.add(text, problem, tags)
    if as_json:
        echo_json(views.new_hypothesis_dict(h, link))
        return
    click.echo(f"{h.ref}: {h.text}")
    if link is not None:
        click.echo(
            f"From pile {link.pile} of sample {link.sample}: {link.count} of {link.reviewed} reviewed failures"
        )
    click.echo(f"Now write down what you expect before any result: lab predict {h.ref} TEXT -p 0.7")


@hyp_cmd.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the hypotheses as JSON.")
@click.pass_context
def hyp_ls(ctx: click.Context, as_json: bool) -> None:
    """List hypotheses with their status, runs and predictions."""
    with open_notebook(ctx) as nb:
        nb.hypotheses.auto_resolve()
        hyps = nb.hypotheses.list()
        preds = nb.hypotheses.predictions()
    if json_or_hint(
        as_json,
        lambda: views.hypotheses_list(hyps),
        not hyps,
        'no hypotheses yet; add one with: lab hyp add "TEXT"',
    ):
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("id", "status", "runs", "predictions", "hypothesis"):
        table.add_column(
            col, justify="right" if col in ("runs", "predictions") else "left", no_wrap=col != "hypothesis"
        )
    for h in hyps:
        mine = [p for p in preds if p.hyp_id == h.id and p.superseded_by is None]
        done = sum(1 for p in mine if p.resolution is not None)
        status = h.status + (f" ({h.outcome})" if h.outcome else "")
        table.add_row(
            h.ref, status, str(len(h.run_ids)), f"{done}/{len(mine)} resolved" if mine else "0", h.text
        )
    show(table)


@hyp_cmd.command("show")
@click.argument("hyp")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_context
def hyp_show(ctx: click.Context, hyp: str, as_json: bool) -> None:
    """Show a hypothesis, its predictions (with when they were made) and its runs."""
    with open_notebook(ctx) as nb:
        d = nb.hypotheses.dossier(hyp)
        piles = nb.failures.hypothesis_piles(d.hypothesis.id)
    if as_json:
        echo_json(views.dossier_dict(d, piles))
        return
    _show_hypothesis(d, piles)


def _show_hypothesis(d: Dossier, piles: tuple[Any, ...] | list[Any] = ()) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    h, preds, runs, first, notes = d.hypothesis, d.predictions, d.runs, d.first_result_at, d.notes
    parts: list[Any] = [Text(f"{h.ref}  {h.text}", style="bold")]
    head = Table(box=None, show_header=False, pad_edge=False)
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("status", h.status + (f": {h.outcome}" if h.outcome else ""))
    if h.belief:
        head.add_row("belief", h.belief)
    if h.problem:
        head.add_row("problem", (f"Q{h.problem_id}  " if h.problem_id else "") + h.problem)
    if h.tags:
        head.add_row("tags", ", ".join(h.tags))
    head.add_row("created", f"{render.when(h.created_at)} by {h.author}")
    head.add_row("first result", render.when(first) if first else "none yet")
    for link in piles:
        head.add_row(
            "from pile",
            f"{link.pile} of sample {link.sample} ({link.count} of {link.reviewed} reviewed failures)",
        )
    parts.append(head)
    against = [n for n in notes if n.against]
    if against:
        parts += ["", Text(f"EVIDENCE AGAINST ({len(against)})", style="bold red")]
        parts += [f"  N{n.id}  {render.when(n.created_at)}  {n.text}" for n in against]
    if preds:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=None)
        for col in ("id", "forecast", "made", "outcome", "prediction"):
            table.add_column(col, no_wrap=col != "prediction", overflow="fold")
        for p in preds:
            made = when_made(p, first)
            flags = p.flags()
            text = p.text + (f"  [{'; '.join(flags)}]" if flags else "")
            table.add_row(p.ref, p.describe(), made, outcome_text(p), text)
        parts += ["", table]
    else:
        parts += ["", f"no predictions yet: lab predict {h.ref} TEXT -p 0.7"]
    if runs:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        keys = sorted({p.metric for p in preds if p.metric})
        for col in ("run", "name", "status", *keys):
            table.add_column(col, no_wrap=True)
        for r in runs:
            table.add_row(
                str(r.id),
                r.name or "",
                render.status_text(r.status),
                *(render.number(r.metrics[k].last) if k in r.metrics else "" for k in keys),
            )
        parts += ["", table]
    others = [n for n in notes if not n.against]
    if others:
        parts += ["", "notes"] + [f"  N{n.id}  {render.when(n.created_at)}  {n.text}" for n in others]
    show(*parts)


# -- lab predict -------------------------------------------------------------------


@click.command("predict")
@click.argument("hyp", required=False)
@click.argument("text", required=False, default="")
@click.option("-p", "--prob", "p", type=float, help="Probability that it comes true (yes/no prediction).")
@click.option("--low", type=float, help="Lower end of a central interval.")
@click.option("--high", type=float, help="Upper end of a central interval.")
@click.option(
    "--level", type=float, default=0.8, show_default=True, help="Probability the interval holds the value."
)
@click.option("--point", type=float, help="Your single best guess (with --low/--high).")
@click.option("--metric", help="Tie to a metric of the hypothesis's runs so it resolves itself.")
@click.option(
    "--agg", default="last", show_default=True, help="Per run: last, min, max or mean of the metric."
)
@click.option("--reduce", default="mean", show_default=True, help="Across runs: mean, median, min or max.")
@click.option("--op", help="With --value: > >= < <= == != (a yes/no prediction on the metric).")
@click.option("--value", type=float, help="The threshold the reduced metric is compared with.")
@click.option(
    "--where", metavar="EXPR", help="Only the hypothesis's runs matching EXPR (the lab ls language)."
)
@click.option(
    "--diff",
    nargs=2,
    metavar="A B",
    help="About reduced(A) − reduced(B): two sides as lab compare takes them (with --op/--value or --low/--high).",
)
@click.option(
    "--verdict",
    nargs=3,
    metavar="A B WORD",
    help="About what lab compare A B --metric M concludes: better, worse or none.",
)
@click.option(
    "--runs", "min_runs", type=int, default=1, show_default=True, help="Finished runs needed to resolve."
)
@click.option("--due", help="When to come back to it (YYYY-MM-DD); lab due lists it then.")
@click.option("--revise", metavar="P", help="Revise prediction P (it stays visible, no longer scored).")
@click.option(
    "--import-fatebook",
    "fatebook",
    type=click.Path(exists=True, dir_okay=False),
    help="Import a Fatebook CSV export (More → Export all your forecasts).",
)
@click.option("--forecaster", help="With --import-fatebook: whose forecasts to take, if several people's.")
@click.option("--json", "as_json", is_flag=True, help="Print the new prediction as JSON.")
@click.pass_context
@sends_research
def predict_cmd(
    ctx: click.Context,
    /,
    hyp: str | None,
    text: str,
    due: str | None,
    revise: str | None,
    fatebook: str | None,
    forecaster: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Write down what you expect of hypothesis HYP before any result exists.

    \b
    lab predict H1 "scaling helps" -p 0.7
    lab predict H1 "accuracy lands here" --low 0.81 --high 0.86 --level 0.8
    lab predict H1 "beats 0.9 on average" -p 0.6 --metric val_acc --op '>' --value 0.9 --runs 3
    lab predict H1 "lr=0.2 ends above 0.8" -p 0.8 --metric acc --op '>' --value 0.8 --where "params.lr == 0.2" --runs 3
    lab predict H1 "scaling adds ≥ 2 points" -p 0.7 --metric val_acc --diff scale=true scale=false --op '>=' --value 0.02 --runs 3
    lab predict H1 "compare will call it" -p 0.6 --metric val_acc --verdict scale=true scale=false better --runs 3
    lab predict --revise P2 -p 0.55
    lab predict --import-fatebook fatebook-forecasts.csv
    """
    if fatebook is not None:
        _import_fatebook(ctx, Path(fatebook), forecaster, as_json)
        return
    with open_notebook(ctx) as nb:
        pred = nb.hypotheses.predict(hyp, text, Forecast(**fields), due=due, revise=revise)
    if as_json:
        echo_json(views.prediction_dict(pred))
        return
    where = f" on H{pred.hyp_id}" if pred.hyp_id else ""
    click.echo(f"{pred.ref}{where}: {pred.describe()} — {pred.text}")
    if pred.late:
        click.echo(
            "This prediction is LATE: a linked run has already logged results, so it is kept but not scored."
        )


def _import_fatebook(ctx: click.Context, path: Path, forecaster: str | None, as_json: bool) -> None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text; export it again from Fatebook") from None
    with open_notebook(ctx) as nb:
        rep = nb.hypotheses.import_fatebook(text, forecaster)
    if as_json:
        echo_json(views.fatebook_dict(rep))
        return
    click.echo(
        f"Imported from {path.name}: {rep.added} added, {rep.resolved} newly resolved, {rep.revised} revised, "
        f"{rep.unchanged} already here, {len(rep.skipped)} skipped"
        + (f", {rep.excluded} by other people left out" if rep.excluded else "")
    )
    for line, reason in rep.skipped:
        click.echo(f"  line {line}: {reason}")


# -- lab resolve / lab due ---------------------------------------------------------------


@click.command("resolve")
@click.argument("ref", required=False)
@click.argument("outcome", required=False, type=click.Choice(["true", "false", "ambiguous"]))
@click.option("--value", type=float, help="The number that came out (interval predictions).")
@click.option("--supported", "hyp_outcome", flag_value="supported", help="Close hypothesis REF as supported.")
@click.option("--refuted", "hyp_outcome", flag_value="refuted", help="Close hypothesis REF as refuted.")
@click.option(
    "--inconclusive", "hyp_outcome", flag_value="inconclusive", help="Close hypothesis REF, inconclusive."
)
@click.option("--belief", help="What you believe now, in words (with --supported/--refuted/--inconclusive).")
@click.option("--auto", is_flag=True, help="Resolve every metric-tied prediction whose runs are done.")
@click.pass_context
@sends_research
def resolve_cmd(
    ctx: click.Context,
    ref: str | None,
    outcome: str | None,
    value: float | None,
    hyp_outcome: str | None,
    belief: str | None,
    auto: bool,
) -> None:
    """Record how a prediction (P3 true|false|ambiguous, or --value X) or a hypothesis ended.

    \b
    lab resolve P3 true
    lab resolve P4 --value 0.847
    lab resolve H1 --supported --belief "scaling matters more than I thought"
    lab resolve --auto
    """
    with open_notebook(ctx) as nb:
        book: Hypotheses = nb.hypotheses
        if auto:
            done = book.auto_resolve()
            for p in done:
                click.echo(f"{p.ref}: {outcome_text(p)} — {p.text}")
            click.echo(f"{len(done)} prediction{'s' if len(done) != 1 else ''} resolved")
            return
        if ref is None:
            raise click.UsageError("name a prediction (P3) or a hypothesis (H1), or pass --auto")
        if hyp_outcome is not None or ref.upper().startswith("H"):
            if hyp_outcome is None:
                raise click.UsageError("close a hypothesis with --supported, --refuted or --inconclusive")
            h = book.resolve(ref, hyp_outcome, belief)
            click.echo(f"{h.ref} resolved: {h.outcome}" + (f" — {h.belief}" if h.belief else ""))
            return
        pred = book.resolve_prediction(ref, outcome, value)
        click.echo(f"{pred.ref}: {outcome_text(pred)} — {pred.text}")


@click.command("due")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def due_cmd(ctx: click.Context, as_json: bool) -> None:
    """Predictions waiting for you: past their due date, or whose runs have finished."""
    with open_notebook(ctx) as nb:
        items = nb.hypotheses.due()
    if json_or_hint(as_json, lambda: views.due_list(items), not items, "nothing is due"):
        return
    for p, reason in items:
        click.echo(f"{p.ref}  {reason}: {p.describe()} — {p.text}")
