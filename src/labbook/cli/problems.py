"""Direction: ``lab problems``, ``lab ideas``, ``lab plan`` and ``lab today``."""

from __future__ import annotations

from typing import Any

import click

from labbook.cli.output import echo_json, json_or_hint
from labbook.cli.runs import open_notebook
from labbook.cli.sync import sends_research
from labbook.views import problems as views
from labbook.views import tables as render

# -- lab problems ---------------------------------------------------------------------


@click.group("problems")
def problems_cmd() -> None:
    """The 10-20 important problems: why each matters and its angle of attack."""


@problems_cmd.command("add")
@click.argument("title")
@click.option("--why", required=True, help="Why it matters.")
@click.option("--attack", help="The angle of attack (without one the problem is not yet workable).")
@click.option("--json", "as_json", is_flag=True, help="Print the new problem as JSON.")
@click.pass_context
@sends_research
def problems_add(ctx: click.Context, title: str, why: str, attack: str | None, as_json: bool) -> None:
    """Add an important problem."""
    with open_notebook(ctx) as nb:
        problem, adopted = nb.problems.add(title, why, attack)
    if as_json:
        echo_json(views.problem_dict(problem))
        return
    click.echo(f"{problem.ref}: {problem.title}" + ("" if problem.workable else "  (no angle of attack yet)"))
    if adopted:
        click.echo(f"linked {', '.join(f'H{h}' for h in adopted)}, which named this problem")
    click.echo(f"Link hypotheses to it: lab hyp add TEXT --problem {problem.ref}")


@problems_cmd.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Include retired problems.")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def problems_ls(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List the problems; warns when fewer than 10 or more than 20 are active."""
    with open_notebook(ctx) as nb:
        problems = nb.problems.list(include_retired=show_all)
        warning = nb.problems.active_warning()
    if as_json:
        echo_json(views.problems_list(problems))
        return
    if problems:
        rows = [
            [p.ref, p.status, str(len(p.hyp_ids)), p.title, p.attack or "(none: not yet workable)"]
            for p in problems
        ]
        click.echo(render.plain_table(["id", "status", "hyps", "problem", "attack"], rows, {2}))
    else:
        click.echo('no problems yet: lab problems add TITLE --why "..." --attack "..."')
    if warning:
        click.echo(f"note: {warning}")


@problems_cmd.command("show")
@click.argument("problem")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def problems_show(ctx: click.Context, problem: str, as_json: bool) -> None:
    """Show a problem, its hypotheses, ideas and the matches that ranked it."""
    with open_notebook(ctx) as nb:
        p = nb.problems.get(problem)
        hyps = [nb.hypotheses.get(h) for h in p.hyp_ids]
        ideas = [i for i in nb.ideas.list() if i.problem_id == p.id]
        matches = nb.problems.matches_of(p)
    if as_json:
        echo_json(views.problem_detail(p, ideas, matches))
        return
    click.echo(f"{p.ref}  {p.title}  [{p.status}]")
    click.echo(f"  why     {p.why}")
    click.echo(f"  attack  {p.attack or '(none yet: not workable)'}")
    if p.retired_at:
        click.echo(f"  retired {render.when(p.retired_at)}" + (f": {p.retired_why}" if p.retired_why else ""))
    if p.notes:
        click.echo("notes")
        for line in p.notes.splitlines():
            click.echo(f"  {line}")
    if hyps:
        click.echo("hypotheses")
        for h in hyps:
            click.echo(f"  {h.ref}  {h.status + (f' ({h.outcome})' if h.outcome else '')}  {h.text}")
    if ideas:
        click.echo("ideas")
        for i in ideas:
            click.echo(f"  {i.ref}  {i.outcome or 'open'}  {i.text}")
    if matches:
        click.echo("considered in matches")
        for m, text, at, rank in matches[:10]:
            click.echo(f"  #{m} {render.short_when(at)}  ranked {rank}: {text}")


@problems_cmd.command("edit")
@click.argument("problem")
@click.option("--title", help="A new title.")
@click.option("--why", help="Why it matters, rewritten.")
@click.option("--attack", help="The angle of attack ('' removes it).")
@click.option("--note", help="A note to add (searched by lab problems match).")
@click.pass_context
@sends_research
def problems_edit(ctx: click.Context, /, problem: str, **changes: Any) -> None:
    """Change a problem's title, why or attack, or add a note."""
    with open_notebook(ctx) as nb:
        p = nb.problems.edit(problem, **changes)
    click.echo(f"{p.ref}: {p.title}  [{p.status}]")


