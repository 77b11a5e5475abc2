"""What survives ``kill -9`` (the OOM killer, a pre-empted node): labbook's crash promise.

The recorder flushes every 0.5 s to an append-only file, so a process killed without
warning should lose at most the last flush interval: every point logged ≥ 1 s before the
kill must be on disk, the run must read as ``crashed`` (not forever ``running``), and the
database must pass ``PRAGMA integrity_check``. A subprocess logs ``time.time()`` once a
millisecond (so each point carries its own timestamp) until the parent SIGKILLs it after
about 3 s; repeated 5 times in one notebook, then 5 more times logging flat out (no sleep), where
the flush thread has to win the GIL from a tight loop.

    python benchmarks/bench_kill9.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _common as bench

REPEATS = 5
HOT_REPEATS = 5  # extra: logging flat out, no sleep, which starves the flush thread of the GIL
RUN_FOR_S = 3.0
PHASE_STEP_S = 0.13  # vary the kill time so it lands at different points of the 0.5 s flush cycle
MUST_KEEP_BEFORE_S = 1.0  # points logged at least this long before the kill must survive

LOGGER = """
import sys, time
import labbook

pause = float(sys.argv[2])
run = labbook.init(dir=sys.argv[1])
print(run.id, flush=True)
i = 0
while True:
    run.log({"t": time.time()}, step=i)
    i += 1
    if pause:
        time.sleep(pause)
"""


def torn_bytes(metrics_dir: Path) -> int:
    """Bytes after the last intact block of each series file (a write cut short by the kill)."""
    from labbook.formats.series import HEADER
    from labbook.store.series.read import iter_blocks

    torn = 0
    for path in metrics_dir.glob("*.lbm"):
        data = path.read_bytes()
        intact = sum(
            HEADER.size + len(b.key.encode()) + len(b.steps) + len(b.times) + len(b.values)
            for b in iter_blocks(data)
        )
        torn += len(data) - intact
    return torn


def lab_show_status(project: Path, run_id: int) -> str:
    proc = subprocess.run(
        [*bench.lab_command(), "--dir", str(project), "show", "--json", str(run_id)],
        env=bench.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {proc.stderr.strip()[:60]}"
    return str(json.loads(proc.stdout).get("status"))


def one_kill(project: Path, run_for: float, pause: float) -> list[str]:
    import numpy as np

    from labbook.service.notebook import Notebook

    proc = subprocess.Popen(
        [sys.executable, "-c", LOGGER, str(project), str(pause)],
        env=bench.child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        run_id = int(proc.stdout.readline())
        time.sleep(run_for)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""

    with Notebook.open(project) as nb:
        record = nb.get_run(run_id)
        s = nb.series(record, "t")
        torn = torn_bytes(nb.run_dir(record) / "metrics")
    summary = record.metrics.get("t")
    kept = len(s.values)
    contiguous = bool(np.array_equal(s.steps, np.arange(kept)))
    increasing = bool(np.all(np.diff(s.values) > 0))
    first, last = float(s.values[0]), float(s.values[-1])
    # Points are logged about once a ms from `first` on: how many were logged in all, roughly.
    rate = (kept - 1) / (last - first) if kept > 1 and last > first else float("nan")
    logged_est = int(rate * (killed_at - first)) + 1 if rate == rate else kept
    gap = killed_at - last
    ok = contiguous and increasing and gap <= MUST_KEEP_BEFORE_S
    status_api = record.status
    status_cli = lab_show_status(project, run_id)
    check = bench.integrity(project)
    ok = ok and status_api == "crashed" and status_cli == "crashed" and check == "ok" and not stderr.strip()
    return [
        f"run {run_id}",
        "every 1 ms" if pause else "flat out",
        bench.fmt_time(run_for),
        f"{kept:,}",
        f"~{logged_est:,}",
        f"{summary.count:,}" if summary else "0",
        bench.fmt_time(gap),
        f"≤ {bench.fmt_time(MUST_KEEP_BEFORE_S)} {'ok' if gap <= MUST_KEEP_BEFORE_S else 'MISSED'}",
        "yes" if contiguous and increasing else "NO",
        f"{torn} B",
        status_api,
        status_cli,
        check,
        "ok" if ok else "FAIL",
    ]


def main() -> None:
    bench.quiet_environment()
    bench.header(
        f"bench_kill9: SIGKILL a logging process after ~{RUN_FOR_S:.0f} s, {REPEATS} + {HOT_REPEATS} times"
    )
    rows = []
    with bench.temp_dir("kill9") as root:
        project = bench.new_notebook(root / "project")
        for k in range(REPEATS):
            print(f"... kill {k + 1} of {REPEATS}", file=sys.stderr, flush=True)
            rows.append(one_kill(project, RUN_FOR_S + (k - REPEATS // 2) * PHASE_STEP_S, 0.001))
        for k in range(HOT_REPEATS):
            print(f"... flat-out kill {k + 1} of {HOT_REPEATS}", file=sys.stderr, flush=True)
            rows.append(one_kill(project, RUN_FOR_S + (k - HOT_REPEATS // 2) * PHASE_STEP_S, 0.0))
    bench.print_table(
        "After each SIGKILL: what the notebook kept",
        [
            "run",
            "logging",
            "killed after",
            "points kept",
            "logged (est.)",
            "summary count",
            "last kept → kill",
            "target",
            "steps 0..n-1",
            "torn tail",
            "get_run status",
            "lab show status",
            "integrity",
            "verdict",
        ],
        rows,
        notes=[
            "logging: a point every ~1 ms (the check asked for), or flat out in a tight loop (a stress"
            " case: the background flush competes with the loop for the GIL)",
            "killed after: time from the child's init() returning to the SIGKILL",
            "points kept: read back with Notebook.series; logged (est.): the logging rate times the time"
            " from the first point to the kill",
            "last kept → kill: how long before the SIGKILL the newest surviving point was logged; every"
            f" point logged ≥ {MUST_KEEP_BEFORE_S:.0f} s before the kill must be kept (steps are contiguous,"
            " so all earlier points are there when the newest one is)",
            "summary count: the count stored in the database, merged after the file write, so it may lag",
            "torn tail: bytes of a block cut short by the kill (readers skip them)",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
