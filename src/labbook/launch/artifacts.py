"""The files ``lab run`` keeps beside the output: the inputs it was given, a source snapshot, outputs.

- *Inputs*: the command's arguments that named existing files at launch, with their size
  and (for small ones) sha256, so ``lab rerun`` can say which are missing or changed
  instead of starting a run that fails on them.
- *Snapshot* (``--snapshot``): the repository's untracked, not-ignored files, kept as
  artifacts of kind ``snapshot`` before the command starts (so nothing it writes is
  taken for source), within the ``snapshot.limit`` / ``snapshot.file-limit`` settings.
  Python environments inside the repository are set aside: they are not source.
- *Outputs* (``--artifact GLOB``): the files the globs match below the working
  directory once the command has ended, whatever its exit status.

None of this may stop a run: what cannot be kept is one ``labbook:`` line on stderr.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from labbook.errors import LabbookError
from labbook.records.artifacts import OUTPUT
from labbook.records.runs import RunRecord
from labbook.service.notebook import Notebook

INPUT_HASH_LIMIT = 4 << 20  # inputs up to this size get their sha256 recorded
INPUT_HASH_TOTAL = 32 << 20  # and no more than this is read for hashes at one launch
INPUTS_KEPT = 64

Say = Callable[[str], None]


# -- inputs ---------------------------------------------------------------------------


def _candidates(token: str) -> Iterable[str]:
    yield token
    if token.startswith("-") and "=" in token:  # --data=train.csv
        yield token.split("=", 1)[1]


def file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def argv_inputs(argv: list[str], cwd: str) -> list[dict[str, Any]]:
    """The arguments of ``argv`` that name existing files, as typed (relative to ``cwd``), with size
    and, within the caps, sha256.

    The program itself counts only as a path of the project (``./train.sh``): an interpreter
    or a command found on PATH is checked when the command starts, and is not the run's input.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    hashed = 0
    program = argv[0] if argv else ""
    tokens = argv if os.sep in program and not os.path.isabs(program) else argv[1:]
    for token in tokens:
        for text in _candidates(token):
            if not text or text in seen or len(out) >= INPUTS_KEPT:
                continue
            path = Path(cwd, text)  # an absolute text stays itself
            try:
                st = path.stat()
            except (OSError, ValueError):
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            seen.add(text)
            entry: dict[str, Any] = {"path": text, "size": st.st_size}
            if st.st_size <= INPUT_HASH_LIMIT and hashed + st.st_size <= INPUT_HASH_TOTAL:
                digest = file_sha256(path)
                if digest is not None:
                    entry["sha256"] = digest
                    hashed += st.st_size
            out.append(entry)
    return out


# -- the source snapshot --------------------------------------------------------------------


def _git(args: list[str], cwd: str) -> bytes | None:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def untracked_files(cwd: str) -> tuple[Path, list[str], list[str]] | None:
    """(repository root, its untracked not-ignored files, environments set aside); None outside git."""
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    if top is None:
        return None
    root = top.decode("utf-8", "surrogateescape").strip()
    from labbook.tracking.capture import without_environments

    raw = _git(["ls-files", "--others", "--exclude-standard", "-z"], root) or b""
    found, envs = without_environments([item for item in raw.split(b"\0") if item])
    paths = []
    for item in found:
        try:
            paths.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # a name the notebook cannot hold as text
    return Path(root), paths, envs


def take_snapshot(notebook: Notebook, record: RunRecord, cwd: str, say: Say) -> None:
    """Keep the untracked files as the run's snapshot and record what was kept and skipped."""
    from labbook.service.artifact_rules import size_text
    from labbook.service.settings import SNAPSHOT_FILE_LIMIT, SNAPSHOT_LIMIT, size_limit

    found = untracked_files(cwd)
    if found is None:
        say(f"--snapshot: {cwd} is not in a git repository; no snapshot kept")
        return
    root, paths, envs = found
    try:
        total = size_limit(notebook.settings, SNAPSHOT_LIMIT)
        per_file = size_limit(notebook.settings, SNAPSHOT_FILE_LIMIT)
        snap = notebook.artifacts.snapshot(record, root, paths, total, per_file, envs)
        notebook.record_capture(record.id, {"snapshot": snap.as_dict()})
    except LabbookError as err:
        say(f"no snapshot kept: {err}")
        return
    if snap.skipped_count:
        say(
            f"snapshot: kept {snap.stored} untracked file(s), {size_text(snap.bytes)}; skipped "
            f"{snap.skipped_count} over the limits (lab show {record.id} lists them)"
        )


def before_start(
    notebook: Notebook, record: RunRecord, cwd: str, globs: tuple[str, ...], snapshot: bool, say: Say
) -> None:
    """What is kept before the command runs: the --artifact globs (a rerun repeats them), the snapshot."""
    try:
        if globs:
            notebook.record_capture(record.id, {"artifact_globs": list(globs)})
        if snapshot:
            take_snapshot(notebook, record, cwd, say)
    except LabbookError as err:  # a busy or full notebook: the run goes on without
        say(f"run {record.id}: {err}")


# -- outputs ----------------------------------------------------------------------------


def _matches(pattern: str, cwd: str) -> list[tuple[Path, str]]:
    """(file, name) for each file the glob matches; a matched directory brings every file under it."""
    out: list[tuple[Path, str]] = []
    for hit in sorted(glob.glob(pattern, root_dir=cwd, recursive=True)):
        full = Path(cwd, hit)
        inside = not os.path.isabs(hit) or full.resolve().is_relative_to(Path(cwd).resolve())
        name = os.path.relpath(full, cwd) if inside else full.name
        if full.is_dir():
            for folder, dirs, files in os.walk(full):
                dirs.sort()
                out += [
                    (Path(folder, f), Path(name, os.path.relpath(Path(folder, f), full)).as_posix())
                    for f in sorted(files)
                ]
        elif full.is_file():
            out.append((full, Path(name).as_posix()))
    return out


def keep_outputs(notebook: Notebook, record: RunRecord, cwd: str, globs: tuple[str, ...], say: Say) -> None:
    """The files the ``--artifact`` globs match now, kept as outputs named by their path below ``cwd``."""
    items: dict[str, Path] = {}
    for pattern in globs:
        found = _matches(pattern, cwd)
        if not found:
            say(f"--artifact {pattern!r} matched no file in {cwd}")
        for path, name in found:
            items.setdefault(name, path)
    if not items:
        return
    try:
        _, problems = notebook.artifacts.add_files(record, [(p, n) for n, p in items.items()], OUTPUT)
    except LabbookError as err:
        say(f"artifacts of run {record.id} not kept: {err}")
        return
    for line in problems:
        say(f"artifact not kept: {line}")
