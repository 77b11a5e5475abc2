"""Damage is named: readers say what they skipped, ``lab verify`` finds it, ``lab backup`` refuses it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import labbook
from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable


def logged_run(project: Path, n: int = 400, flushes: int = 8) -> Path:
    """A finished run whose series file holds several blocks of ``loss``; returns that file."""
    run = labbook.init(name="r")
    recorder = run._own_recorder()
    per = n // flushes
    for f in range(flushes):
        for i in range(f * per, (f + 1) * per):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
        recorder.write()  # one block per flush, as a long run writes them
    run.finish()
    (path,) = (project / ".labbook" / "runs" / run.uid / "metrics").glob("*.lbm")
    return path


def flip_byte(path: Path, at: float = 0.3) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_skipped_and_named_by_every_reader(project: Path) -> None:
    path = logged_run(project)
    flip_byte(path)
    result = lab("metrics", "1", "loss", "--json")
    assert result.exit_code == 0
    values = json.loads(result.stdout)["values"]
    assert 300 <= len(values) < 400  # only the damaged block is missing, later blocks are read
    assert "warning: run 1:" in result.stderr and path.name in result.stderr and "damaged" in result.stderr
    assert "points of 'loss'" in result.stderr
    shown = lab("show", "1")
    assert shown.exit_code == 0
    assert f"its files hold {len(values)} of the 400 points of 'loss'" in shown.stdout


def test_lab_verify_names_each_problem_and_exits_1(project: Path) -> None:
    path = logged_run(project)
    clean = lab("verify")
    assert clean.exit_code == 0 and clean.stdout.endswith(": ok\n")
    flip_byte(path)
    found = lab("verify", "--json")
    assert found.exit_code == 1
    report = json.loads(found.stdout)
    assert report["ok"] is False and report["runs"] == 1 and report["files"] == 1
    kinds = {p["kind"] for p in report["problems"]}
    assert kinds == {"damaged", "short"}
    text = lab("verify", "1")
    assert text.exit_code == 1 and "damage: run 1:" in text.stdout and "2 problems" in text.stdout


def test_a_deleted_run_folder_is_named_not_called_an_unknown_metric(project: Path) -> None:
    path = logged_run(project)
    shutil.rmtree(path.parent.parent)
    result = lab("metrics", "1", "loss")
    assert result.exit_code == 1
    assert "run 1's summary counts 400 points of 'loss' but its series folder is missing" in result.stderr
    assert "has no metric" not in result.stderr
    verify = lab("verify")
    assert verify.exit_code == 1 and "is missing" in verify.stdout


def test_backup_refuses_to_report_success_for_a_damaged_database(project: Path, tmp_path_factory) -> None:
    logged_run(project)
    db = project / ".labbook" / "labbook.db"
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'metrics_key'").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db, "r+b") as fh:  # scribble over the index's page: the tables still read
        fh.seek((root - 1) * page + 8)
        fh.write(b"\xff" * 64)
    target = tmp_path_factory.mktemp("b") / "copy"
    result = lab_proc("backup", str(target), cwd=project)
    assert result.returncode == 1
    # Refused: either the copy is reported as a copy of a damaged notebook, or reading the
    # source already fails on the damage; one line either way, never "Backed up".
    assert (
        result.stderr.startswith("error: ") and "damaged" in result.stderr and "lab verify" in result.stderr
    )
    assert "Backed up" not in result.stdout
    assert result.stderr.count("\n") == 1
    verify = lab_proc("verify", cwd=project)
    assert verify.returncode == 1 and "damage: database:" in verify.stdout


def test_backup_of_a_live_run_is_a_clean_copy(project: Path, tmp_path_factory) -> None:
    script = project / "live.py"
    script.write_text(
        textwrap.dedent("""
            import sys, labbook
            run = labbook.init(name="live")
            rec = run._own_recorder()
            for i in range(200):
                run.log({"x": i}, step=i)
            rec.flush()
            print("flushed", flush=True)
            i = 200
            while sys.stdin.readline():
                for _ in range(500):
                    run.log({"x": i}, step=i)
                    i += 1
            run.finish()
        """)
    )
    proc = subprocess.Popen(
        [PY, str(script)], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == "flushed\n"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        target = tmp_path_factory.mktemp("b") / "live"
        assert lab("backup", str(target)).exit_code == 0
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    with Notebook.open(target) as nb:
        run = nb.store.runs.get_run(1)
        assert run is not None
        series = nb.series(run, "x")
    # the copy holds a prefix of the series, at least as many points as its summary counts
    assert series.values.tolist() == list(range(len(series.values)))
    assert len(series.values) >= run.metrics["x"].count >= 200
    assert lab("--dir", str(target), "verify").exit_code == 0


def test_warnings_reach_sdk_users_as_python_warnings(project: Path) -> None:
    path = logged_run(project)
    flip_byte(path)
    with Notebook.open(project) as nb, pytest.warns(labbook.errors.DamageWarning, match="damaged"):
        nb.series(nb.get_run(1), "loss")


def test_a_torn_tail_of_a_killed_writer_is_a_note_not_damage(project: Path) -> None:
    code = "import labbook, time\nrun = labbook.init()\nrec = run._own_recorder()\n"
    code += "for i in range(100):\n    run.log({'x': i}, step=i)\nrec.write()\nprint('ok', flush=True)\ntime.sleep(600)\n"
    proc = subprocess.Popen([PY, "-c", code], cwd=project, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ok\n"
    proc.kill()
    proc.wait()
    (path,) = (project / ".labbook" / "runs").glob("*/metrics/*.lbm")
    with path.open("ab") as fh:  # what a write cut short by the kill leaves
        fh.write(path.read_bytes()[:40])
    time.sleep(0)  # nothing to wait for: the writer is dead
    result = lab("verify")
    assert result.exit_code == 0
    assert "note: run 1:" in result.stdout and "as expected in a crashed run" in result.stdout
