"""``lab rerun``: captured commit + patch + config in a worktree, compared with the original."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable

TRAIN = """\
import json, random
import labbook
SCALE = 1.0
cfg = labbook.config()
random.seed(cfg["seed"])
loss = SCALE
for step in range(50):
    loss *= 1 - cfg["lr"] * random.random()
print(json.dumps({"loss": loss, "step": 50}))
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def repo_with_a_run(project: Path) -> None:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".labbook/\n")
    (project / "config.yaml").write_text("lr: 0.1\nseed: 3\n")
    (project / "src").mkdir()
    (project / "src" / "train.py").write_text(TRAIN)
    git(project, "add", "config.yaml", "src/train.py", ".gitignore")
    git(project, "commit", "-q", "-m", "first")
    # an uncommitted change the run depends on
    (project / "src" / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "SCALE = 2.0"))
    proc = lab_proc("run", "-q", "-c", "../config.yaml", "lr=0.2", "--", PY, "train.py", cwd=project / "src")
    assert proc.returncode == 0, proc.stderr


def test_rerun_restores_commit_patch_and_config_and_matches(project: Path) -> None:
    repo_with_a_run(project)
    # today's working tree has moved on; the rerun must not see it
    (project / "src" / "train.py").write_text(TRAIN.replace("SCALE = 1.0", "SCALE = 9.0"))
    (project / "src" / "scratch.txt").write_text("not saved")
    proc = lab_proc("rerun", "1", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "cannot restore" not in proc.stderr  # clean at capture time but for the patch, which is kept
    assert "1 of 1 metrics match run 1" in proc.stderr
    shown = json.loads(lab("show", "2", "--json").output)
    assert shown["params"] == {"lr": 0.2, "seed": 3}
    assert shown["capture"]["rerun_of"] == 1 and "rerun" in shown["tags"]
    assert shown["rerun"]["metrics"] == [
        {
            "metric": "loss",
            "original": shown["metrics"]["loss"]["last"],
            "rerun": shown["metrics"]["loss"]["last"],
            "matched": True,
        }
    ]
    assert "rerun of run 1: 1 of 1 metrics match" in lab("show", "2").output
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=project, capture_output=True, text=True
    ).stdout
    assert len(worktrees.strip().splitlines()) == 1  # the temporary checkout is gone


def test_rerun_refuses_what_it_cannot_restore_unless_allowed(project: Path) -> None:
    (project / "notes.txt").write_text("untracked at capture time")
    repo_with_a_run(project)
    proc = lab_proc("rerun", "1", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: run 1 cannot be rerun: 1 file it needs is missing from its code "
        "(lab rerun --allow-missing runs it anyway)",
        "  notes.txt: untracked at launch and not saved (lab run --snapshot keeps such files)",
    ]
    assert len(json.loads(lab("ls", "--json").output)) == 1  # refused before any run exists
    allowed = lab_proc("rerun", "1", "--allow-missing", cwd=project)
    assert allowed.returncode == 0, allowed.stderr
    assert "lab: cannot restore: notes.txt: untracked at launch and not saved" in allowed.stderr


def test_a_changed_result_is_reported(project: Path) -> None:
    repo_with_a_run(project)
    lab("rerun", "1")
    # make the original's stored result differ, as a non-deterministic script would
    from labbook.records.runs import BatchSummary
    from labbook.service.notebook import Notebook

    with Notebook.open(project) as nb:
        nb.store.runs.replace_metrics(1, [BatchSummary("loss", 1, 0, 123.0, 50, 123.0, 123.0, 123.0)])
    assert "rerun of run 1: 0 of 1 metrics match" in lab("show", "2").output
    assert "differs: 123.0 then" in lab("show", "2").output


def test_runs_without_git_capture_cannot_be_rerun(project: Path) -> None:
    assert lab_proc("run", "-q", "--", PY, "-c", "print(1)", cwd=project).returncode == 0
    result = lab("rerun", "1")
    assert result.exit_code == 2
    assert (
        result.output
        == "error: run 1 cannot be rerun: its code was not in a git commit (not a git repository)\n"
    )
    assert len(json.loads(lab("ls", "--json").output)) == 1  # nothing half-written


