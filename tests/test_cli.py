"""The ``lab`` commands through click's CliRunner: output, JSON, and every bad input."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import labbook

from .conftest import lab, lab_proc

PY = sys.executable


def make_runs(project: Path) -> None:
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        with labbook.init(config={"lr": lr, "opt": "adam"}, name=f"r{i}", tags=["sweep"]) as run:
            for step in range(20):
                run.log({"acc": (step + 1) / 20 * (1 - lr), "loss": 1 / (step + 1)}, step=step)


# -- init and finding the notebook -------------------------------------------------


def test_init_creates_the_notebook_and_ignores_it_in_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = lab("init", str(tmp_path))
    assert result.exit_code == 0
    assert f"Initialised an empty notebook in {tmp_path / '.labbook'}" in result.output
    assert "Added .labbook/ to .gitignore" in result.output
    assert (tmp_path / ".gitignore").read_text() == ".labbook/\n"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert ".labbook" not in status
    again = lab("init", str(tmp_path))
    assert again.exit_code == 0 and "already exists" in again.output
    assert (tmp_path / ".gitignore").read_text() == ".labbook/\n"


def test_init_outside_git_leaves_no_gitignore(tmp_path: Path) -> None:
    assert lab("init", str(tmp_path)).exit_code == 0
    assert not (tmp_path / ".gitignore").exists()


def test_commands_find_the_notebook_from_a_subdirectory(project: Path, monkeypatch) -> None:
    make_runs(project)
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert lab("ls", "--json").exit_code == 0
    assert len(json.loads(lab("ls", "--json").output)) == 3


def test_dir_option_and_environment_override_the_walk(project: Path, tmp_path_factory, monkeypatch) -> None:
    make_runs(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert len(json.loads(lab("--dir", str(project), "ls", "--json").output)) == 3
    assert len(json.loads(lab("--dir", str(project / ".labbook"), "ls", "--json").output)) == 3
    monkeypatch.setenv("LABBOOK_DIR", str(project))
    assert len(json.loads(lab("ls", "--json").output)) == 3


def test_no_notebook_is_one_clear_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["ls"], ["show", "1"], ["run", "--", PY, "-c", "pass"], ["backup", "x"]):
        result = lab(*args)
        assert result.exit_code == 2, args
        assert result.output == "error: no notebook here or above; run `lab init` to create one\n"
    bad_dir = lab("--dir", str(tmp_path / "nope"), "ls")
    assert bad_dir.exit_code == 2 and "no notebook at" in bad_dir.output


# -- ls / show / metrics / logs -------------------------------------------------------


def test_ls_shows_runs_newest_first_with_params_and_metrics(project: Path) -> None:
    make_runs(project)
    result = lab("ls")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    header = lines[0].split()
    assert header[:6] == ["id", "name", "status", "started", "duration", "tags"]
    assert "lr" in header and "acc.last" in header and "opt" not in header  # opt does not vary
    assert [line.split()[1] for line in lines[2:]] == ["r2", "r1", "r0"]
    assert all("finished" in line for line in lines[2:])


def test_ls_where_sort_columns_limit(project: Path) -> None:
    make_runs(project)
    result = lab("ls", "--where", "acc.max > 0.95", "--sort", "-acc.max", "--columns", "name,lr,acc.max")
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert rows == [["r2", "0.001", "0.999"], ["r1", "0.01", "0.99"]]
    limited = lab("ls", "--limit", "1")
    assert "1 of 3 runs shown; --limit 0 shows all" in limited.output


def test_ls_json_is_exact(project: Path) -> None:
    make_runs(project)
    runs = json.loads(lab("ls", "--json", "--where", "name == 'r0'").output)
    assert len(runs) == 1
    r = runs[0]
    assert r["params"] == {"lr": 0.1, "opt": "adam"} and r["tags"] == ["sweep"]
    assert r["metrics"]["acc"]["max"] == pytest.approx(0.9) and r["metrics"]["acc"]["count"] == 20
    assert r["status"] == "finished" and len(r["uid"]) == 32


def test_show_prints_what_was_captured(project: Path) -> None:
    make_runs(project)
    result = lab("show", "r1")
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("run 2  r1  (uid ")
    for expected in (
        r"status\s+finished",
        r"python\s+3\.",
        r"git\s+none \(not a git repository\)",
        r"params\s+lr=0\.01  opt=adam",
        r"tags\s+sweep",
        r"\nacc\s+0\.99 ",
        r"\nloss\s+0\.05 ",
    ):
        assert re.search(expected, out), expected
    full = json.loads(lab("show", "2", "--json").output)
    assert full["capture"]["python"]["version"] == sys.version.split()[0]
    assert any(p.startswith("numpy==") for p in full["capture"]["packages"])
    assert lab("show", full["uid"][:8]).output == out  # a uid prefix works too


def test_metrics_prints_the_series(project: Path) -> None:
    make_runs(project)
    out = lab("metrics", "1", "loss").output.splitlines()
    assert out[0] == "step\tvalue\ttime"
    assert [line.split("\t")[:2] for line in out[1:4]] == [["0", "1.0"], ["1", "0.5"], ["2", repr(1 / 3)]]
    data = json.loads(lab("metrics", "1", "loss", "--json").output)
    assert data["steps"] == list(range(20)) and data["values"][3] == 0.25
    assert lab("metrics", "1").output.split() == ["acc", "loss"]


def test_metrics_json_spells_out_non_finite_values(project: Path) -> None:
    with labbook.init() as run:
        run.log({"x": float("nan")})
        run.log({"x": float("inf")})
    data = json.loads(lab("metrics", str(run.id), "x", "--json").output)
    assert data["values"] == ["NaN", "Infinity"]


def test_logs_of_a_run_that_printed_nothing_are_empty(project: Path) -> None:
    assert lab_proc("run", "-q", "--", PY, "-c", "pass", cwd=project).returncode == 0
    for args in (["logs", "1"], ["logs", "1", "--stderr"]):
        proc = lab_proc(*args, cwd=project)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_logs_of_a_run_that_saved_no_output_are_one_error_line(project: Path) -> None:
    """An SDK run's output was never captured: an error (exit 2), not an empty log."""
    labbook.init(name="sdk").finish()
    for args in (["logs", "1"], ["logs", "sdk", "--stderr"]):
        result = lab(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == "error: run 1 saved no output (it was not started with lab run)\n"


def test_backup_is_a_consistent_notebook(project: Path, tmp_path_factory) -> None:
    make_runs(project)
    target = tmp_path_factory.mktemp("b") / "copy"
    result = lab("backup", str(target))
    assert result.exit_code == 0 and result.output.startswith(f"Backed up 3 runs to {target}")
    runs = json.loads(lab("--dir", str(target), "ls", "--json").output)
    assert [r["name"] for r in runs] == ["r2", "r1", "r0"]
    assert json.loads(lab("--dir", str(target), "metrics", "1", "loss", "--json").output)["values"][0] == 1.0
    check = sqlite3.connect(target / "labbook.db").execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"
    again = lab("backup", str(target))
    assert again.exit_code == 2 and "already exists" in again.output


# A backup while a run is logging: tests/test_damage.py (synchronised on the writer, not on sleeps).


# -- bad input: one line, exit 2, nothing written ---------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "99"], "error: no run '99' in this notebook; `lab ls` lists runs\n"),
        (["show", "nosuchname"], "error: no run 'nosuchname' in this notebook; `lab ls` lists runs\n"),
        (["logs", "42"], "error: no run '42' in this notebook; `lab ls` lists runs\n"),
        (["metrics", "1", "nope"], "error: run 1 has no metric 'nope' (its metrics: acc, loss)\n"),
        (["ls", "--where", "acc.max >"], None),
        (["ls", "--where", "nosuch > 1"], None),
        (["ls", "--sort", "-nosuch"], None),
        (["ls", "--columns", "id,nosuch"], None),
        (["ls", "--limit", "-1"], "error: --limit must be 0 (all) or a positive number\n"),
        (
            ["ls", "--limit", "abc"],
            "error: Invalid value for '-l' / '--limit': 'abc' is not a valid integer; see lab ls --help\n",
        ),
        (["nosuch"], "error: No such command 'nosuch'; see lab --help\n"),
        (["show"], "error: Missing argument 'RUN'; see lab show --help\n"),
        (["run"], "error: no command given; write it after --, e.g. lab run -- python train.py\n"),
        (["run", "--", ""], "error: no command given; write it after --, e.g. lab run -- python train.py\n"),
        (
            ["run", "--", "no-such-command-xyz"],
            "error: command not found: no-such-command-xyz; check the spelling or your PATH\n",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Path, args: list[str], message: str | None) -> None:
    make_runs(project)
    result = lab(*args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    if message:
        assert result.output == message
    assert "Traceback" not in result.output
    assert len(json.loads(lab("ls", "--json").output)) == 3  # nothing half-written


def test_a_script_that_is_not_executable(project: Path) -> None:
    (project / "train.sh").write_text("echo hi\n")
    result = lab("run", "--", "./train.sh")
    assert result.exit_code == 2 and "is not executable" in result.output


def test_errors_in_a_subprocess_have_no_traceback(project: Path) -> None:
    proc = lab_proc("show", "7", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr == "error: no run '7' in this notebook; `lab ls` lists runs\n"
    assert proc.stdout == ""


def test_help_lists_every_command() -> None:
    out = lab("--help").output
    for name in ("init", "run", "ls", "show", "logs", "metrics", "backup", "demo"):
        assert f"  {name} " in out


def test_help_stays_light() -> None:
    """`lab --help` must not pay for numpy, rich or the store (startup time is a feature)."""
    code = (
        "import sys; from labbook.cli import main; sys.argv = ['lab', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'rich', 'sqlite3', 'psutil', 'yaml') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY []")


def test_names_with_brackets_are_shown_as_typed(project: Path) -> None:
    """Run names, tags and params are text, never formatting markup or emoji codes."""
    labbook.init(name="ablation [bold]no-dropout[/bold]", tags=["grid[lr]"]).finish()
    labbook.init(config={"pattern": "[/]"}, name="sweep [/] 2 :smile:").finish()
    out = lab("ls")
    assert out.exit_code == 0, out.output
    assert "ablation [bold]no-dropout[/bold]" in out.output and "grid[lr]" in out.output
    assert "sweep [/] 2 :smile:" in out.output and "[/]" in out.output
    shown = lab("show", "2")
    assert shown.exit_code == 0 and "pattern=[/]" in shown.output
