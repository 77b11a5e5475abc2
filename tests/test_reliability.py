"""Many writers at once, and writers killed without warning: nothing lost, nothing corrupt."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from labbook.service.notebook import Notebook

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


# kill -9 in tight loops, checked against what the logger acknowledged: tests/test_recorder.py
