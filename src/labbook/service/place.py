"""Where a notebook lives: its directory beside the code, found like git finds a repository."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.errors import NotebookNotFound

if TYPE_CHECKING:
    pass

DIRNAME = ".labbook"

DB_NAME = "labbook.db"

ENV_DIR = "LABBOOK_DIR"


def _as_notebook_dir(path: Path) -> Path | None:
    """``path`` itself if it is a notebook directory, or its ``.labbook`` child."""
    if (path / DB_NAME).is_file():
        return path
    if (path / DIRNAME / DB_NAME).is_file():
        return path / DIRNAME
    return None


def locate(explicit: str | os.PathLike[str] | None = None, start: Path | None = None) -> Path:
    """Find the notebook: ``explicit`` (or $LABBOOK_DIR), else walk up from ``start``."""
    given = explicit if explicit is not None else os.environ.get(ENV_DIR) or None
    if given is not None:
        found = _as_notebook_dir(Path(given).expanduser().resolve())
        if found is None:
            raise NotebookNotFound(f"no notebook at {given}; run `lab init {given}` to create one")
        return found
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        found = _as_notebook_dir(directory)
        if found is not None:
            return found
    raise NotebookNotFound("no notebook here or above; run `lab init` to create one")


def ignore_in_git(project: Path) -> bool:
    """Add ``.labbook/`` to the project's .gitignore when the project is in a git work tree."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        return False
    probe = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=project, capture_output=True, text=True
    )
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return False
    gitignore = project / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if any(line.strip() in (DIRNAME, DIRNAME + "/", "/" + DIRNAME, "/" + DIRNAME + "/") for line in lines):
        return False
    prefix = "" if not lines or gitignore.read_text().endswith("\n") else "\n"
    with gitignore.open("a") as fh:
        fh.write(f"{prefix}{DIRNAME}/\n")
    return True
