"""How old a point can get before it is on disk, and whether the database can hold up ``run.log``.

Part 1, the one-second promise in real loops. For 1, 8, 16 and 100 metrics per step, a
process logs flat out (a tight loop, the hardest case: the background writer competes
with the loop for the GIL), once before numpy is imported and once with numpy loaded:

- *worst age at write*: the recorder's write trace gives, for every write, the earliest
  moment one of its points could have been logged and the moment the write completed;
  the worst difference over ~5 s of logging is how old a point can be when it reaches disk.
- *newest loss at kill -9*: three more processes of the same shape are SIGKILLed at a
  varying moment; the newest point that did not survive was logged at most this long
  before the kill (the time from the newest kept point to the kill).
- the loop's rate, so the cost of the back-pressure that keeps the promise is visible.

Part 2, a locked database. Another process takes the notebook database's write lock
(``BEGIN IMMEDIATE``) and holds it for 10 s while a run logs 10 metrics every millisecond;
the worst and 99.9th-percentile ``run.log`` latency during the lock, then ``finish()``
after the lock is gone. Beside it MLflow's ``log_metric`` against a SQLite tracking store
whose write lock is held the same way (where MLflow is installed).

    python benchmarks/bench_lag.py        # ~2.5 min
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as bench

SHAPES = (1, 8, 16, 100)
TRACE_S = 5.0
KILLS = 3
LOCK_S = 10.0
PROMISE_S = 1.0

LOOP = """
import json, sys, time
with_numpy = sys.argv[3] == "1"
if with_numpy:
    import numpy
import labbook
keys, seconds = int(sys.argv[1]), float(sys.argv[2])
assert with_numpy == ("numpy" in sys.modules)
run = labbook.init(dir=sys.argv[4])
rec = run._own_recorder()
rec.trace = []
names = [f"m{k}" for k in range(keys)]
print("ready", flush=True)
t0 = time.perf_counter()
i = 0
end = time.time() + seconds
while time.time() < end:
    run.log(dict.fromkeys(names, float(i)), step=i)
    i += 1
elapsed = time.perf_counter() - t0
trace = list(rec.trace)
run.finish()
ages = sorted(done - start for start, done, _ in trace)
print(json.dumps({"worst": ages[-1] if ages else None, "writes": len(ages), "steps": i,
                  "rate": i * keys / elapsed}))
"""


def last_json(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; the JSON object its last line prints."""
    proc = bench.run_python(code, *args, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def trace_shape(project: Path, keys: int, with_numpy: bool) -> dict[str, Any]:
    return last_json(LOOP, str(keys), str(TRACE_S), str(int(with_numpy)), str(project))


def kill_shape(project: Path, keys: int, with_numpy: bool, rng: random.Random) -> float:
    """Seconds between the newest point that survived a SIGKILL and the kill."""
    from labbook.service.notebook import Notebook

    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(keys), "3600", str(int(with_numpy)), str(project)],
        env=bench.child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(2.0 + rng.random())
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Notebook.open(project) as nb:
        run = nb.list_runs(limit=1)[0][0]
        newest = max(float(nb.series(run, f"m{k}").times.max()) for k in range(keys))
    return killed_at - newest


HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
"""

LOCKED_LOGGER = """
import json, subprocess, sys, time
import labbook
db, hold = sys.argv[1], float(sys.argv[2])
run = labbook.init(dir=sys.argv[3])
names = [f"m{k}" for k in range(10)]
for i in range(200):
    run.log(dict.fromkeys(names, float(i)), step=i)
holder = subprocess.Popen([sys.executable, "-c", sys.argv[4], db, str(hold)], stdout=subprocess.PIPE, text=True)
assert holder.stdout.readline() == "locked\\n"
lat = []
i = 200
while holder.poll() is None:
    t0 = time.perf_counter()
    run.log(dict.fromkeys(names, float(i)), step=i)
    lat.append(time.perf_counter() - t0)
    i += 1
    time.sleep(0.001)
t0 = time.perf_counter()
run.finish()
finish = time.perf_counter() - t0
from labbook.service.notebook import Notebook
with Notebook.open(sys.argv[3]) as nb:
    r = nb.get_run(run.id)
    status, count = r.status, r.metrics["m0"].count
lat.sort()
print(json.dumps({"worst": lat[-1], "p999": lat[int(len(lat) * 0.999)], "calls": len(lat),
                  "finish": finish, "status": status, "count": count, "steps": i}))
"""

MLFLOW_LOCKED = """
import json, os, subprocess, sys, time
import mlflow
db, hold = sys.argv[1], float(sys.argv[2])
mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("lock")
run = mlflow.start_run()
for i in range(20):
    mlflow.log_metric("m0", float(i), step=i)
