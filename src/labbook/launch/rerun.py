"""``lab rerun``: the same code, config and environment, run again.

The code is rebuilt in a temporary git worktree at the captured commit with the captured
patch applied, so the rerun does not depend on what the working tree holds today. What
cannot be restored is said before anything runs: untracked files (they were listed, not
saved), and an interpreter or packages that differ from the ones captured.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labbook.errors import BadInput, LaunchError
from labbook.records.runs import RunRecord
from labbook.service.notebook import Notebook
from labbook.tracking.capture import command_python, python_info


@dataclass(frozen=True)
class Plan:
    """What a rerun will do, and what it cannot restore."""

    run: RunRecord
    repo: Path
    commit: str
    patch: str
    cwd_in_repo: str
    argv: list[str]
    config: dict[str, Any] | None
    env: dict[str, str]
    warnings: list[str]


def plan(nb: Notebook, ref: str | int) -> Plan:
    run = nb.get_run(ref)
    cap = run.capture
    git = cap.get("git") or {}
    if not git.get("repo") or not git.get("commit"):
        reason = git.get("reason", "no code state was captured")
        raise BadInput(f"run {run.id} cannot be rerun: its code was not in a git commit ({reason})")
    if not run.command:
        raise BadInput(f"run {run.id} was not started with lab run, so there is no command to run again")
    repo = Path(git["repo"])
    if not (repo / ".git").exists():
        raise BadInput(f"run {run.id}'s repository {repo} is gone; clone it there to rerun")
    probe = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "-e", f"{git['commit']}^{{commit}}"], capture_output=True
    )
    if probe.returncode != 0:
        raise BadInput(
            f"commit {git['commit'][:10]} of run {run.id} is no longer in {repo}; fetch it to rerun"
        )
    warnings = []
    if git.get("untracked_count"):
        shown = ", ".join(git.get("untracked", [])[:5])
        warnings.append(
            f"{git['untracked_count']} untracked file(s) were not saved and will be missing ({shown})"
        )
    if git.get("patch_truncated"):
        warnings.append("the uncommitted patch was too large to keep whole; the code will differ")
    warnings += _environment_differences(nb, run)
    cwd = os.path.relpath(run.cwd or str(repo), repo)
    if cwd.startswith(".."):
        warnings.append(
            f"the run started outside its repository ({run.cwd}); it will start at the repository root"
        )
        cwd = "."
    env = {k: v for k, v in (cap.get("env") or {}).items() if not k.startswith("LABBOOK_")}
    return Plan(
        run,
        repo,
        git["commit"],
        nb.blob(cap.get("patch")) or "",
        cwd,
        list(run.command),
        cap.get("config"),
        env,
        warnings,
    )


def _environment_differences(nb: Notebook, run: RunRecord) -> list[str]:
    then = run.capture.get("python") or {}
    if not then:  # not a Python command, and no SDK inside said which Python it ran
        return []
    now = python_info(
        command_python(run.command or []) or then.get("executable") or sys.executable, nb.cache_dir
    )
    out = []
    if then.get("version") and now.get("version") and then["version"] != now["version"]:
        out.append(f"Python is {now['version']} now, {then['version']} then")
    old = set((nb.blob(run.capture.get("packages")) or "").splitlines())
    new = set((now.get("freeze") or "").splitlines())
    if old and new and old != new:
        changed = sorted({line.split("==")[0] for line in old ^ new})
        out.append(f"{len(changed)} package(s) differ from the captured ones ({', '.join(changed[:6])})")
    return out


@contextmanager
def worktree(p: Plan, keep: bool = False) -> Iterator[Path]:
    """The captured code checked out in a temporary directory (removed afterwards)."""
    where = Path(tempfile.mkdtemp(prefix=f"labbook-rerun-{p.run.id}-")) / "code"
    add = subprocess.run(
        ["git", "-C", str(p.repo), "worktree", "add", "--detach", str(where), p.commit],
        capture_output=True,
        text=True,
    )
    if add.returncode != 0:
        raise LaunchError(f"could not check out {p.commit[:10]}: {add.stderr.strip().splitlines()[-1:]}")
    try:
        if p.patch:
            patch_file = where.parent / "captured.patch"
            patch_file.write_text(p.patch)
            applied = subprocess.run(
                ["git", "-C", str(where), "apply", "--binary", str(patch_file)],
                capture_output=True,
                text=True,
            )
            if applied.returncode != 0:
                raise LaunchError(
                    f"the captured patch does not apply to {p.commit[:10]}: {applied.stderr.strip()}"
                )
        yield where
    finally:
        if not keep:
            subprocess.run(
                ["git", "-C", str(p.repo), "worktree", "remove", "--force", str(where)], capture_output=True
            )
            shutil.rmtree(where.parent, ignore_errors=True)


def run_again(
    nb: Notebook,
    p: Plan,
    keep_worktree: bool = False,
    on_start: Callable[[int, list[str], Path], None] | None = None,
) -> tuple[int, int]:
    """Run the plan in its worktree as a new run; returns (run id, exit code).

    The captured environment is handed to the command alone: this process's own
    environment never changes, so nothing of the original run leaks into what runs after.
    ``on_start`` gets the new run's id, the command as filled in, and the worktree.
    """
    from labbook.launch.local import execute

    with worktree(p, keep_worktree) as code:

        def started(run_id: int, filled: list[str]) -> None:
            if on_start is not None:
                on_start(run_id, filled, code)

        return execute(
            nb,
            p.argv,
            name=f"rerun-of-{p.run.id}",
            tags=(*p.run.tags, "rerun"),
            note=f"rerun of run {p.run.id}",
            cwd=str(code / p.cwd_in_repo),
            config=p.config,
            on_start=started,
            env=p.env,
            extra_capture={
                "rerun_of": p.run.id,
                "rerun_warnings": p.warnings,
                "overrides": p.run.capture.get("overrides", []),
                "config_file": p.run.capture.get("config_file"),
            },
        )


def compare(
    original: RunRecord, rerun: RunRecord, rel_tol: float = 1e-9
) -> list[tuple[str, float, float, bool]]:
    """(metric, original last, rerun last, matched) for every metric of the original (sys/ aside)."""
    rows = []
    for key, m in sorted(original.metrics.items()):
        if key.startswith("sys/"):
            continue
        other = rerun.metrics.get(key)
        value = other.last if other is not None else math.nan
        same = other is not None and (
            (math.isnan(m.last) and math.isnan(value))
            or math.isclose(m.last, value, rel_tol=rel_tol, abs_tol=0.0)
        )
        rows.append((key, m.last, value, same))
    return rows
