"""``lab failures``: import per-example results, sample failures, review them into piles, diff runs."""

from __future__ import annotations

import math
from pathlib import Path

import click

from labbook.cli.output import echo_json, json_or_hint
from labbook.cli.runs import open_notebook
from labbook.errors import BadInput
from labbook.views import failures as views
from labbook.views import tables as render

SPLIT = click.option("--split", default="eval", show_default=True, help="Which examples of the run.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print exact machine output as JSON.")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else ""


@click.group("failures")
def failures_cmd() -> None:
    """Stare at the outputs: per-example results, failure samples, review, piles.

    \b
    lab failures import RUN preds.jsonl          # or run.log_examples(rows) in the script
    lab failures sample RUN -n 100 --name first  # a seeded sample of failures
    lab failures review first                    # one at a time, into named piles
    lab failures piles first                     # biggest pile first, with 95% intervals
    lab failures diff RUN_A RUN_B                # fixed, broken, which pile shrank
    """


@failures_cmd.command("import")
@click.argument("run")
@click.argument("file", type=click.Path(dir_okay=True, path_type=Path))
@SPLIT
@click.option("--id-field", default="id", show_default=True, help="The field holding each example's id.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), help="Default: from the file name."
)
@JSON
@click.pass_context
def import_cmd(
    ctx: click.Context, run: str, file: Path, split: str, id_field: str, fmt: str | None, as_json: bool
) -> None:
    """Import per-example results of RUN from a JSONL, CSV or Parquet FILE.

    Each row needs an id; other fields are yours (input, output, target, correct, loss...).
    Importing again replaces examples by id, so it is safe to re-run.
    """
    with open_notebook(ctx) as nb:
        rep = nb.failures.import_file(run, file, split, id_field, fmt)
    if as_json:
        echo_json(views.import_dict(rep))
        return
    replaced = f" ({rep.replaced} replaced existing ids)" if rep.replaced else ""
    click.echo(
        f"Imported {rep.taken} examples into run {rep.run_id} ({rep.split}){replaced}; "
        f"{len(rep.skipped)} skipped. The run has {rep.total} {rep.split} examples."
    )
    for line, reason in rep.skipped[:50]:
        click.echo(f"  {rep.unit} {line}: {reason}")
    if len(rep.skipped) > 50:
        click.echo(f"  ... and {len(rep.skipped) - 50} more (--json lists all)")


@failures_cmd.command("sample")
@click.argument("run")
@click.option("-n", "n", type=int, default=100, show_default=True, help="How many examples to draw.")
@click.option("-w", "--where", help="Which examples are failures (default: correct == false).")
@click.option("--stratify", help="A field whose values are represented in proportion.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed draws the same sample.")
@click.option("--name", help="Name of the sample (default: rRUN-SPLIT-K).")
@SPLIT
@JSON
@click.pass_context
def sample_cmd(
    ctx: click.Context,
    run: str,
    n: int,
    where: str | None,
    stratify: str | None,
    seed: int,
    name: str | None,
    split: str,
    as_json: bool,
) -> None:
    """Draw a named, reproducible sample of RUN's failures to review."""
    if where is not None and not where.strip():
        raise BadInput("the --where expression is empty")
    with open_notebook(ctx) as nb:
        res = nb.failures.sample(run, n, where, stratify, seed, name, split)
    s = res.sample
    if as_json:
        echo_json(views.drawn_dict(res))
        return
    what = f"matching {s.where!r}" if s.where else "failures"
    if res.short:
        click.echo(f"Only {res.available} examples are {what}; sample {s.name} holds all {s.size}.")
    else:
        click.echo(
            f"Sample {s.name}: {s.size} of {res.available} {what} of run {s.run_id} ({s.split}), seed {s.seed}."
        )
    click.echo(f"Review them: lab failures review {s.name}")


