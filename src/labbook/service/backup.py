"""``lab backup``: a consistent copy of a notebook, checked before it is called a backup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.errors import BadInput, DataLost, LabbookError
from labbook.service.place import DB_NAME

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


def trim_torn_tails(runs: Path) -> None:
    """A file copied while its writer appended may end inside a block: the copy stops before it."""
    from labbook.store.series.read import intact_length

    for path in runs.glob("*/metrics/*.lbm"):
        keep = intact_length(path)
        if keep < path.stat().st_size:
            os.truncate(path, keep)


def check_copy(root: Path) -> list[str]:
    """What ``lab verify`` would find wrong in a freshly written copy."""
    from labbook.service.notebook import Notebook
    from labbook.service.verify import verify

    try:
        with Notebook(root) as copy:
            runs = copy.store.runs.query_runs(None, [], None)[0]
            return [p.what for p in verify(copy, runs).problems if p.damage and p.kind != "lost"]
    except LabbookError as err:  # the copied database does not even open
        return [str(err)]


def backup(nb: Notebook, target: Path) -> Path:
    """Write a consistent copy of the notebook to the new directory ``target``."""
    import shutil

    target = target.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadInput(f"{target} already exists; give a new directory for the backup")
    if target == nb.root or nb.root in target.parents:
        raise BadInput("the backup cannot go inside the notebook itself; choose another directory")
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
        # The database first, then the files: series are append-only, so every point
        # the copied summaries count is in the copied files (and perhaps a few more).
        damaged = [f"the database: {line}" for line in nb.store.integrity()]
        nb.store.backup(staging / DB_NAME)
        runs = nb.root / "runs"
        if runs.is_dir():
            shutil.copytree(runs, staging / "runs", ignore=shutil.ignore_patterns("*.compacting"))
            trim_torn_tails(staging / "runs")
        artifacts = nb.root / "artifacts"  # contents are written whole before a row names them
        if artifacts.is_dir():
            shutil.copytree(artifacts, staging / "artifacts", ignore=shutil.ignore_patterns(".partial-*"))
        damaged += check_copy(staging)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if damaged:
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise DataLost(
            f"the backup in {target} is a copy of a damaged notebook: {damaged[0]}{more}; "
            "`lab verify` lists every problem"
        )
    return target
