"""How fast a logged series comes back: what a plot, ``lab metrics`` or an analysis notebook waits for.

labbook aims to return a million points of one metric in ≤ 100 ms. Measured: a finished
run (its file compacted), the same run read from a fresh process (imports included), and
a *live* run whose file still holds one small block per flush (what a dashboard reads
while training goes on). Peers read back 100k points that they wrote themselves; each
peer runs in its own subprocess so that one tool's background threads or exit hangs
cannot disturb another's figures.

    python benchmarks/bench_readback.py
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as bench

N_LARGE = 1_000_000
N_SMALL = 100_000
LIVE_BLOCK = 500  # points per flush in the live-run case: ~0.5 s of logging at 1k steps/s
REPEATS = 5
PEER_REPEATS = 3
PEER_TIMEOUT_S = 420
TARGET_1M_S = 0.100


# -- labbook ---------------------------------------------------------------------


def write_finished(project: Path, values: list[float]) -> tuple[int, int]:
    """A finished run holding ``values`` under "loss"; returns (run id, blocks in its files)."""
    import labbook
    from labbook.store.series.read import iter_blocks, series_files

    run = labbook.init(dir=project)
    for i, v in enumerate(values):
        run.log({"loss": v}, step=i)
    run.finish()
    blocks = sum(1 for f in series_files(run.dir / "metrics") for _ in iter_blocks(f.read_bytes()))
    return run.id, blocks


def read_warm(project: Path, run_id: int, expected: list[float]) -> list[float]:
    """Reads from an already-open notebook, checked against what was logged."""
    import numpy as np

    from labbook.service.notebook import Notebook

    times = []
    with Notebook.open(project) as nb:
        record = nb.get_run(run_id)
        for _ in range(REPEATS):
            t0 = bench.now()
            s = nb.series(record, "loss")
            times.append(bench.now() - t0)
    if len(s.values) != len(expected) or not np.array_equal(s.values, np.asarray(expected)):
        raise AssertionError(f"read back {len(s.values)} points that differ from the {len(expected)} logged")
    return times


_COLD_READ = """
import json, sys, time
t0 = time.perf_counter()
from labbook.service.notebook import Notebook
import numpy
t1 = time.perf_counter()
nb = Notebook.open(sys.argv[1])
record = nb.get_run(int(sys.argv[2]))
s = nb.series(record, "loss")
t2 = time.perf_counter()
s = nb.series(record, "loss")
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "first": t2 - t1, "second": t3 - t2, "n": len(s.values)}))
"""


def read_cold(project: Path, run_id: int) -> dict[str, float]:
    """A fresh interpreter: imports (labbook, numpy), then opening and one read, then a second read."""
    proc = bench.run_python(_COLD_READ, str(project), str(run_id))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout)


def live_run_reads(project: Path, values: list[float]) -> tuple[list[float], int, list[float]]:
    """1M points flushed in small blocks and read while the run is live, then after finish."""
    import numpy as np

    import labbook
    from labbook.service.notebook import Notebook
    from labbook.store.series.read import iter_blocks, series_files

    run = labbook.init(dir=project)
    recorder = run._recorder  # flushing by hand gives the block layout of a long, slow run
    for start in range(0, len(values), LIVE_BLOCK):
        for i in range(start, min(start + LIVE_BLOCK, len(values))):
            run.log({"loss": values[i]}, step=i)
        recorder.flush()
    files = series_files(run.dir / "metrics")
    blocks = sum(1 for f in files for _ in iter_blocks(f.read_bytes()))
    live: list[float] = []
    with Notebook.open(project) as nb:
        record = nb.get_run(run.id)
        for _ in range(REPEATS):
            t0 = bench.now()
            s = nb.series(record, "loss")
            live.append(bench.now() - t0)
        if not np.array_equal(s.values, np.asarray(values)):
            raise AssertionError("live read differs from what was logged")
        run.finish()
        after: list[float] = []
        for _ in range(REPEATS):
            t0 = bench.now()
            nb.series(record, "loss")
            after.append(bench.now() - t0)
    return live, blocks, after


def labbook_rows(root: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    large = bench.loss_values(N_LARGE, seed=1)
    small = bench.loss_values(N_SMALL)

    bench.progress(f"labbook: writing {N_LARGE:,} points")
    project = bench.new_notebook(root / "large")
    run_id, blocks = write_finished(project, large)
    warm = read_warm(project, run_id, large)
    label = f"labbook, finished run ({blocks} blocks), warm (median of {REPEATS})"
    rows.append(row(label, N_LARGE, warm, TARGET_1M_S))
    cold = read_cold(project, run_id)
    both = cold["imports"] + cold["first"]
    rows.append(row("labbook, fresh process: imports+open+get_run+read", N_LARGE, [both], TARGET_1M_S))
    rows.append(row("  of which imports (labbook.service.notebook, numpy)", N_LARGE, [cold["imports"]]))
    rows.append(row("  of which open+get_run+read", N_LARGE, [cold["first"]], TARGET_1M_S))
    rows.append(row("labbook, fresh process: second read", N_LARGE, [cold["second"]], TARGET_1M_S))

    bench.progress(f"labbook: {N_LARGE:,} points in blocks of {LIVE_BLOCK} (live run)")
    live, blocks, after = live_run_reads(bench.new_notebook(root / "live"), large)
    rows.append(
        row(f"labbook, live run, {blocks:,} blocks (median of {REPEATS})", N_LARGE, live, TARGET_1M_S)
    )
    rows.append(row("labbook, same run after finish (compacted)", N_LARGE, after, TARGET_1M_S))

    project = bench.new_notebook(root / "small")
    run_id, _ = write_finished(project, small)
    rows.append(
        row(f"labbook, finished run, warm (median of {REPEATS})", N_SMALL, read_warm(project, run_id, small))
    )
    return rows


def row(label: str, n: int, times: list[float], target: float | None = None) -> list[str]:
    m = bench.median(times)
    return [
        label,
        f"{n:,}",
        bench.fmt_time(m),
        bench.fmt_time(m / n * 1e6) if n else "—",
        bench.against(m, target, bench.fmt_time) if target is not None else "",
    ]


# -- peers (each in its own subprocess: see --peer below) ------------------------


def peer_tensorboard(tmp: Path, values: list[float]) -> dict[str, Any]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboardX import SummaryWriter

    t0 = bench.now()
    writer = SummaryWriter(str(tmp / "tbx"))
    for i, v in enumerate(values):
        writer.add_scalar("loss", v, i)
    writer.close()
    write_s = bench.now() - t0
    times = []
    for _ in range(PEER_REPEATS):
        t0 = bench.now()
        acc = EventAccumulator(str(tmp / "tbx"), size_guidance={"scalars": 0})  # 0: keep every point
        acc.Reload()
        events = acc.Scalars("loss")
        times.append(bench.now() - t0)
    return {"write_s": write_s, "times": times, "n": len(events)}


def peer_mlflow(tmp: Path, values: list[float]) -> dict[str, Any]:
    import time

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("bench")
    t0 = bench.now()
    run_id = client.create_run(experiment).info.run_id
    for start in range(0, len(values), 1000):
        ms = int(time.time() * 1000)
        batch = [Metric("loss", values[i], ms, i) for i in range(start, min(start + 1000, len(values)))]
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    write_s = bench.now() - t0
    times = []
    for _ in range(PEER_REPEATS):
        t0 = bench.now()
        history = MlflowClient().get_metric_history(run_id, "loss")
        times.append(bench.now() - t0)
    return {"write_s": write_s, "times": times, "n": len(history)}


def peer_aim(tmp: Path, values: list[float]) -> dict[str, Any]:
    import aim
    from aim.sdk.index_manager import RepoIndexManager
    from aim.storage.context import Context

    t0 = bench.now()
    run = aim.Run(repo=str(tmp))
    for i, v in enumerate(values):
        run.track(v, name="loss", step=i)
    run_hash = run.hash
    run.close()
    write_s = bench.now() - t0
    # A finished run is readable only once indexed (normally by `aim up`'s background indexer).
    t0 = bench.now()
    RepoIndexManager.get_index_manager(aim.Repo.from_path(str(tmp))).index(run_hash)
    index_s = bench.now() - t0
    times = []
    for _ in range(PEER_REPEATS):
        t0 = bench.now()
        reader = aim.Run(run_hash=run_hash, repo=str(tmp), read_only=True)
        steps, _columns = reader.get_metric("loss", Context({})).data.numpy()
        times.append(bench.now() - t0)
    return {"write_s": write_s, "times": times, "n": len(steps), "index_s": index_s}


PEERS: dict[str, tuple[str, str, Callable[[Path, list[float]], dict[str, Any]]]] = {
    "tensorboard": ("TensorBoard EventAccumulator (tensorboardX file)", "tensorboard", peer_tensorboard),
    "mlflow": ("MLflow get_metric_history (sqlite)", "mlflow", peer_mlflow),
    "aim": ("Aim Run.get_metric(...).data.numpy()", "aim", peer_aim),
}


def run_peer_child(name: str, tmp: str) -> None:
    """Child side of ``--peer``: write, read, print one JSON line, and leave at once."""
    bench.quiet_environment()
    _, _, fn = PEERS[name]
    result = fn(Path(tmp), bench.loss_values(N_SMALL))
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip peers' exit handlers (Aim's can hang once its files are gone)


def peer_rows(root: Path) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    notes: list[str] = []
    for name, (label, module, _) in PEERS.items():
        needed = ("tensorboard", "tensorboardX") if name == "tensorboard" else (module,)
        if any(bench.try_import(m) is None for m in needed):
            rows.append([label, f"{N_SMALL:,}", bench.NOT_INSTALLED, "", ""])
            continue
        bench.progress(f"{label}: writing and reading {N_SMALL:,} points")
        work = root / f"peer-{name}"
        work.mkdir()
        try:
            result = bench.child_json([sys.executable, __file__, "--peer", name, str(work)], PEER_TIMEOUT_S)
        except Exception as err:
            rows.append([label, f"{N_SMALL:,}", f"error: {type(err).__name__}: {err}"[:70], "", ""])
            continue
        rows.append(row(f"{label} (median of {PEER_REPEATS})", result["n"], result["times"]))
        est = result["write_s"] * N_LARGE / N_SMALL
        rows.append([f"{label}, 1M", f"{N_LARGE:,}", "not run", "", f"writing 1M would take ~{est:.0f} s"])
        if "index_s" in result:
            notes.append(
                f"Aim: indexing the finished run before it could be read took {bench.fmt_time(result['index_s'])}"
                " (not counted)"
            )
    rows.append(["W&B offline", f"{N_SMALL:,}", "skipped", "", "no public API reads an offline run"])
    return rows, notes


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--peer":
        run_peer_child(sys.argv[2], sys.argv[3])
        return
    bench.quiet_environment()
    bench.header("bench_readback: reading back one metric's series")
    with bench.temp_dir("readback") as root:
        rows = labbook_rows(root)
        more, notes = peer_rows(root)
    bench.print_table(
        "Reading every point of one metric (values checked against what was logged for labbook)",
        ["tool / case", "points", "time", "per 1M pts", "target"],
        rows + more,
        notes=[
            "labbook: Notebook.series(run, 'loss') returns numpy arrays of steps, times and values",
            f"live run: {LIVE_BLOCK} points per flush, as a run logging 1k steps/s leaves its file"
            " until finish() compacts it",
            "peers: the tool's own reader, timed from constructing it to holding the points,"
            " in a process that has already imported it",
            *notes,
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
