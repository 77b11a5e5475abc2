"""Many processes logging into one notebook at once: nothing lost, nobody blocked.

A sweep launcher or a multi-worker job starts many processes against the same
``.labbook/``. Each writes its own series file, but all of them share one SQLite
database for run records and metric summaries. This starts 16 processes, lets them
initialise, releases them together, and has each log 20,000 points to its own run. Then
it checks every point, every stored summary, every exit, and every stderr.

    python benchmarks/bench_concurrency.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import _common as bench

PROCESSES = 16
POINTS = 20_000
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300

# One writer: init, say "ready", wait for the starting gun, log, finish, report.
WRITER = """
import json, os, sys, time
import labbook

idx, n, project, gate = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
run = labbook.init(dir=project, name=f"writer-{idx}", config={"writer": idx})
open(os.path.join(os.path.dirname(gate), f"ready-{idx}"), "w").close()
while not os.path.exists(gate):
    time.sleep(0.002)
t0 = time.time()
for i in range(n):
    run.log({"loss": idx * 1_000_000 + i * 0.5}, step=i)
t1 = time.time()
run.finish()
print(json.dumps({"idx": idx, "run": run.id, "start": t0, "logged": t1, "end": time.time()}), flush=True)
"""


def launch(project: Path, gate: Path) -> list[subprocess.Popen[str]]:
    env = bench.child_env()
    return [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(i), str(POINTS), str(project), str(gate)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]


def wait_ready(gate: Path, procs: list[subprocess.Popen[str]]) -> float:
    """Seconds until every writer has started its run (or raise if one died)."""
    t0 = bench.now()
    while sum(1 for _ in gate.parent.glob("ready-*")) < len(procs):
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a writer exited before starting: {dead[0].communicate()[1][-300:]}")
        if bench.now() - t0 > START_TIMEOUT_S:
            raise TimeoutError("writers did not start in time")
        time.sleep(0.01)
    return bench.now() - t0


def verify(project: Path, reports: list[dict[str, float]]) -> list[list[str]]:
    """Compare each run's series and summary with what its writer logged."""
    import numpy as np

    from labbook.service.notebook import Notebook

    rows = []
    expected_steps = np.arange(POINTS)
    with Notebook.open(project) as nb:
        for rep in sorted(reports, key=lambda r: r["idx"]):
            idx = int(rep["idx"])
            record = nb.get_run(int(rep["run"]))
            s = nb.series(record, "loss")
            expected = idx * 1_000_000 + expected_steps * 0.5
            same = len(s.values) == POINTS and np.array_equal(s.values, expected)
            same = same and np.array_equal(s.steps, expected_steps)
            summary = record.metrics.get("loss")
            count = summary.count if summary else 0
            ok = same and count == POINTS and record.status == "finished"
            rows.append(
                [
                    f"writer {idx:2d} (run {record.id})",
                    f"{len(s.values):,}",
                    "yes" if same else "NO",
                    f"{count:,}",
                    record.status,
                    bench.fmt_time(rep["logged"] - rep["start"]),
                    bench.fmt_time(rep["end"] - rep["logged"]),
                    "ok" if ok else "FAIL",
                ]
            )
    return rows


def main() -> None:
    bench.quiet_environment()
    bench.header(f"bench_concurrency: {PROCESSES} processes x {POINTS:,} points into one notebook")
    with bench.temp_dir("concurrency") as root:
        project = bench.new_notebook(root / "project")
        gate = root / "gate" / "go"
        gate.parent.mkdir()
        bench.progress(f"starting {PROCESSES} writers")
        t_launch = bench.now()
        procs = launch(project, gate)
        try:
            ready_s = wait_ready(gate, procs)
            t_go = bench.now()
            gate.touch()
            outputs = [p.communicate(timeout=RUN_TIMEOUT_S) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        t_done = bench.now()
        reports = []
        problems = []
        locked = 0
        for i, (p, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
            if p.returncode != 0:
                problems.append(f"writer {i} exited {p.returncode}")
            locked += err.count("database is locked")
            problems += [f"writer {i} stderr: {line[:150]}" for line in err.splitlines() if line.strip()]
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            if lines:
                reports.append(json.loads(lines[-1]))
        rows = verify(project, reports)
        check = bench.integrity(project)
    total = PROCESSES * POINTS
    wall_s = t_done - t_go
    first_start = min(r["start"] for r in reports) if reports else float("nan")
    last_log = max(r["logged"] for r in reports) if reports else float("nan")
    bench.print_table(
        "Per writer: points read back, equal to what was logged, stored summary count, status",
        ["writer", "points", "equal", "summary count", "status", "log loop", "finish"],
        [r[:7] for r in rows],
    )
    failed = sum(1 for r in rows if r[-1] != "ok") + (PROCESSES - len(rows))
    bench.print_table(
        "Totals",
        ["measure", "value"],
        [
            ["writers started (spawn to all runs initialised)", bench.fmt_time(ready_s)],
            ["wall time, starting gun to last process exited", bench.fmt_time(wall_s)],
            ["wall time, first point to last point logged", bench.fmt_time(last_log - first_start)],
            ["points logged in total", f"{total:,}"],
            ["points/s (gun to last exit, finish included)", f"{total / wall_s:,.0f}"],
            ["wall time, spawn to last exit", bench.fmt_time(t_done - t_launch)],
            ["writers whose data checked out", f"{PROCESSES - failed} of {PROCESSES}"],
            ["'database is locked' in any stderr", str(locked)],
            ["problems (non-zero exits, stderr lines; listed below)", str(len(problems))],
            ["PRAGMA integrity_check", check],
        ],
        notes=problems[:20],
    )


if __name__ == "__main__":
    sys.exit(main())
