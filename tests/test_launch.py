"""``lab run`` with configs, overrides and sweeps, as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labbook.service.notebook import Notebook

from .conftest import LAB, lab, lab_proc

PY = sys.executable

CONFIG = """\
lr: 0.1
seed: 0
steps: 50
model:
  depth: 2
  act: relu
smoke:
  steps: 3
"""

TRAIN = textwrap.dedent("""
    import json, os, sys
    import labbook
    cfg = labbook.config()
    with labbook.init() as run:
        run.log({"lr_seen": cfg["lr"], "steps_seen": cfg["steps"]})
        run.summary["argv"] = " ".join(sys.argv[1:])
        run.summary["config_file"] = os.environ["LABBOOK_CONFIG"]
    if cfg["seed"] == 13:
        sys.exit(4)
""")


@pytest.fixture
def cfg(project: Path) -> Path:
    (project / "config.yaml").write_text(CONFIG)
    (project / "train.py").write_text(TRAIN)
    return project / "config.yaml"


def runs(project: Path) -> list:
    with Notebook.open(project) as nb:
        listed, _ = nb.list_runs(limit=0)
        return [nb.get_run(r.id) for r in reversed(listed)]


def test_config_overrides_reach_the_command_three_ways(project: Path, cfg: Path) -> None:
    proc = lab_proc(
        "run",
        "-c",
        "config.yaml",
        "lr=3e-4",
        "model.depth=4",
        "+model.width=8",
        "~model.act",
        "--",
        PY,
        "train.py",
        "--lr",
        "{lr}",
        "--file",
        "{config}",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = runs(project)
    assert run.params == {"lr": 3e-4, "seed": 0, "steps": 50, "model.depth": 4, "model.width": 8}
    assert run.metrics["lr_seen"].last == 3e-4  # labbook.config() inside the command
    config_file = Path(run.summary["config_file"])  # $LABBOOK_CONFIG
    assert config_file == Notebook.open(project).run_dir(run) / "config.yaml"
    assert "smoke" not in config_file.read_text() and "width: 8" in config_file.read_text()
    assert run.summary["argv"] == f"--lr 0.0003 --file {config_file}"  # placeholders
    assert run.capture["overrides"] == ["lr=3e-4", "model.depth=4", "+model.width=8", "~model.act"]
    assert run.capture["config_file"] == "config.yaml"
    assert json.loads(lab("ls", "--json", "--where", "model.depth == 4 and lr < 1e-3").output)[0]["id"] == 1


def test_a_sweep_is_a_grid_of_runs_sharing_a_sweep_id(project: Path, cfg: Path) -> None:
    proc = lab_proc(
        "run",
        "-c",
        "config.yaml",
        "seed=0,1,2",
        "lr=1e-3,3e-4",
        "--parallel",
        "2",
        "-n",
        "g",
        "--",
        PY,
        "train.py",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    all_runs = runs(project)
    assert len(all_runs) == 6 and len({r.sweep_id for r in all_runs}) == 1 and all_runs[0].sweep_id
    got = sorted((r.params["seed"], r.params["lr"]) for r in all_runs)
    assert got == sorted((s, lr) for s in (0, 1, 2) for lr in (1e-3, 3e-4))
    assert sorted(r.name for r in all_runs) == [f"g-{i}" for i in range(6)]
    assert all(r.status == "finished" and r.metrics["lr_seen"].last == r.params["lr"] for r in all_runs)
    assert all(r.capture["config_file"] == str(cfg) for r in all_runs)
    table = proc.stdout.splitlines()
    assert table[0].split() == ["run", "overrides", "status", "exit", "time"] and len(table) == 8
    sid = all_runs[0].sweep_id
    assert len(json.loads(lab("ls", "--json", "--where", f"sweep == '{sid}'").output)) == 6


def test_range_sweeps_and_a_failure_that_does_not_stop_the_rest(project: Path, cfg: Path) -> None:
    proc = lab_proc("run", "-c", "config.yaml", "seed='range(12, 15)'", "--", PY, "train.py", cwd=project)
    assert proc.returncode == 1
    by_seed = {r.params["seed"]: r.status for r in runs(project)}
    assert by_seed == {12: "finished", 13: "failed", 14: "finished"}
    assert "run 2 (seed=13) failed:" in proc.stderr


def test_fail_fast_stops_the_sweep(project: Path, cfg: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=13,1,2,3", "--fail-fast", "--", PY, "train.py", cwd=project
    )
    assert proc.returncode == 1 and "stopped at the first failure" in proc.stderr
    assert [r.params["seed"] for r in runs(project)] == [13]
    assert "not started" in proc.stdout


def test_smoke_applies_its_section_and_tags_the_run(project: Path, cfg: Path) -> None:
    assert lab_proc("run", "-c", "config.yaml", "--smoke", "--", PY, "train.py", cwd=project).returncode == 0
    (run,) = runs(project)
    assert run.params["steps"] == 3 and "smoke" in run.tags and run.metrics["steps_seen"].last == 3


def test_smoke_first_aborts_a_sweep_whose_smoke_run_fails(project: Path, cfg: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=13,1", "--smoke-first", "--", PY, "train.py", cwd=project
    )
    assert proc.returncode == 4 and "the smoke run failed (exit 4); the sweep was not started" in proc.stderr
    (run,) = runs(project)
    assert "smoke" in run.tags and run.params["steps"] == 3
    ok = lab_proc("run", "-c", "config.yaml", "seed=1,2", "--smoke-first", "--", PY, "train.py", cwd=project)
    assert ok.returncode == 0
    assert [("smoke" in r.tags, r.params["steps"]) for r in runs(project)[1:]] == [
        (True, 3),
        (False, 50),
        (False, 50),
    ]


def test_pass_overrides_hands_them_to_a_hydra_style_script(project: Path, cfg: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "lr=0.5", "--pass-overrides", "--", PY, "train.py", cwd=project
    )
    assert proc.returncode == 0, proc.stderr
    assert runs(project)[0].summary["argv"] == "lr=0.5"


def test_ctrl_c_stops_every_run_of_a_sweep(project: Path, cfg: Path) -> None:
    (project / "slow.py").write_text("import time\nwhile True:\n    time.sleep(0.05)\n")
    proc = subprocess.Popen(
        [*LAB, "run", "-c", "config.yaml", "seed=0,1,2,3", "--parallel", "2", "--", PY, "slow.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and len([r for r in runs(project) if r.status == "running"]) < 2:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    statuses = [r.status for r in runs(project)]
    assert statuses == ["killed", "killed"]  # the two that had started; the rest never began


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-c", "config.yaml", "lrr=1"],
            "error: lrr is not in the config; check the spelling, or add it with +lrr=1",
        ),
        (
            ["-c", "config.yaml", "seed=1,,2"],
            "error: in 'seed=1,,2': '1,,2' has an empty value between commas",
        ),
        (
            ["-c", "config.yaml", "seed=range(1000)"],
            "error: this sweep expands to 1000 runs, more than --max-runs 100",
        ),
        (["-c", "broken.yaml"], "error: broken.yaml:2:"),
        (["-c", "missing.yaml"], "error: config file missing.yaml does not exist"),
        (
            ["-c", "config.yaml", "--paralel", "2"],
            "error: No such option '--paralel'. (Did you mean one of: '--parallel', '--parse'?)",
        ),
        (["-c", "config.yaml", "--smoke", "lr=1"], None),
        (["-c", "config.yaml", "seed=1,2"], None),
    ],
)
def test_bad_configs_are_one_line_exit_2_and_create_no_run(project: Path, cfg: Path, args, message) -> None:
    (project / "broken.yaml").write_text("lr: 0.1\n  seed: [1\n")
    extra = ["--", PY, "train.py", "--x", "{nosuchkey}"] if message is None else ["--", PY, "train.py"]
    result = lab("run", *args, *extra)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message or "error: placeholder {nosuchkey} names no config key")
    assert result.output.count("\n") == 1
    assert runs(project) == []
    assert not (project / ".labbook" / "sweeps").exists() or not any(
        (project / ".labbook" / "sweeps").iterdir()
    )


def test_plain_lab_run_still_takes_the_command_without_dashes(project: Path) -> None:
    proc = lab_proc("run", PY, "-c", "print('hi')", cwd=project)
    assert proc.returncode == 0 and proc.stdout == "hi\n"
    assert os.path.basename(runs(project)[0].command[0]).startswith("python")
