"""``lab check -- COMMAND``: a script run only as far as its sanity checks, as a pre-flight."""

from __future__ import annotations

import click

from labbook.errors import BadInput, LabbookError


@click.command("check", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def check_cmd(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Run COMMAND until its labbook.checks.run has checked the model, print the report, and stop.

    The command runs with LABBOOK_CHECKS=only: its call to labbook.checks.run records the
    report on its run (tagged preflight) and ends the process there, before any training.
    Exit code 0 when every check passed, 1 when one failed, 2 when the command never
    called labbook.checks.run.

    \b
    lab check -- python train.py --lr 0.1
    """
    import json
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from labbook.checks import ENV, REPORT_ENV
    from labbook.checks.report import Report
    from labbook.launch.local import resolve_command

    argv = list(command)
    resolve_command(argv)
    with tempfile.TemporaryDirectory(prefix="labbook-check-") as tmp:
        target = Path(tmp) / "report.json"
        env = {**os.environ, ENV: "only", REPORT_ENV: str(target)}
        if (ctx.obj or {}).get("dir"):
            env["LABBOOK_DIR"] = str(ctx.obj["dir"])
        code = subprocess.run(argv, env=env).returncode
        data = json.loads(target.read_text(encoding="utf-8")) if target.exists() else None
    if data is None:
        if code != 0:
            raise LabbookError(f"{argv[0]} exited with {code} before calling labbook.checks.run")
        raise BadInput(
            f"{' '.join(argv)} ended without calling labbook.checks.run; call it on one batch before training"
        )
    report = Report.from_json(data)
    click.echo(report.render())
    if data.get("run") is not None:
        click.echo(f"kept with run {data['run']} (lab show {data['run']})")
    ctx.exit(0 if report.ok else 1)
