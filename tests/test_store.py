"""The SQLite store: migrations, summaries merged across writers, schema guards."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest

from labbook.errors import SchemaTooNew
from labbook.records.runs import BatchSummary
from labbook.service.liveness import current_owner
from labbook.service.notebook import Notebook
from labbook.store.sqlite import migrations
from labbook.store.sqlite.connection import connect
from labbook.store.sqlite.store import SQLiteStore

from .conftest import lab_proc


def test_upgrades_a_v1_notebook_keeping_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "labbook.db"
    conn = connect(db)
    migrations.migrate(conn, target=1)
    freeze = "numpy==2.0.0\nclick==8.1.7"
    conn.execute(
        "INSERT INTO runs (uid, name, status, created_at, source, capture) VALUES (?, ?, ?, ?, ?, ?)",
        ("u1", "old", "finished", 1.0, "cli", json.dumps({"packages": freeze, "cwd": "/x"})),
    )
    conn.close()

    store = SQLiteStore(db)  # opening migrates
    assert migrations.version(store.db.conn) == migrations.LATEST
    run = store.runs.get_run(1)
    assert run is not None and run.name == "old"
    assert run.capture["cwd"] == "/x"
    assert store.runs.blob(run.capture["packages"]["blob"]) == freeze
    store.runs.set_summary(1, {"best": 0.5})  # the v2 table exists and works
    assert store.runs.get_run(1).summary == {"best": 0.5}


def test_refuses_a_notebook_from_a_newer_labbook(tmp_path: Path) -> None:
    db = tmp_path / "labbook.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade labbook"):
        SQLiteStore(db)


def test_database_is_in_wal_mode(notebook: Notebook) -> None:
    mode = sqlite3.connect(notebook.root / "labbook.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_metric_summaries_merge_across_batches_and_writers(notebook: Notebook) -> None:
    run = notebook.start_run(name="m")
    s = notebook.store.runs
    s.merge_metrics(run.id, [BatchSummary("loss", 3, 1, 0.5, 2, 0.5, 2.0, 3.5)])
    s.merge_metrics(run.id, [BatchSummary("loss", 2, 0, 0.25, 4, 0.25, 1.0, 1.25)])
    s.merge_metrics(run.id, [BatchSummary("loss", 1, 1, math.nan, 5, None, None, 0.0)])
    m = s.get_run(run.id).metrics["loss"]
    assert (m.count, m.nan_count, m.min, m.max, m.last_step) == (6, 2, 0.25, 2.0, 5)
    assert math.isnan(m.last)  # the last point was NaN, and it says so
    assert m.mean == pytest.approx((3.5 + 1.25) / 4)


def test_infinities_survive_the_database(notebook: Notebook) -> None:
    run = notebook.start_run()
    notebook.store.runs.merge_metrics(
        run.id, [BatchSummary("x", 2, 0, math.inf, 1, -math.inf, math.inf, math.nan)]
    )
    m = notebook.store.runs.get_run(run.id).metrics["x"]
    assert (m.last, m.min, m.max) == (math.inf, -math.inf, math.inf)


def test_short_ids_are_sequential_and_uids_unique(notebook: Notebook) -> None:
    runs = [notebook.start_run(owner=current_owner()) for _ in range(5)]
    assert [r.id for r in runs] == [1, 2, 3, 4, 5]
    assert len({r.uid for r in runs}) == 5 and all(len(r.uid) == 32 for r in runs)


def test_bulky_capture_is_stored_once(notebook: Notebook) -> None:
    freeze = "\n".join(f"pkg{i}==1.0" for i in range(500))
    for _ in range(3):
        run = notebook.start_run()
        notebook.record_capture(run.id, {"packages": freeze, "git": {"repo": None}})
    n = sqlite3.connect(notebook.root / "labbook.db").execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert n == 1
    assert notebook.blob(notebook.get_run(3).capture["packages"]) == freeze


def test_network_filesystems_are_told_from_proc_mounts() -> None:
    from labbook.store.sqlite.connection import NETWORK_FILESYSTEMS, filesystem_type

    mounts = (
        "server:/export/home /home nfs4 rw,relatime 0 0\n"
        "/dev/sda1 / ext4 rw 0 0\n"
        "/dev/sdb1 /home/scratch\\040space ext4 rw 0 0\n"
        "lustre@tcp:/fs /lustre lustre rw 0 0\n"
    )
    assert filesystem_type(Path("/home/alice/project"), mounts) == "nfs4"
    assert filesystem_type(Path("/home/scratch space/x"), mounts) == "ext4"  # the longest mount point wins
    assert filesystem_type(Path("/homework/x"), mounts) == "ext4"  # a prefix of a name is not its mount
    assert filesystem_type(Path("/lustre/proj"), mounts) in NETWORK_FILESYSTEMS


def test_the_rollback_journal_serves_a_notebook_on_a_network_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where writers may be on other hosts the WAL's shared memory cannot be trusted: a real
    lab run, SDK logging and lab ls all work on the rollback journal, and no WAL file appears."""
    monkeypatch.setenv("LABBOOK_SQLITE_JOURNAL", "delete")
    monkeypatch.chdir(tmp_path)
    assert lab_proc("init", cwd=tmp_path).returncode == 0
    script = (
        "import labbook\nwith labbook.init() as run:\n    [run.log({'x': i}, step=i) for i in range(100)]\n"
    )
    (tmp_path / "t.py").write_text(script)
    assert lab_proc("run", "--", sys.executable, "t.py", cwd=tmp_path).returncode == 0
    listed = lab_proc("ls", "--json", cwd=tmp_path)
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "finished" and run["metrics"]["x"]["count"] == 100
    db = tmp_path / ".labbook" / "labbook.db"
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / ".labbook" / "labbook.db-wal").exists()
