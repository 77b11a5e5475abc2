"""``lab papers``: import, list, triage, guess results before reading them, export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook
from labbook.cli.sync import sends_research
from labbook.records.papers import CHANGES, DECISIONS, OUTPUT_KINDS, Paper
from labbook.views import papers as views
from labbook.views import tables as render
from labbook.views.research import outcome_text, prediction_dict

if TYPE_CHECKING:  # the service loads with the first command that opens a notebook
    from labbook.service.papers import ImportReport


def _authors(p: Paper, most: int = 2) -> str:
    names = [a.split(",")[0] if "," in a else a.split()[-1] for a in p.authors if a.strip()]
    if len(names) > most or "others" in names:  # BibTeX's "and others" is et al.
        return f"{names[0]} et al."
    return " & ".join(names)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("papers")
def papers_cmd() -> None:
    """Papers: import, triage a weekly queue, guess results before reading them."""


@papers_cmd.command("import")
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["bibtex", "csl-json", "ris", "arxiv"]),
    help="The files' format (default: from each extension: .bib .json .ris .xml/.atom).",
)
@click.option("--strict", is_flag=True, help="Fail on the first unusable entry instead of skipping it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@sends_research
def papers_import(
    ctx: click.Context, files: tuple[Path, ...], fmt: str | None, strict: bool, as_json: bool
) -> None:
    """Import BibTeX, CSL-JSON (Zotero), RIS or saved arXiv Atom feeds; duplicates are merged.

    A paper already here (same DOI, arXiv id in any version, or title) gets the fields it
    lacked and the citation key; nothing it has is overwritten. Unusable entries are
    skipped and listed. Several files are one import: a BibTeX file's @string macros
    apply to the files after it, and if any file cannot be read or is not its format,
    nothing is written.
    """
    with open_notebook(ctx) as nb:
        summary = nb.papers.import_files(files, fmt, strict)
    if as_json:
        echo_json(views.import_dict(summary))
        return
    reports = summary.files
    for i, rep in enumerate(reports):
        _echo_file(rep, more_files=i < len(reports) - 1)
    if len(reports) > 1:
        click.echo(
            f"{len(reports)} files: {summary.total('added')} added, {summary.total('merged')} merged into "
            f"papers already here, {summary.total('skipped')} skipped"
        )
    if summary.total("added"):
        click.echo("Triage them: lab papers triage")


def _echo_file(rep: ImportReport, more_files: bool) -> None:
    """One file's line and its merges and skips; a file of @strings only says what it defined."""
    said = f"{len(rep.added)} added, {len(rep.merged)} merged into papers already here, {len(rep.skipped)} skipped"
    empty = not (rep.added or rep.merged or rep.skipped)
    if rep.macros and (more_files or empty):
        tail = "for the files after it" if more_files else "and no file after it to use them (name it first)"
        macros = f"{rep.macros} @string macro{'s' if rep.macros != 1 else ''} {tail}"
        said = macros if empty else f"{said}; {macros}"
    click.echo(f"{rep.file} ({rep.format}): {said}")
    for where, ref, why in rep.merged:
        click.echo(f"  merged   {where} → {ref} ({why})")
    for where, why in rep.skipped:
        click.echo(f"  skipped  {where}: {why}")


@papers_cmd.command("add")
@click.option("--title", required=True, help="The paper's title.")
@click.option("--arxiv", help="arXiv id, with or without version (2106.09685v2).")
@click.option("--doi", help="DOI (10.xxxx/...).")
@click.option("--author", "authors", multiple=True, help="An author; repeat for several.")
@click.option("--year", type=int, help="Year of publication.")
@click.option("--venue", help="Journal or conference.")
@click.option("--url", help="Where to read it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new paper as JSON.")
@click.pass_context
@sends_research
def papers_add(ctx: click.Context, /, title: str, as_json: bool, **fields: Any) -> None:
    """Add a paper by hand."""
    with open_notebook(ctx) as nb:
        paper = nb.papers.add(title, **fields)
    if as_json:
        echo_json(views.paper_dict(paper))
        return
    click.echo(f"{paper.ref}: {paper.title}")


@papers_cmd.command("ls")
@click.option("--status", type=click.Choice(["untriaged", *DECISIONS]), help="Only papers with this status.")
@click.option("--week", is_flag=True, help="Papers triaged this week, against the weekly target.")
@click.option("--json", "as_json", is_flag=True, help="Print the papers as JSON.")
@click.pass_context
def papers_ls(ctx: click.Context, status: str | None, week: bool, as_json: bool) -> None:
    """List papers (oldest first); --week counts this week's triage against the target."""
    with open_notebook(ctx) as nb:
        papers = nb.papers.list(status, week)
        w = nb.papers.week() if week else None
    if as_json:
        echo_json(views.papers_list(papers, w))
        return
    if w is not None:
        click.echo(
            f"this week: {w.triaged} triaged, target {w.low}-{w.high}: {w.verdict} "
            f"({w.untriaged} untriaged in the queue)"
        )
    if not papers:
        if w is None:
            click.echo(
                "no papers" + (f" with status {status}" if status else "") + "; lab papers import FILE"
            )
        return
    rows = [
        [
            p.ref,
            p.status,
            p.output_kind or "",
            p.changes or "",
            str(p.year or ""),
            _clip(_authors(p), 24),
            _clip(p.title, 70),
        ]
        for p in papers
    ]
    click.echo(render.plain_table(["id", "status", "kind", "changes", "year", "authors", "title"], rows, {4}))


