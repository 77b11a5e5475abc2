"""``lab demo``: a real small experiment, run through ``lab run`` in a throwaway notebook.

Two variants of logistic regression (raw and standardised features), several seeds
each. Every number the demo prints comes from the runs it has just made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..launch.local import execute
from ..notebook import Notebook

SCRIPT = Path(__file__).with_name("experiment.py")
VARIANTS = (("plain", []), ("scaled", ["--scale"]))


def _git(directory: Path, *args: str) -> None:
    ident = ["-c", "user.name=labbook demo", "-c", "user.email=demo@labbook.invalid"]
    subprocess.run(["git", *ident, *args], cwd=directory, capture_output=True, check=False)


def prepare(directory: Path | None) -> tuple[Path, Notebook]:
    """A project holding the experiment and a notebook, committed to git when git exists."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="labbook-demo-"))
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "experiment.py"
    fresh = not target.exists()
    if fresh:
        shutil.copyfile(SCRIPT, target)
    use_git = fresh and shutil.which("git") is not None
    if use_git:
        _git(directory, "init", "-q")
    notebook, _, _ = Notebook.init(directory)  # adds .labbook/ to .gitignore in a repository
    if use_git:
        _git(directory, "add", "experiment.py", ".gitignore")
        _git(directory, "commit", "-q", "-m", "demo experiment")
    return directory, notebook


def run_demo(
    directory: Path | None = None,
    seeds: int = 3,
    announce: Callable[[list[str], str], None] | None = None,
) -> tuple[Notebook, list[int]]:
    """Run every variant × seed with ``lab run``; returns the notebook and run ids."""
    project, notebook = prepare(directory)
    ids = []
    for variant, flags in VARIANTS:
        for seed in range(seeds):
            argv = [sys.executable, "experiment.py", "--seed", str(seed), *flags]
            name = f"{variant}-s{seed}"
            if announce is not None:
                announce(argv, name)
            run_id, _ = execute(
                notebook,
                argv,
                name=name,
                tags=("demo", variant),
                cwd=str(project),
                note=f"logistic regression, {variant} features, seed {seed}",
            )
            ids.append(run_id)
    return notebook, ids
