"""Commands of the journal: ``note``, ``journal``, ``search``, ``export``."""

from __future__ import annotations

from pathlib import Path

import click

from labbook.cli.output import json_or_hint
from labbook.cli.runs import open_notebook
from labbook.views import tables as render
from labbook.views.journal import hits_list, timeline_list


@click.command("note")
@click.argument("text")
@click.option("-H", "--hyp", metavar="H", help="The hypothesis this note is about.")
@click.option("-r", "--run", metavar="RUN", help="The run this note is about.")
@click.option("--against", metavar="H", help="Record TEXT as evidence AGAINST hypothesis H.")
@click.pass_context
def note_cmd(ctx: click.Context, text: str, hyp: str | None, run: str | None, against: str | None) -> None:
    """Write a note, optionally about a hypothesis or a run.

    \b
    lab note "loss spikes at step 3k in every seed" --run 12
    lab note --against H2 "the gain vanishes once lr is retuned"
    """
    with open_notebook(ctx) as nb:
        n = nb.journal.note(text, hyp=hyp, run=run, against=against)
    about = []
    if n.hyp_id:
        about.append(("against " if n.against else "on ") + f"H{n.hyp_id}")
    if n.run_id:
        about.append(f"run {n.run_id}")
    click.echo(f"N{n.id}" + (f" ({', '.join(about)})" if about else "") + f": {n.text}")


@click.command("journal")
@click.option(
    "--since", default="30d", show_default=True, help="How far back: 7d, 12w, 6m, 1y, a date, or 'all'."
)
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@click.pass_context
def journal_cmd(ctx: click.Context, since: str, as_json: bool) -> None:
    """The timeline: notes, hypotheses, predictions, runs, resolutions and belief updates."""
    from labbook.service.calibration import parse_since

    start = None if since == "all" else parse_since(since)
    with open_notebook(ctx) as nb:
        events = nb.journal.timeline(start)
    if json_or_hint(as_json, lambda: timeline_list(events), not events, "nothing happened in that time"):
        return
    day = None
    for e in events:
        stamp = render.when(e.at)
        if stamp[:10] != day:
            day = stamp[:10]
            click.echo(day)
        hyp = f" [H{e.hyp_id}]" if e.hyp_id and not e.ref.startswith("H") else ""
        marker = "!!" if e.kind in ("evidence-against", "late-prediction") else ""
        click.echo(f"  {stamp[11:16]} {marker:2} {e.kind:19} {e.ref:8} {e.text}{hyp}")


@click.command("search")
@click.argument("query")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="At most this many hits.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.pass_context
def search_cmd(ctx: click.Context, query: str, limit: int, as_json: bool) -> None:
    """Full-text search over hypotheses, predictions, notes, runs, papers, problems and ideas (best first)."""
    with open_notebook(ctx) as nb:
        hits = nb.journal.search(query, limit)
    if json_or_hint(as_json, lambda: hits_list(hits), not hits, f"nothing matches {query!r}"):
        return
    prefix = {
        "hypothesis": "H",
        "prediction": "P",
        "note": "N",
        "run": "run ",
        "paper": "R",
        "problem": "Q",
        "idea": "I",
    }
    for h in hits:
        click.echo(f"{prefix.get(h.kind, '')}{h.ref:<5} {h.kind:10} {h.snippet}")


@click.command("export")
@click.argument("hyp")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Markdown file (default: H<n>.md here)."
)
@click.pass_context
def export_cmd(ctx: click.Context, hyp: str, output: str | None) -> None:
    """Write hypothesis HYP up in Markdown, with figures in a folder beside it."""
    from labbook.views.export import export

    with open_notebook(ctx) as nb:
        h = nb.hypotheses.get(hyp)
        path = export(nb, h.id, Path(output or f"{h.ref}.md"))
    click.echo(f"Wrote {path}")
