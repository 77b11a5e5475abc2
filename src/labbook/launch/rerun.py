"""``lab rerun``: the same code, config and environment, run again.

The code is rebuilt in a temporary git worktree at the captured commit with the captured
patch applied, and the files of the run's source snapshot (``lab run --snapshot``) put
back in it, so the rerun does not depend on what the working tree holds today. Before
anything runs, every file the run needed is looked for there: the untracked files of
the repository at launch and the files its arguments named (the run's ``inputs``). One
that is missing refuses the rerun with the list (``allow_missing`` runs it anyway),
instead of a run that fails on it. An interpreter or packages that differ from the ones
captured are said, not refused. The rerun keeps the same ``--artifact`` globs and
snapshot as the original, so the two can be compared file by file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.errors import BadInput, LabbookError, LaunchError
from labbook.records.artifacts import SNAPSHOT, Artifact
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
    needed: list[Needed] = field(default_factory=list)  # files looked for in the worktree before running
    unlisted: int = 0  # untracked files at launch beyond those the capture names
    snapshot: list[Artifact] = field(default_factory=list)  # put back in the worktree
    artifacts: tuple[str, ...] = ()  # the original's --artifact globs, kept again


@dataclass(frozen=True)
class Needed:
    """A file the run had at launch: ``where`` its path is relative to (repo, cwd) or abs."""

    path: str
    where: str
    why: str
    sha256: str | None = None


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
    needed, unlisted = _needed(cap)
    return Plan(
        run,
        repo,
        git["commit"],
        nb.blob(cap.get("patch")) or "",
        cwd,
        list(cap.get("command_typed") or run.command),  # placeholders are filled again for the rerun
        cap.get("config"),
        env,
        warnings,
        needed,
        unlisted,
        [a for a in nb.artifacts.list(run) if a.kind == SNAPSHOT] if cap.get("snapshot") else [],
        tuple(cap.get("artifact_globs") or ()),
    )


def _needed(cap: dict[str, Any]) -> tuple[list[Needed], int]:
    """The files the run had at launch, and how many untracked ones the capture counted but did not name.

    With a snapshot, its own list (taken before the command started) says what was
    untracked; without, git's list at capture, which runs beside the command.
    """
    snap = cap.get("snapshot")
    git = cap.get("git") or {}
    if snap:
        untracked = [s["path"] for s in snap.get("skipped", [])]
        unlisted = snap.get("skipped_count", 0) - len(untracked)
        why = "untracked at launch and not in its snapshot (over the limits)"
    else:
        untracked = list(git.get("untracked") or [])
        unlisted = git.get("untracked_count", 0) - len(untracked)
        why = "untracked at launch and not saved (lab run --snapshot keeps such files)"
    out = [Needed(path, "repo", why) for path in untracked]
    for entry in cap.get("inputs") or []:
        where = "abs" if os.path.isabs(entry["path"]) else "cwd"
        out.append(Needed(entry["path"], where, "named in the command", entry.get("sha256")))
    if cap.get("config_file") and cap.get("config") is None:  # else the resolved config is kept whole
        out.append(Needed(cap["config_file"], "abs", "its config file"))
    return out, max(unlisted, 0)


def _located(p: Plan, n: Needed, code: Path) -> Path:
    if n.where == "repo":
        return code / n.path
    return Path(n.path) if n.where == "abs" else code / p.cwd_in_repo / n.path


def check_files(p: Plan, code: Path) -> tuple[list[str], list[str]]:
    """(one line per needed file missing from the worktree ``code``, one per input whose content changed)."""
    from labbook.launch.artifacts import file_sha256

    missing: list[str] = []
    changed: list[str] = []
    seen: set[Path] = set()
    for n in p.needed:
        where = _located(p, n, code)
        if where in seen:
            continue
        seen.add(where)
        if not where.is_file():
            missing.append(f"{n.path}: {n.why}")
        elif n.sha256 and file_sha256(where) != n.sha256:
            changed.append(f"{n.path} differs from the file run {p.run.id} was given")
    if p.unlisted:
        missing.append(f"... and {p.unlisted} more untracked file(s) the capture counted but did not name")
    return missing, changed


def refusal(p: Plan, missing: list[str]) -> str:
    """The error of a rerun refused: one headline, then one line per missing file."""
    files = len([m for m in missing if not m.startswith("... ")]) + p.unlisted
    are = "file it needs is" if files == 1 else "files it needs are"
    head = (
        f"run {p.run.id} cannot be rerun: {files} {are} missing from its code "
        "(lab rerun --allow-missing runs it anyway)"
    )
    return "\n".join([head, *(f"  {line}" for line in missing)])


def restore_snapshot(nb: Notebook, p: Plan, code: Path) -> list[str]:
    """Put the snapshot's files back in the worktree; one line per file that could not be."""
    lost = []
    for art in p.snapshot:
        try:
            nb.artifacts.restore([art], code)
        except LabbookError as err:
            lost.append(f"{art.name}: in the snapshot, but {err}")
    return lost


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
    allow_missing: bool = False,
    say: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Run the plan in its worktree as a new run; returns (run id, exit code).

    A needed file missing from the worktree (snapshot restored) is a ``BadInput`` listing
    them all, before any run exists; with ``allow_missing`` each is said instead.
    The captured environment is handed to the command alone: this process's own
    environment never changes, so nothing of the original run leaks into what runs after.
    ``on_start`` gets the new run's id, the command as filled in, and the worktree.
    """
    from labbook.launch.local import Capture, execute

    with worktree(p, keep_worktree) as code:
        lost = restore_snapshot(nb, p, code)
        missing, changed = check_files(p, code)
        missing = lost + missing
        if missing and not allow_missing:
            raise BadInput(refusal(p, missing))
        for line in missing + changed:
            if say is not None:
                say(line)

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
                "rerun_warnings": p.warnings + missing + changed,
                "overrides": p.run.capture.get("overrides", []),
                "config_file": p.run.capture.get("config_file"),
            },
            capture=Capture(artifacts=p.artifacts, snapshot=bool(p.run.capture.get("snapshot"))),
        )
