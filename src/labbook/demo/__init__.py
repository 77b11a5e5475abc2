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


def _git_commit(directory: Path) -> None:
    if shutil.which("git") is None:
        return
    ident = ["-c", "user.name=labbook demo", "-c", "user.email=demo@labbook.invalid"]
    for cmd in (["init", "-q"], ["add", "experiment.py"], [*ident, "commit", "-q", "-m", "demo experiment"]):
        subprocess.run(["git", *cmd], cwd=directory, capture_output=True, check=False)


def prepare(directory: Path | None) -> Path:
    """A project directory holding the experiment, committed to git when git exists."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="labbook-demo-"))
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "experiment.py"
    if not target.exists():
        shutil.copyfile(SCRIPT, target)
        _git_commit(directory)
    return directory


def run_demo(
    directory: Path | None = None,
    seeds: int = 3,
    announce: Callable[[list[str], str], None] | None = None,
) -> tuple[Notebook, list[int]]:
    """Run every variant × seed with ``lab run``; returns the notebook and run ids."""
    project = prepare(directory)
    notebook, _, _ = Notebook.init(project)
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
