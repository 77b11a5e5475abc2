"""What a week of real use trips over: the command as it ran, overrides that go nowhere, lab ls columns."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import labbook
from labbook.core.config import unreached

from .conftest import lab, lab_proc

PY = sys.executable

ARGPARSE = textwrap.dedent("""
    import argparse, labbook
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--out", default="runs")
    args = p.parse_args()
    with labbook.init(config=vars(args)) as run:
        run.log({"acc": 0.5})
""")


def ok(*args: str) -> str:
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_stored_command_is_the_one_that_ran(project: Path) -> None:
    (project / "c.yaml").write_text("seed: 3\nlr: 0.1\n")
    (project / "t.py").write_text(ARGPARSE)
    proc = lab_proc(
        "run", "-c", "c.yaml", "seed=7", "--", PY, "t.py", "--out", "out-{seed}", "--lr", "{lr}", cwd=project
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(ok("ls", "--json"))
    assert run["command"][-4:] == ["--out", "out-7", "--lr", "0.1"]
    assert ok("ls", "--columns", "command").splitlines()[-1].endswith("--out out-7 --lr 0.1")
    assert [h["id"] for h in json.loads(ok("search", "out-7", "--json"))] == [run["id"]]
    assert json.loads(ok("search", "seed", "--json")) == []  # the placeholder itself is gone
    started = [e for e in json.loads(ok("journal", "--json")) if e["kind"] == "run-started"]
    assert "out-7" in started[0]["text"]
    assert "never reached" not in proc.stderr  # both values were passed on by placeholders


def test_an_override_the_program_never_sees_is_a_warning_at_the_end(project: Path) -> None:
    (project / "c.yaml").write_text("lr: 0.01\nout: runs\n")
    (project / "t.py").write_text(ARGPARSE)
    proc = lab_proc("run", "-c", "c.yaml", "lr=0.5", "--", PY, "t.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "never reached" in line]
    assert lines == [
        "labbook: warning: lr=0.5 never reached the program, which logged lr=0.01; "
        "pass it with a {lr} placeholder in the command, or read $LABBOOK_CONFIG"
    ]
    assert proc.stderr.index("never reached") < proc.stderr.index("finished in")
    (run,) = json.loads(ok("ls", "--json"))
    assert run["params"]["lr"] == 0.01  # what the program used, which is what the run's params say


def test_unreached_reads_values_the_way_a_program_parses_them() -> None:
    argv = ["python", "t.py", "--depth", "{model.depth}"]
    config = {"lr": 0.1, "epochs": 3, "model": {"depth": 4}, "name": "a"}
    assert unreached(config, argv, {"lr": "0.1", "epochs": 3.0, "model.depth": 8, "name": "a"}) == []
    (line,) = unreached(config, argv, {"lr": 0.2, "epochs": 3})
    assert line.startswith("lr=0.1 never reached the program, which logged lr=0.2")
    assert unreached(config, argv, {}) == []  # a program that logs nothing says nothing either way


def test_default_columns_show_what_varies_and_hide_constants(project: Path) -> None:
    for seed in range(3):
        with labbook.init(config={"lr": 0.1, "seed": seed, "depth": 4}) as run:
            run.log({"acc": 0.5 + seed / 10})
    with labbook.init(config={"lr": 0.1, "depth": 4, "optimizer": "sgd"}) as run:  # lacks seed
        run.log({"acc": 0.4})
    header = ok("ls").splitlines()[0].split()
    assert "seed" in header  # the one that differs
    assert not {"lr", "depth", "optimizer"} & set(header)  # constants, or only on one run