@failures_cmd.command("ls")
@click.argument("run", required=False)
@JSON
@click.pass_context
def ls_cmd(ctx: click.Context, run: str | None, as_json: bool) -> None:
    """List samples (of RUN, or all) with how far their review has come."""
    with open_notebook(ctx) as nb:
        samples = nb.failures.samples(run)
        reviewed = {s.name: nb.failures.piles(s.name).reviewed for s in samples}
    if json_or_hint(
        as_json,
        lambda: views.samples_list(samples, reviewed),
        not samples,
        "no samples yet; draw one with: lab failures sample RUN -n 100",
    ):
        return
    rows = [
        [s.name, str(s.run_id), s.split, str(s.size), str(reviewed[s.name]), s.where or "correct == false"]
        for s in samples
    ]
    click.echo(
        render.plain_table(["sample", "run", "split", "size", "reviewed", "failures are"], rows, {1, 3, 4})
    )


@failures_cmd.command("review")
@click.argument("sample")
@click.pass_context
def review_cmd(ctx: click.Context, sample: str) -> None:
    """Read a sample one example at a time and sort each into piles (resumes where you stopped).

    At the prompt: pile names separated by spaces (Tab completes), then an optional note.
    Enter alone skips, '<' goes back, 'q' quits. Every answer is saved at once.
    """
    from labbook.cli.review import review

    with open_notebook(ctx) as nb:
        review(nb, sample)


@failures_cmd.command("tag")
@click.argument("sample")
@click.argument("example_id")
@click.argument("piles", nargs=-1)
@click.option("--note", help="A note on the example.")
@click.pass_context
def tag_cmd(
    ctx: click.Context, sample: str, example_id: str, piles: tuple[str, ...], note: str | None
) -> None:
    """Put EXAMPLE_ID of SAMPLE into one or more PILES (the scriptable review)."""
    with open_notebook(ctx) as nb:
        added = nb.failures.tag(sample, example_id, list(piles), note)
    shown = ", ".join(added) if added else "no pile"
    click.echo(f"{example_id} → {shown}" + (" (note saved)" if note is not None else ""))


@failures_cmd.command("rule")
@click.argument("sample")
@click.argument("pile")
@click.option("-w", "--where", required=True, help="Which examples of the sample go into PILE.")
@click.pass_context
def rule_cmd(ctx: click.Context, sample: str, pile: str, where: str) -> None:
    """Fill PILE with every example of SAMPLE that matches --where."""
    with open_notebook(ctx) as nb:
        matched, added = nb.failures.rule(sample, pile, where)
    click.echo(f"{pile}: {matched} examples match, {added} newly added")


@failures_cmd.command("piles")
@click.argument("sample")
@JSON
@click.pass_context
def piles_cmd(ctx: click.Context, sample: str, as_json: bool) -> None:
    """Each pile's size, share of the reviewed examples (95% Wilson CI), and estimate among all failures."""
    with open_notebook(ctx) as nb:
        rep = nb.failures.piles(sample)
    s = rep.sample
    if as_json:
        echo_json(views.piles_dict(rep))
        return
    click.echo(
        f"sample {s.name}: {s.size} of {s.population} failures of run {s.run_id} ({s.split}); "
        f"{rep.reviewed} reviewed, {rep.unreviewed} unreviewed"
    )
    if not rep.piles:
        click.echo(f"no piles yet: lab failures review {s.name}")
        return
    rows = [
        [
            p.pile,
            str(p.count),
            _pct(p.share),
            f"{_pct(p.low)}–{_pct(p.high)}",
            f"{p.estimate:.0f}",
            f"{p.est_low:.0f}–{p.est_high:.0f}",
        ]
        for p in rep.piles
    ]
    click.echo(
        render.plain_table(
            ["pile", "count", "share", "95% CI", f"est. of {s.population}", "95% CI"], rows, {1, 2, 3, 4, 5}
        )
    )