def test_the_captured_environment_reaches_the_rerun_and_only_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".labbook/\n")
    (project / "seed.py").write_text(
        "import json, os\nprint(json.dumps({'hashseed': int(os.environ['PYTHONHASHSEED'])}))\n"
    )
    git(project, "add", ".gitignore", "seed.py")
    git(project, "commit", "-q", "-m", "first")
    first = lab_proc("run", "-q", "--", PY, "seed.py", cwd=project, env={"PYTHONHASHSEED": "7"})
    assert first.returncode == 0, first.stderr
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    result = lab("rerun", "1", "-q")  # in this process: its environment must come out as it went in
    assert result.exit_code == 0, result.output
    assert "PYTHONHASHSEED" not in os.environ
    shown = json.loads(lab("show", "2", "--json").output)
    assert shown["metrics"]["hashseed"]["last"] == 7
    assert shown["capture"]["env"]["PYTHONHASHSEED"] == "7"


HELPED = """\
import json, os, random
import helper
os.makedirs("out", exist_ok=True)
open("out/result.txt", "w").write(str(random.random()))
open("out/fixed.txt", "w").write("the same every time")
print(json.dumps({"value": helper.VALUE}))
"""


def repo_with_a_helper(project: Path) -> None:
    """A committed script importing a module that was never committed."""
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".labbook/\nout/\ndata/\n")
    (project / "main.py").write_text(HELPED)
    git(project, "add", ".gitignore", "main.py")
    git(project, "commit", "-q", "-m", "first")
    (project / "helper.py").write_text("VALUE = 42\n")


def test_a_snapshot_brings_back_an_untracked_module(project: Path) -> None:
    repo_with_a_helper(project)
    assert lab_proc("run", "-q", "--snapshot", "--", PY, "main.py", cwd=project).returncode == 0
    (project / "helper.py").unlink()  # gone from the working tree too: only the snapshot has it
    proc = lab_proc("rerun", "1", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "1 of 1 metrics match run 1" in proc.stderr
    assert "lab: snapshot files: all 1 the same as run 1's" in proc.stderr
    shown = json.loads(lab("show", "2", "--json").output)
    assert [(a["name"], a["kind"]) for a in shown["artifacts"]] == [("helper.py", "snapshot")]


def test_without_a_snapshot_the_rerun_lists_the_missing_module(project: Path) -> None:
    repo_with_a_helper(project)
    assert lab_proc("run", "-q", "--", PY, "main.py", cwd=project).returncode == 0
    proc = lab_proc("rerun", "1", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1:] == [
        "  helper.py: untracked at launch and not saved (lab run --snapshot keeps such files)"
    ]


def test_a_file_the_command_named_must_be_there(project: Path) -> None:
    repo_with_a_helper(project)
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x\n1\n")  # ignored by git: not in the checkout
    proc = lab_proc("run", "-q", "--snapshot", "--", PY, "main.py", "--data=data/train.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    inputs = json.loads(lab("show", "1", "--json").output)["capture"]["inputs"]
    assert [(i["path"], i["size"]) for i in inputs] == [("main.py", len(HELPED)), ("data/train.csv", 4)]
    refused = lab_proc("rerun", "1", cwd=project)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "error: run 1 cannot be rerun: 1 file it needs is missing from its code "
        "(lab rerun --allow-missing runs it anyway)",
        "  data/train.csv: named in the command",
    ]


def test_rerun_names_the_artifacts_that_differ(project: Path) -> None:
    repo_with_a_helper(project)
    git(project, "add", "helper.py")
    git(project, "commit", "-q", "-m", "helper")
    proc = lab_proc("run", "-q", "--artifact", "out/*.txt", "--", PY, "main.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    again = lab_proc("rerun", "1", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "lab: artifacts that differ from run 1: out/result.txt differs; 1 the same" in again.stderr
    with Notebook.open(project) as nb:
        assert [a.name for a in nb.artifacts.list(2)] == ["out/fixed.txt", "out/result.txt"]
