"""``lab demo``: the main loop on a real small experiment, in a throwaway notebook."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

from labbook.cli.calibration import calibration_cmd
from labbook.cli.journal import export_cmd
from labbook.cli.launcher import sweep_summary
from labbook.cli.research import hyp_show
from labbook.cli.runs import ls_cmd, show_cmd


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Project directory to use (default: a new temporary one).",
)
@click.option("--seeds", type=click.IntRange(1, 20), default=3, show_default=True, help="Seeds per variant.")
@click.pass_context
def demo_cmd(ctx: click.Context, directory: str | None, seeds: int) -> None:
    """The research loop on a real small experiment, in a throwaway notebook.

    Logistic regression with and without feature scaling: a problem, hypotheses and
    predictions first, then a seed sweep of each variant from config.yaml (2 runs at a
    time), the comparison with its verdict, the predictions scored, the failures sorted
    into piles, a write-up, the plan and today's agenda.
    """
    from labbook.demo import BELIEFS, close_hypotheses, plan_next, run_demo

    show_problem()
    hyps_by_variant = {variant: f"H{i + 1}" for i, variant in enumerate(BELIEFS)}
    click.secho("Before running anything, write down what you expect:", bold=True)
    for variant, (text, predictions) in BELIEFS.items():
        click.echo(f"  {hyps_by_variant[variant]} ({variant}): {text}")
        for words, forecast in predictions:
            shown = (
                f"p={forecast.p}"
                if forecast.p is not None
                else f"{forecast.level:.0%} in [{forecast.low}, {forecast.high}]"
            )
            click.echo(f"      predict: {words} ({shown})")

    def announce(command: list[str]) -> None:
        click.secho("\n$ " + " ".join(command), bold=True)

    notebook, ids, hyps = run_demo(
        Path(directory) if directory else None,
        seeds,
        parallel=2,
        announce=announce,
        report=lambda result: sweep_summary(result, result.jobs),
    )
    close_hypotheses(notebook, hyps)
    planned = plan_next(notebook, hyps[next(iter(BELIEFS))])
    project = notebook.root.parent
    notebook.close()
    ctx.obj = {"dir": str(project)}
    click.secho("\n$ lab ls", bold=True)
    ctx.invoke(ls_cmd, where=None, sort=None, columns=None, limit=50, as_json=False)
    click.secho(f"\n$ lab show {ids[-1]}", bold=True)
    ctx.invoke(show_cmd, run=str(ids[-1]), as_json=False, patch=False, packages=False)
    first = hyps[next(iter(BELIEFS))]
    _compare_variants(ctx)
    click.secho(f"\n$ lab hyp show {first}", bold=True)
    ctx.invoke(hyp_show, hyp=first, as_json=False)
    click.secho("\n$ lab calibration", bold=True)
    ctx.invoke(
        calibration_cmd,
        since=None,
        tag=None,
        problem=None,
        kind=None,
        include_late=False,
        bins=10,
        bin_range=None,
        output=None,
        as_json=False,
    )
    _failure_piles(ctx, project)
    report = project / "report" / f"{first}.md"
    click.secho(f"\n$ lab export {first} -o report/{first}.md", bold=True)
    ctx.invoke(export_cmd, hyp=first, output=str(report))
    show_today(ctx, planned)
    lab = "lab" if shutil.which("lab") else shlex.quote(os.path.abspath(sys.argv[0]))
    click.echo(
        f"\nThe notebook is in {project}/.labbook. Explore it:\n"
        f"  cd {shlex.quote(str(project))} && {lab} ls --where \"'scaled' in tags\" --sort -val_acc.max\n"
        f"  {lab} metrics {ids[-1]} val_acc    {lab} logs {ids[0]}    {lab} journal    {lab} hyp ls\n"
        f"In a browser: {lab} ui --dir {shlex.quote(str(project))}  (needs pip install 'labbook[web]')"
    )


def show_problem() -> None:
    """The demo starts from a problem on the list; its hypotheses name it and are linked to it."""
    import shlex as sh

    from labbook.demo import problem_command

    click.secho("$ " + sh.join(problem_command()), bold=True)
    click.echo("The hypotheses below name this problem, so they are linked to it.\n")


def show_today(ctx: click.Context, planned: list[list[str]]) -> None:
    """The demo ends on the plan for what comes next and the agenda a researcher opens the next morning."""
    import shlex as sh

    from labbook.cli.problems import today_cmd

    for command in planned:
        click.secho("\n$ " + sh.join(command), bold=True)
    click.secho("\n$ lab today", bold=True)
    ctx.invoke(today_cmd, as_json=False)


def _failure_piles(ctx: click.Context, project: Path) -> None:
    """Sort the failures of an unscaled run into piles by rule, then see which the scaled run fixed."""
    from labbook.cli.failures import diff_cmd, piles_cmd
    from labbook.demo import failure_piles
    from labbook.service.notebook import Notebook

    click.echo()
    with Notebook.open(project) as nb:
        name = failure_piles(nb, "plain-s0", say=lambda line: click.secho(line, bold=line.startswith("$ ")))
    click.secho(f"\n$ lab failures piles {name}", bold=True)
    ctx.invoke(piles_cmd, sample=name, as_json=False)
    click.secho("\n$ lab failures diff plain-s0 scaled-s0", bold=True)
    ctx.invoke(diff_cmd, run_a="plain-s0", run_b="scaled-s0", split="eval", sample=None, as_json=False)


def _compare_variants(ctx: click.Context) -> None:
    """The two variants side by side with honest statistics, and their curves."""
    from labbook.cli.compare import compare_cmd
    from labbook.cli.plot import plot_cmd

    click.secho("\n$ lab compare scale=true scale=false --metric val_acc", bold=True)
    ctx.invoke(
        compare_cmd,
        a="scale=true",
        b="scale=false",
        metrics=("val_acc",),
        agg="last",
        where=None,
        noise=None,
        goal=None,
        paired=False,
        examples=None,
        group_key=None,
        baseline=None,
        include_all=False,
        detect=None,
        as_json=False,
    )
    click.secho("\n$ lab plot val_acc", bold=True)
    ctx.invoke(
        plot_cmd,
        metric="val_acc",
        runs=(),
        where=None,
        sweep=None,
        group="variant",
        x_axis="step",
        smooth_k=1,
        log_y=False,
        noise=None,
        include_all=False,
        output=None,
        as_json=False,
    )
