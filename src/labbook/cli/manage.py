"""``lab tag``, ``lab rename``, ``lab rm``, ``lab gc``, ``lab archive``: runs changed after the fact."""

from __future__ import annotations

import click

from labbook.cli.output import echo_json
from labbook.cli.runs import open_notebook
from labbook.core.sizes import size_text
from labbook.records.runs import RunRecord

WHERE_HELP = "Select runs with a filter (the lab ls language), as well as or instead of naming them."


def _names(runs: list[RunRecord]) -> str:
    shown = ", ".join(f"{r.id} {r.label}" for r in runs[:10])
    return shown + (f" and {len(runs) - 10} more" if len(runs) > 10 else "")


def _brief(run: RunRecord) -> dict[str, object]:
    return {"id": run.id, "uid": run.uid, "name": run.name}


@click.command("tag", context_settings={"ignore_unknown_options": True})
@click.argument("items", nargs=-1, type=click.UNPROCESSED, metavar="RUN... +TAG... -TAG...")
@click.option("--where", help=WHERE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@click.pass_context
def tag_cmd(ctx: click.Context, items: tuple[str, ...], where: str | None, as_json: bool) -> None:
    """Add (+TAG) and remove (-TAG) tags; journaled.

    \b
    lab tag 12 13 +baseline -draft
    lab tag --where "lr > 0.01" +diverged
    """
    add = [t[1:] for t in items if t.startswith("+")]
    remove = [t[1:] for t in items if t.startswith("-")]
    refs = [t for t in items if not t.startswith(("+", "-"))]
    with open_notebook(ctx) as nb:
        runs = nb.manage.select(refs, where)
        changes = nb.manage.tag(runs, add, remove)
    if as_json:
        echo_json([{**_brief(r), "added": a, "removed": d} for r, a, d in changes])
        return
    for run, added, removed in changes:
        words = " ".join([f"+{t}" for t in added] + [f"-{t}" for t in removed]) or "no change"
        click.echo(f"run {run.id} {run.label}: {words}")


@click.command("rename")
@click.argument("run")
@click.argument("name")
@click.pass_context
def rename_cmd(ctx: click.Context, run: str, name: str) -> None:
    """Give a run a new name; journaled (the old name stays in the journal)."""
    with open_notebook(ctx) as nb:
        record, old = nb.manage.rename(run, name)
    click.echo(f"run {record.id}: {old or '(no name)'} → {name.strip()}")


@click.command("rm")
@click.argument("runs", nargs=-1)
@click.option("--where", help=WHERE_HELP)
@click.option("--force", is_flag=True, help="Remove runs that are evidence for a resolved prediction too.")
@click.option("--undo", is_flag=True, help="Bring runs back from the trash (default: the last lab rm).")
@click.option("--list", "listing", is_flag=True, help="List the runs in the trash.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@click.pass_context
def rm_cmd(
    ctx: click.Context,
    runs: tuple[str, ...],
    where: str | None,
    force: bool,
    undo: bool,
    listing: bool,
    as_json: bool,
) -> None:
    """Move runs to the trash: hidden from every command until lab rm --undo; lab gc deletes them.

    \b
    lab rm 12 13
    lab rm --where "status == 'crashed'"
    lab rm --undo          # the last lab rm, whole
    """
    with open_notebook(ctx) as nb:
        if listing:
            trash = nb.manage.trash()
            _print_trash(trash, as_json)
            return
        if undo:
            chosen = nb.manage.select(list(runs), where, in_trash=True) if runs or where else None
            back = nb.manage.restore(chosen)
            if as_json:
                echo_json({"restored": [_brief(r) for r in back]})
            else:
                click.echo(f"restored {len(back)} run(s): {_names(back)}" if back else "nothing to restore")
            return
        removal = nb.manage.remove(nb.manage.select(list(runs), where), force=force)
    if as_json:
        echo_json(
            {
                "removed": [_brief(r) for r in removal.removed],
                "kept": [{**_brief(r), "why": why} for r, why in removal.kept],
            }
        )
        return
    for run, why in removal.kept:
        click.echo(f"kept run {run.id} {run.label}: {why}")
    if removal.removed:
        click.echo(
            f"moved {len(removal.removed)} run(s) to the trash: {_names(removal.removed)}\n"
            "  lab rm --undo brings them back; lab gc deletes them for good"
        )
    elif not removal.kept:
        click.echo("nothing to remove: those runs are in the trash already")


def _print_trash(trash: list[RunRecord], as_json: bool) -> None:
    from labbook.views import tables as render

    if as_json:
        echo_json([{**_brief(r), "status": r.status, "trashed_at": r.trashed_at} for r in trash])
        return
    if not trash:
        click.echo("the trash is empty")
        return
    rows = [[str(r.id), r.label, r.status, render.when(r.trashed_at)] for r in trash]
    click.echo(render.plain_table(["id", "name", "status", "removed"], rows, {0}))


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted, delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
@click.pass_context
def gc_cmd(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Empty the trash: delete its runs and their files for good, and artifacts no run keeps."""

    with open_notebook(ctx) as nb:
        done = nb.manage.collect(dry_run=dry_run)
    if as_json:
        echo_json(
            {
                "dry_run": dry_run,
                "runs": [_brief(r) for r in done.runs],
                "bytes_freed": done.bytes_freed,
                "artifact_files": done.artifact_files,
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    if not done.runs and not done.artifact_files:
        click.echo("the trash is empty; nothing to delete")
        return
    click.echo(
        f"{verb} {len(done.runs)} run(s) from the trash ({size_text(done.bytes_freed)} of files)"
        + (f" and {done.artifact_files} artifact file(s) no run keeps" if done.artifact_files else "")
    )


@click.command("archive")
@click.argument("runs", nargs=-1)
@click.option("--where", help=WHERE_HELP)
@click.option("--undo", is_flag=True, help="Bring archived runs back into listings.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@click.pass_context
def archive_cmd(
    ctx: click.Context, runs: tuple[str, ...], where: str | None, undo: bool, as_json: bool
) -> None:
    """Keep runs but leave them out of lab ls and lab compare (--all shows them); journaled."""
    with open_notebook(ctx) as nb:
        changed = nb.manage.archive(nb.manage.select(list(runs), where), undo=undo)
    if as_json:
        echo_json({"unarchived" if undo else "archived": [_brief(r) for r in changed]})
        return
    if not changed:
        click.echo(
            "no change: " + ("none of those runs is archived" if undo else "those runs are archived already")
        )
    elif undo:
        click.echo(f"brought back {len(changed)} run(s): {_names(changed)}")
    else:
        click.echo(
            f"archived {len(changed)} run(s): {_names(changed)}\n  lab ls --all lists them; lab archive --undo brings them back"
        )