@problems_cmd.command("retire")
@click.argument("problem")
@click.option("--why", help="Why it is no longer on the list.")
@click.pass_context
@sends_research
def problems_retire(ctx: click.Context, problem: str, why: str | None) -> None:
    """Take a problem off the active list (it stays in the notebook)."""
    with open_notebook(ctx) as nb:
        p = nb.problems.retire(problem, why)
        warning = nb.problems.active_warning()
    click.echo(f"{p.ref} retired: {p.title}")
    if warning:
        click.echo(f"note: {warning}")


@problems_cmd.command("link")
@click.argument("hyp")
@click.argument("problem")
@click.pass_context
@sends_research
def problems_link(ctx: click.Context, hyp: str, problem: str) -> None:
    """Link an existing hypothesis to a problem."""
    with open_notebook(ctx) as nb:
        p = nb.problems.link(hyp, problem)
        h = nb.hypotheses.get(hyp)
    click.echo(f"{h.ref} → {p.ref}: {p.title}")


@problems_cmd.command("match")
@click.argument("text")
@click.option("--limit", type=int, default=10, show_default=True, help="How many problems to show.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def problems_match(ctx: click.Context, text: str, limit: int, as_json: bool) -> None:
    """Which active problems a new tool, method or fact bears on, most first (bm25).

    Ranks over each problem's title, why, attack and notes, and the hypotheses linked to
    it with their notes. The match is recorded: lab problems show lists it.
    """
    with open_notebook(ctx) as nb:
        m = nb.problems.match(text, limit)
    if json_or_hint(
        as_json,
        lambda: views.match_dict(m),
        not m.ranked,
        f"no active problem shares a word with this (recorded as match #{m.id})",
    ):
        return
    rows = [[str(i), p.ref, f"{score:.3g}", p.title] for i, (p, score) in enumerate(m.ranked, 1)]
    click.echo(render.plain_table(["rank", "id", "bm25", "problem"], rows, {0, 2}))
    click.echo(f"recorded as match #{m.id}")


# -- lab ideas ------------------------------------------------------------------------


@click.group("ideas")
def ideas_cmd() -> None:
    """Ideas, rated before anyone knows whether they work; raters scored afterwards."""


@ideas_cmd.command("add")
@click.argument("text")
@click.option("--problem", help="The problem it attacks (Q3).")
@click.pass_context
def ideas_add(ctx: click.Context, text: str, problem: str | None) -> None:
    """Write an idea down."""
    with open_notebook(ctx) as nb:
        idea = nb.ideas.add(text, problem)
    click.echo(f"{idea.ref}: {idea.text}")
    click.echo(f"Rate it before you try it: lab ideas rate {idea.ref} -p 0.3")


@ideas_cmd.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the ideas as JSON.")
@click.pass_context
def ideas_ls(ctx: click.Context, as_json: bool) -> None:
    """List ideas with their ratings and outcomes."""
    with open_notebook(ctx) as nb:
        ideas = nb.ideas.list()
    if json_or_hint(
        as_json, lambda: views.ideas_list(ideas), not ideas, 'no ideas yet: lab ideas add "TEXT"'
    ):
        return
    rows = [
        [
            i.ref,
            i.outcome or "open",
            f"Q{i.problem_id}" if i.problem_id else "",
            " ".join(f"{r.rater}={r.p:g}" for r in i.ratings),
            i.text,
        ]
        for i in ideas
    ]
    click.echo(render.plain_table(["id", "outcome", "problem", "ratings", "idea"], rows, set()))


@ideas_cmd.command("rate")
@click.argument("idea")
@click.option("-p", "--prob", "p", type=float, required=True, help="Probability that the idea works.")
@click.option("--rater", help="Who rates it (default: you, $LABBOOK_USER or your login).")
@click.pass_context
def ideas_rate(ctx: click.Context, idea: str, p: float, rater: str | None) -> None:
    """Rate an idea: the probability it works, by you or a mentor."""
    with open_notebook(ctx) as nb:
        i = nb.ideas.rate(idea, p, rater)
    click.echo(f"{i.ref}: " + ", ".join(f"{r.rater} p={r.p:g}" for r in i.ratings))


@ideas_cmd.command("outcome")
@click.argument("idea")
@click.argument("outcome", type=click.Choice(["worked", "failed", "abandoned"]))
@click.pass_context
def ideas_outcome(ctx: click.Context, idea: str, outcome: str) -> None:
    """Record how an idea turned out (abandoned ideas do not score their raters)."""
    with open_notebook(ctx) as nb:
        i = nb.ideas.outcome(idea, outcome)
    click.echo(f"{i.ref} {i.outcome}: {i.text}")


@ideas_cmd.command("raters")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def ideas_raters(ctx: click.Context, as_json: bool) -> None:
    """Score each rater's ratings against outcomes (Brier; lower is better)."""
    with open_notebook(ctx) as nb:
        scores = nb.ideas.raters()
    if json_or_hint(
        as_json,
        lambda: views.raters_list(scores),
        not scores,
        "no ratings yet: lab ideas rate I1 -p 0.3 [--rater NAME]",
    ):
        return
    rows = [
        [
            s.rater,
            str(s.rated),
            str(s.scored),
            f"{s.brier:.3f}" if s.brier is not None else "",
            f"{s.mean_p:.2f}" if s.mean_p is not None else "",
            f"{s.worked:.2f}" if s.worked is not None else "",
        ]
        for s in scores
    ]
    click.echo(
        render.plain_table(["rater", "rated", "scored", "Brier", "mean p", "worked"], rows, {1, 2, 3, 4, 5})
    )
    click.echo("Brier: 0 is perfect, 0.25 is always saying 50%; only ideas that worked or failed are scored")


# -- lab plan -------------------------------------------------------------------------


@click.group("plan", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the ordered plan as JSON.")
@click.pass_context
def plan_cmd(ctx: click.Context, as_json: bool) -> None:
    """Open tasks, riskiest cheap step first (highest ln(1/p)/hours first).

    \b
    lab plan add "check the baseline reproduces" -p 0.6 --hours 4
    lab plan
    lab plan done T1     lab plan failed T2
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_notebook(ctx) as nb:
        s = nb.plan.schedule()
    if as_json:
        echo_json(views.schedule_dict(s))
        return
    if s.tasks:
        from labbook.core.plan import priority

        rows = [
            [str(n), t.ref, f"{t.p:g}", f"{t.hours:g}", f"{priority(t.p, t.hours):.3f}", t.text]
            for n, t in enumerate(s.tasks, 1)
        ]
        click.echo(render.plain_table(["#", "id", "p", "hours", "ln(1/p)/h", "task"], rows, {0, 2, 3, 4}))
        click.echo(
            f"all {len(s.tasks)} succeed: p={s.p_all:.3f}; expected hours before the first failure: "
            f"{s.expected_hours:.1f} of {s.total_hours:g}"
        )
    else:
        click.echo("no open tasks: lab plan add TASK -p 0.6 --hours 4")
    if s.closed:
        click.echo(
            f"your p estimates on {s.closed} closed task{'s' if s.closed != 1 else ''}: Brier {s.brier:.3f}"
        )


@plan_cmd.command("add")
@click.argument("task")
@click.option("-p", "--prob", "p", type=float, required=True, help="Probability that it succeeds.")
@click.option("--hours", type=float, required=True, help="Estimated hours.")
@click.option("--hyp", metavar="H", help="The hypothesis it tests.")
@click.pass_context
def plan_add(ctx: click.Context, task: str, p: float, hours: float, hyp: str | None) -> None:
    """Add a task with its chance of success and its cost."""
    with open_notebook(ctx) as nb:
        t = nb.plan.add(task, p, hours, hyp)
    click.echo(f"{t.ref}: {t.text} (p={t.p:g}, {t.hours:g} h)")


def _close(ctx: click.Context, task: str, status: str) -> None:
    with open_notebook(ctx) as nb:
        t = nb.plan.close(task, status)
        s = nb.plan.schedule()
    click.echo(f"{t.ref} {t.status}: {t.text} (you said p={t.p:g})")
    if s.tasks:
        click.echo(f"next: {s.tasks[0].ref}  {s.tasks[0].text}")


@plan_cmd.command("done")
@click.argument("task")
@click.pass_context
def plan_done(ctx: click.Context, task: str) -> None:
    """Mark a task done (it succeeded)."""
    _close(ctx, task, "done")


@plan_cmd.command("failed")
@click.argument("task")
@click.pass_context
def plan_failed(ctx: click.Context, task: str) -> None:
    """Mark a task failed."""
    _close(ctx, task, "failed")


# -- lab today ------------------------------------------------------------------------


@click.command("today")
@click.option("--json", "as_json", is_flag=True, help="Print the agenda as JSON.")
@click.pass_context
def today_cmd(ctx: click.Context, as_json: bool) -> None:
    """One screen: predictions due, hypotheses to resolve, papers this week, the plan's next task."""
    from labbook.service.today import agenda

    with open_notebook(ctx) as nb:
        sections = agenda(nb)
    if as_json:
        echo_json(views.agenda_dict(sections))
        return
    for n, s in enumerate(sections):
        if n:
            click.echo("")
        if not s.available:
            click.echo(f"{s.title}: {' '.join(s.lines)}")
            continue
        click.secho(s.title, bold=True)
        for line in s.lines:
            click.echo(f"  {line}")