@papers_cmd.command("show")
@click.argument("paper")
@click.option("--json", "as_json", is_flag=True, help="Print the paper and its guesses as JSON.")
@click.pass_context
def papers_show(ctx: click.Context, paper: str, as_json: bool) -> None:
    """Show a paper (R3, a citation key, a DOI or an arXiv id) and its guesses."""
    with open_notebook(ctx) as nb:
        p = nb.papers.get(paper)
        preds = nb.papers.predictions(p)
        keys = nb.papers.citekeys(p)
    if as_json:
        echo_json(views.paper_detail(p, preds, keys))
        return
    click.echo(f"{p.ref}  {p.title}")
    rows = [
        ("authors", "; ".join(p.authors)),
        ("year", str(p.year or "")),
        ("venue", p.venue or ""),
        ("doi", p.doi or ""),
        ("arxiv", p.arxiv or ""),
        ("url", p.url or ""),
        ("key" if len(keys) < 2 else "keys", ", ".join(keys) or p.citekey or ""),
        ("status", p.status + (f" ({render.when(p.triaged_at)})" if p.triaged_at else "")),
        ("kind", OUTPUT_KINDS.get(p.output_kind or "", "")),
        ("changes my work", p.changes or ""),
    ]
    for name, value in rows:
        if value:
            click.echo(f"  {name:16} {value}")
    if p.abstract:
        click.echo("\n" + p.abstract)
    if preds:
        click.echo("\nguesses and predictions")
        for x in preds:
            flags = f"  [{'; '.join(x.flags())}]" if x.flags() else ""
            due = f", due {render.when(x.due_at)[:10]}" if x.due_at else ""
            words = "" if x.metric else f" — {x.text}"  # a guess's text only repeats its metric and paper
            click.echo(f"  {x.ref}  {x.describe()}{due} → {outcome_text(x)}{flags}{words}")


@papers_cmd.command("export")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .bib file to write."
)
@click.option("--status", type=click.Choice(["untriaged", *DECISIONS]), help="Only papers with this status.")
@click.pass_context
def papers_export(ctx: click.Context, output: str, status: str | None) -> None:
    """Write the papers as BibTeX."""
    with open_notebook(ctx) as nb:
        n = nb.papers.export(Path(output), status)
    click.echo(f"wrote {n} paper{'s' if n != 1 else ''} to {output}")


@papers_cmd.command("target")
@click.argument("range_", metavar="LOW-HIGH", required=False)
@click.pass_context
def papers_target(ctx: click.Context, range_: str | None) -> None:
    """Show or set how many papers to triage a week (default 5-15)."""
    with open_notebook(ctx) as nb:
        low, high = nb.papers.set_target(range_) if range_ else nb.papers.target()
    click.echo(f"weekly triage target: {low}-{high} papers")


# -- triage --------------------------------------------------------------------------

_DECISION_KEYS = {"d": "drop", "s": "skim", "r": "read", "dr": "deep-read", "deep": "deep-read"}
_CHANGES_KEYS = {"y": "yes", "s": "sometimes", "n": "no"}


@papers_cmd.command("triage")
@click.argument("paper", required=False)
@click.option("--decision", type=click.Choice(DECISIONS), help="drop, skim, read or deep-read.")
@click.option("--kind", type=click.Choice(list(OUTPUT_KINDS)), help="What kind of output the paper is.")
@click.option("--changes", type=click.Choice(CHANGES), help="Does it change your work this quarter?")
@click.pass_context
@sends_research
def papers_triage(
    ctx: click.Context, paper: str | None, decision: str | None, kind: str | None, changes: str | None
) -> None:
    """Walk the untriaged queue, or triage one paper from a script.

    \b
    lab papers triage
    lab papers triage R3 --decision read --kind recipe --changes yes
    """
    with open_notebook(ctx) as nb:
        if paper is not None:
            if decision is None:
                raise click.UsageError("give --decision (and --kind, --changes unless you drop it)")
            p = nb.papers.triage(paper, decision, kind, changes)
            click.echo(f"{p.ref}: {_triage_words(p)} — {p.title}")
            return
        if decision or kind or changes:
            raise click.UsageError(
                "--decision/--kind/--changes need a paper: lab papers triage R3 --decision ..."
            )
        _walk(nb)


def _triage_words(p: Paper) -> str:
    if p.decision == "drop":
        return "drop"
    return f"{p.decision}, {OUTPUT_KINDS.get(p.output_kind or '', '?')}, changes my work: {p.changes}"


def _ask(prompt: str, keys: dict[str, str], full: tuple[str, ...]) -> str:
    """One answer from ``keys`` (shortcuts) or ``full`` (whole words); ``q`` always stops."""
    keys = {**keys, "q": "quit"}
    while True:
        answer = click.prompt(prompt, prompt_suffix=" ").strip()
        if answer in full:
            return answer
        if answer.lower() in keys:
            return keys[answer.lower()]
        click.echo(f"  answer one of: {', '.join(sorted(keys))} (or the full word)")