@failures_cmd.command("show")
@click.argument("sample")
@click.option("--pile", help="Only the examples in this pile.")
@JSON
@click.pass_context
def show_cmd(ctx: click.Context, sample: str, pile: str | None, as_json: bool) -> None:
    """List the examples of SAMPLE (or of one pile) with their piles and notes."""
    from labbook.service.failures import preview

    with open_notebook(ctx) as nb:
        items = nb.failures.items(sample, pile)
    if as_json:
        echo_json(views.items_list(items))
        return
    rows = [
        [str(i.position + 1), i.ex_id, ",".join(i.piles), preview(i.data, 50), i.note or ""] for i in items
    ]
    click.echo(render.plain_table(["#", "id", "piles", "output", "note"], rows, {0}))


@failures_cmd.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@SPLIT
@click.option("--sample", help="A reviewed sample of RUN_A whose piles to follow (default: the latest).")
@JSON
@click.pass_context
def diff_cmd(
    ctx: click.Context, run_a: str, run_b: str, split: str, sample: str | None, as_json: bool
) -> None:
    """What changed between two runs on the examples both scored: fixed, broken, and per pile."""
    with open_notebook(ctx) as nb:
        d = nb.failures.diff(run_a, run_b, split, sample)
    if as_json:
        echo_json(views.diff_dict(d))
        return
    extra = []
    if d.only_a or d.only_b:
        extra.append(f"{d.only_a} only in {d.run_a}, {d.only_b} only in {d.run_b}")
    if d.unknown:
        extra.append(f"{d.unknown} without 'correct'")
    click.echo(
        f"runs {d.run_a} → {d.run_b} ({d.split}): {d.paired} examples scored by both"
        + (f" ({'; '.join(extra)})" if extra else "")
    )
    click.echo(
        f"  fixed {d.fixed}   broken {d.broken}   still right {d.still_right}   still wrong {d.still_wrong}"
    )
    t = d.test
    click.echo(
        f"  accuracy {d.acc_a:.4f} → {d.acc_b:.4f} ({d.acc_b - d.acc_a:+.4f}); "
        f"McNemar exact p = {t.p_exact:.3g} (chi² = {t.chi2:.2f}, p = {t.p_asymptotic:.3g})"
    )
    if d.sample is None:
        click.echo(f"  (no reviewed sample of run {d.run_a}; review one to see which pile shrank)")
        return
    click.echo(f"\npiles of sample {d.sample} ({d.sample_reviewed} reviewed) in run {d.run_b}:")
    rows = [[p.pile, str(p.in_a), str(p.fixed), str(p.still_failing), str(p.missing)] for p in d.piles]
    click.echo(
        render.plain_table(
            ["pile", f"in {d.run_a}", f"fixed in {d.run_b}", "still failing", "not scored"],
            rows,
            {1, 2, 3, 4},
        )
    )


@failures_cmd.command("tail")
@click.argument("run")
@click.option("--by", required=True, help="A numeric field (loss, score) or len(FIELD) for a text's length.")
@click.option("-n", "n", type=int, default=20, show_default=True, help="How many examples.")
@SPLIT
@JSON
@click.pass_context
def tail_cmd(ctx: click.Context, run: str, by: str, n: int, split: str, as_json: bool) -> None:
    """The most extreme examples by a field, with robust z-scores (median and MAD)."""
    with open_notebook(ctx) as nb:
        t = nb.failures.tail(run, by, n, split)
    if as_json:
        echo_json(views.tail_dict(t))
        return
    missing = f" ({t.missing} without it)" if t.missing else ""
    click.echo(
        f"run {t.run_id} ({t.split}): {t.numeric} examples have {t.by}{missing}; median {render.number(t.median)}"
    )
    rows = [
        [
            r.ex_id,
            render.number(r.value),
            f"{r.z:+.1f}" if math.isfinite(r.z) else ("+inf" if r.z > 0 else "-inf"),
            "" if r.correct is None else ("yes" if r.correct else "no"),
            r.preview,
        ]
        for r in t.rows
    ]
    click.echo(render.plain_table(["id", t.by, "robust z", "correct", "output"], rows, {1, 2}))
