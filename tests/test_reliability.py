"""Many writers at once, and writers killed without warning: nothing lost, nothing corrupt."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from labbook.notebook import Notebook

WRITER = textwrap.dedent("""
    import sys, labbook
    k = int(sys.argv[1])
    with labbook.init(name=f"w{k}") as run:
        for i in range(20_000):
            run.log({"x": k * 1_000_000 + i}, step=i)
    print("done")
""")


def test_sixteen_processes_logging_at_once_lose_nothing(project: Path) -> None:
    (project / "writer.py").write_text(WRITER)
    procs = [
        subprocess.Popen(
            [sys.executable, "writer.py", str(k)],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(16)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and out == "done\n", err
        assert "locked" not in err and err == ""
    with Notebook.open(project) as nb:
        runs, total = nb.list_runs(limit=0)
        assert total == 16
        for run in runs:
            k = int(run.name[1:])
            s = nb.series(run, "x")
            assert s.values.tolist() == [float(k * 1_000_000 + i) for i in range(20_000)]
            assert run.metrics["x"].count == 20_000 and run.status == "finished"


KILLED = textwrap.dedent("""
    import sys, time, labbook
    run = labbook.init(name="victim")
    pause = float(sys.argv[1])
    i = 0
    while True:
        run.log({"t": time.time()}, step=i)
        i += 1
        if pause:
            time.sleep(pause)
""")


def test_kill_9_keeps_every_point_flushed_a_second_before(project: Path) -> None:
    """At a point a millisecond, and flat out (where the flush thread gets little of the GIL)."""
    (project / "victim.py").write_text(KILLED)
    for attempt, pause in enumerate(("0.001", "0.001", "0", "0")):
        proc = subprocess.Popen([sys.executable, "victim.py", pause], cwd=project)
        time.sleep(2.5)
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Notebook.open(project) as nb:
            run = nb.get_run(attempt + 1)
            assert run.status == "crashed"
            s = nb.series(run, "t")
        kept = s.values
        assert len(kept) > 100
        assert kept.max() >= killed_at - 1.0, f"lost points older than 1 s (attempt {attempt})"
        assert s.steps.tolist() == list(range(len(kept)))  # a prefix, no holes
        assert run.metrics["t"].count == len(kept)  # summaries rebuilt from what reached the disk
        assert run.metrics["t"].max == kept.max()
        db = sqlite3.connect(project / ".labbook" / "labbook.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