def _walk(nb: Any) -> None:
    queue = nb.papers.queue()
    if not queue:
        click.echo("the queue is empty: nothing to triage")
        return
    kinds = list(OUTPUT_KINDS)
    kind_keys = {str(i): k for i, k in enumerate(kinds, 1)}
    done = 0
    click.echo(f"{len(queue)} papers to triage. Enter q to stop; what is decided is saved as you go.")
    try:
        for i, p in enumerate(queue, 1):
            click.echo(f"\n[{i}/{len(queue)}] {p.ref}  {p.title}")
            where = ", ".join(x for x in (_authors(p, 3), p.venue or "", str(p.year or "")) if x)
            if where:
                click.echo(f"  {where}")
            if p.abstract:
                click.echo("  " + _clip(p.abstract, 700))
            decision = _ask(
                "decision: [d]rop [s]kim [r]ead [dr] deep-read, [n]ext to leave it, [q]uit:",
                {**_DECISION_KEYS, "n": "next"},
                (*DECISIONS, "next", "quit"),
            )
            if decision == "quit":
                break
            if decision == "next":
                continue
            kind = changes = None
            if decision != "drop":
                menu = "  ".join(f"{n}) {k}" for n, k in enumerate(kinds, 1))
                kind = _ask(f"kind of output: {menu}:", kind_keys, tuple(kinds))
                if kind == "quit":
                    break
                changes = _ask(
                    "changes my work this quarter? [y]es [s]ometimes [n]o:", _CHANGES_KEYS, CHANGES
                )
                if changes == "quit":
                    break
            nb.papers.triage(p.ref, decision, kind, changes)
            done += 1
    except click.exceptions.Abort:
        click.echo("")
    w = nb.papers.week()
    click.echo(f"\n{done} triaged now; this week {w.triaged}, target {w.low}-{w.high}: {w.verdict}")


# -- guesses --------------------------------------------------------------------------


@papers_cmd.command("guess")
@click.argument("paper")
@click.option("--metric", required=True, help="The result you guess, as the paper would report it.")
@click.option("--value", type=float, required=True, help="Your best guess.")
@click.option("--low", type=float, help="Lower end of a central interval.")
@click.option("--high", type=float, help="Upper end of a central interval.")
@click.option(
    "--level", type=float, default=0.8, show_default=True, help="Probability the interval holds it."
)
@click.option("--json", "as_json", is_flag=True, help="Print the guess as JSON.")
@click.pass_context
@sends_research
def papers_guess(
    ctx: click.Context, /, paper: str, metric: str, value: float, as_json: bool, **interval: Any
) -> None:
    """Before reading a paper's results, guess one from its method; scored like any prediction."""
    with open_notebook(ctx) as nb:
        pred = nb.papers.guess(paper, metric, value, **interval)
    if as_json:
        echo_json(prediction_dict(pred))
        return
    click.echo(f"{pred.ref} on R{pred.paper_id}: {pred.describe()}")
    if pred.late:
        click.echo("This guess is LATE: the actual value was already recorded, so it is kept but not scored.")


@papers_cmd.command("actual")
@click.argument("paper")
@click.option("--metric", required=True, help="The metric you guessed.")
@click.option("--value", type=float, required=True, help="What the paper reports.")
@click.option("--json", "as_json", is_flag=True, help="Print the scored guess as JSON.")
@click.pass_context
@sends_research
def papers_actual(ctx: click.Context, paper: str, metric: str, value: float, as_json: bool) -> None:
    """Record what the paper reported; the open guess on that metric is scored."""
    with open_notebook(ctx) as nb:
        pred = nb.papers.actual(paper, metric, value)
    if as_json:
        echo_json(prediction_dict(pred))
        return
    assert pred.point is not None
    off = abs(pred.point - value) / abs(value) if value else None
    how = f", off by {off:.0%}" if off is not None else ""
    inside = ""
    if pred.low is not None:
        inside = f", {'inside' if pred.resolution and pred.resolution.outcome == 'true' else 'outside'} your interval"
    click.echo(
        f"{pred.ref} on R{pred.paper_id}, {pred.metric}: guessed {pred.point:g}, reported {value:g}{how}{inside}"
    )


@papers_cmd.command("matters")
@click.argument("paper")
@click.option("-p", "--prob", "p", type=float, required=True, help="Probability that it will matter.")
@click.option("--by", required=True, help="When to look back (YYYY-MM-DD); lab due lists it then.")
@click.option("--text", help="What 'matters' means here (default: it will matter to my work).")
@click.pass_context
def papers_matters(ctx: click.Context, paper: str, p: float, by: str, text: str | None) -> None:
    """Predict whether a paper will matter by a date; lab due brings it back then."""
    with open_notebook(ctx) as nb:
        pred = nb.papers.matters(paper, p, by, text)
    click.echo(f"{pred.ref}: p={pred.p:g}, due {by} — {pred.text}")