holder = subprocess.Popen([sys.executable, "-c", sys.argv[3], db, str(hold)], stdout=subprocess.PIPE, text=True)
assert holder.stdout.readline() == "locked\\n"
lat, errors, i = [], 0, 20
while holder.poll() is None:
    t0 = time.perf_counter()
    try:
        mlflow.log_metric("m0", float(i), step=i)
    except Exception:
        errors += 1
    lat.append(time.perf_counter() - t0)
    i += 1
    time.sleep(0.001)
mlflow.end_run()
lat.sort()
print(json.dumps({"worst": lat[-1], "p999": lat[int(len(lat) * 0.999)], "calls": len(lat), "errors": errors}))
"""


def locked_labbook(root: Path) -> dict[str, Any]:
    project = bench.new_notebook(root / "locked")
    db = project / ".labbook" / "labbook.db"
    return last_json(LOCKED_LOGGER, str(db), str(LOCK_S), str(project), HOLDER)


def locked_mlflow(root: Path) -> dict[str, float] | None:
    from _common import PEER_VENV

    python = sys.executable
    probe = subprocess.run([python, "-c", "import mlflow"], capture_output=True)
    if probe.returncode != 0:
        python = str(PEER_VENV / "bin" / "python")
        if not Path(python).exists():
            return None
    db = root / "mlflow.db"
    proc = subprocess.run(
        [python, "-c", MLFLOW_LOCKED, str(db), str(LOCK_S), HOLDER],
        env=bench.child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    bench.quiet_environment()
    bench.header("bench_lag: the age of a point before it is on disk; run.log against a locked database")
    rng = random.Random(0)
    rows = []
    with bench.temp_dir("lag") as root:
        for keys in SHAPES:
            for with_numpy in (False, True):
                label = f"{keys} metric{'s' if keys > 1 else ''}, numpy {'loaded' if with_numpy else 'not imported'}"
                bench.progress(label)
                project = bench.new_notebook(root / f"p{keys}-{int(with_numpy)}")
                traced = trace_shape(project, keys, with_numpy)
                losses = [kill_shape(project, keys, with_numpy, rng) for _ in range(KILLS)]
                worst_loss = max(losses)
                rows.append(
                    [
                        label,
                        f"{traced['rate'] / 1e6:.2f} M/s",
                        f"{traced['writes']}",
                        bench.fmt_time(traced["worst"]),
                        bench.against(traced["worst"], PROMISE_S, bench.fmt_time),
                        bench.fmt_time(worst_loss),
                        bench.against(worst_loss, PROMISE_S, bench.fmt_time),
                    ]
                )
        bench.print_table(
            f"Tight loops: how old a point gets before it is on disk ({TRACE_S:.0f} s traced, {KILLS} kills each)",
            [
                "shape",
                "points/s",
                "writes",
                "worst age at write",
                "target",
                "newest loss at kill -9",
                "target",
            ],
            rows,
            notes=[
                "worst age at write: over every write of the traced run, completion time minus the"
                " earliest moment one of its points could have been logged",
                "newest loss at kill -9: kill time minus the newest point kept; every point older than"
                " that survived (steps are contiguous), worst of the kills",
                "points/s: scalar points per second through run.log in the loop, back-pressure included",
            ],
        )
        bench.progress(f"run.log while another process holds the write lock for {LOCK_S:.0f} s")
        ours = locked_labbook(root)
        bench.progress("MLflow log_metric under the same held lock")
        theirs = locked_mlflow(root)
    lock_rows = [
        [
            "labbook run.log (10 metrics)",
            bench.fmt_time(float(ours["worst"])),
            bench.fmt_time(float(ours["p999"])),
            bench.against(float(ours["worst"]), 0.010, bench.fmt_time),
            f"{ours['calls']:,}",
            f"finish {bench.fmt_time(float(ours['finish']))}, {ours['status']}, {ours['count']:,} of {ours['steps']:,} steps",
        ]
    ]
    if theirs is None:
        lock_rows.append(["MLflow log_metric (sqlite)", bench.NOT_INSTALLED, "", "", "", ""])
    else:
        lock_rows.append(
            [
                "MLflow log_metric (sqlite)",
                bench.fmt_time(theirs["worst"]),
                bench.fmt_time(theirs["p999"]),
                "",
                f"{theirs['calls']:,}",
                f"{theirs['errors']} calls raised",
            ]
        )
    bench.print_table(
        f"run.log while another process holds the database's write lock for {LOCK_S:.0f} s",
        ["logger", "worst call", "p99.9", "target", "calls", "after"],
        lock_rows,
        notes=["one call a millisecond while the lock is held; 'after': finish() once the lock is gone"],
    )


if __name__ == "__main__":
    sys.exit(main())
