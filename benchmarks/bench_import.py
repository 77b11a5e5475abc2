"""What ``lab import`` costs on another tracker's history, beside that tracker reading it itself.

A person moving to labbook imports everything they already have: here 100 runs of 10,000
steps each (``--runs``, ``--points`` to run it small) from each source, built in a temporary
directory by the real tool, each in a subprocess of its own so that its start-up and
background services stay out of every other figure:

- TensorBoard: tensorboardX ``SummaryWriter``, one folder per run;
- MLflow: a SQLite tracking store, ``MlflowClient.log_batch`` of 1,000 points at a time;
- W&B: offline runs made one after another in one process (system stats off, so that the
  runs hold exactly what was logged).

Every run logs ``loss`` at every step and ``val_loss`` at every 10th. Then, each a fresh
process timed from spawn to exit: ``lab import KIND SOURCE -q`` into a new notebook (median
of ``--repeats``, after one untimed import that writes the .pyc files and warms the page
cache), the same import again into a notebook that already holds it (every run an update),
and the tool's own read of every point (TensorBoard ``EventAccumulator`` with every point
kept, MLflow ``search_runs`` + ``get_metric_history``, ``wandb leet inspect --json`` over each
run file). Every notebook is then opened to check that it holds each logged point exactly
once, at its step, with its value: ``all points: NO`` means labbook lost or duplicated some.

    python benchmarks/bench_import.py                          # ~50 min (W&B ~30 of them), 1.1M points a source
    python benchmarks/bench_import.py --repeats 1              # ~30 min
    python benchmarks/bench_import.py --runs 5 --points 2000   # ~2.5 min
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as bench

RUNS = 100
POINTS = 10_000
REPEATS = 3
EVERY = 10  # val_loss is logged at every 10th step
BATCH = 1000  # MLflow's limit of metrics per log_batch
CHILD_TIMEOUT_S = 4 * 3600
SOURCES = ("tensorboard", "mlflow", "wandb")
LABELS = {"tensorboard": "TensorBoard", "mlflow": "MLflow", "wandb": "W&B"}
NEEDS = {"tensorboard": ("tensorboardX", "tensorboard"), "mlflow": ("mlflow",), "wandb": ("wandb",)}
TOOL_READ = {
    "tensorboard": "EventAccumulator(size_guidance scalars=0).Reload() per run folder, every scalar",
    "mlflow": "MlflowClient.search_runs + get_metric_history of every metric",
    "wandb": "one `wandb leet inspect --json FILE` per run file",
}


# -- what every run logs ---------------------------------------------------------


def run_name(r: int) -> str:
    return f"run-{r:03d}"


def logged(r: int, points: int) -> dict[str, tuple[range, list[float]]]:
    """Run ``r``'s series, ``key -> (steps, values)``: the same for every tool and for the check."""
    val_steps = range(0, points, EVERY)
    return {
        "loss": (range(points), bench.loss_values(points, seed=r)),
        "val_loss": (val_steps, bench.loss_values(len(val_steps), seed=100_000 + r)),
    }


def expected_points(runs: int, points: int) -> int:
    return runs * (points + len(range(0, points, EVERY)))


def rows_of(r: int, points: int) -> list[tuple[int, dict[str, float]]]:
    """Run ``r`` as (step, {key: value}) rows, as a training loop logs them."""
    series = logged(r, points)
    rows: dict[int, dict[str, float]] = {}
    for key, (steps, values) in series.items():
        for step, value in zip(steps, values, strict=True):
            rows.setdefault(step, {})[key] = value
    return sorted(rows.items())


# -- building the sources (child side of --child build KIND DIR RUNS POINTS) -----


def build_tensorboard(out: Path, runs: int, points: int) -> None:
    from tensorboardX import SummaryWriter

    for r in range(runs):
        writer = SummaryWriter(str(out / run_name(r)))
        for step, row in rows_of(r, points):
            for key, value in row.items():
                writer.add_scalar(key, value, step)
        writer.close()
        built(r, runs, "tensorboard")


def build_mlflow(out: Path, runs: int, points: int) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(out))
    experiment = client.create_experiment("bench")
    for r in range(runs):
        run_id = client.create_run(experiment, run_name=run_name(r)).info.run_id
        batch: list[Metric] = []
        for step, row in rows_of(r, points):
            ms = int(time.time() * 1000)
            batch += [Metric(key, value, ms, step) for key, value in row.items()]
            if len(batch) >= BATCH:
                client.log_batch(run_id, metrics=batch[:BATCH])
                batch = batch[BATCH:]
        if batch:
            client.log_batch(run_id, metrics=batch)
        client.set_terminated(run_id)
        built(r, runs, "mlflow")


def build_wandb(out: Path, runs: int, points: int) -> None:
    import wandb

    settings = wandb.Settings(
        mode="offline", x_disable_stats=True, x_disable_meta=True, console="off", silent=True
    )
    for r in range(runs):
        run = wandb.init(project="bench", name=run_name(r), dir=str(out), settings=settings)
        for step, row in rows_of(r, points):
            run.log(row, step=step)
        run.finish()
        built(r, runs, "wandb")
    wandb.teardown()  # stops the wandb-core service this process started


def built(r: int, runs: int, kind: str) -> None:
    if (r + 1) % max(1, runs // 10) == 0 or r + 1 == runs:
        bench.progress(f"{kind}: built run {r + 1} of {runs}")


BUILDERS = {"tensorboard": build_tensorboard, "mlflow": build_mlflow, "wandb": build_wandb}


def mlflow_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def source_arg(kind: str, folder: Path) -> str:
    """What ``lab import KIND`` is given: the log directory, the tracking URI, the folder holding wandb/."""
    return mlflow_uri(folder) if kind == "mlflow" else str(folder)


# -- the tools' own reads (child side of --child read KIND DIR) ------------------


def read_tensorboard(folder: Path) -> tuple[int, int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = points = 0
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every point
        acc.Reload()
        runs += 1
        points += sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
    return runs, points


def read_mlflow(folder: Path) -> tuple[int, int]:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(folder))
    ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
    runs, token, points = [], None, 0
    while True:
        page = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            break
    for run in runs:
        for key in run.data.metrics:
            points += len(client.get_metric_history(run.info.run_id, key))
    return len(runs), points


READERS = {"tensorboard": read_tensorboard, "mlflow": read_mlflow}
READER_MODULES = {
    "tensorboard": "tensorboard.backend.event_processing.event_accumulator",
    "mlflow": "mlflow.tracking",
}


def child(args: list[str]) -> None:
    """``--child build KIND DIR RUNS POINTS`` or ``--child read KIND DIR``: one JSON line on stdout."""
    bench.quiet_environment()
    what, kind, folder = args[0], args[1], Path(args[2])
    t0 = bench.now()
    if what == "build":
        BUILDERS[kind](folder, int(args[3]), int(args[4]))
        print(json.dumps({"seconds": bench.now() - t0}), flush=True)
        return
    importlib.import_module(READER_MODULES[kind])  # timed apart: the rest is opening and reading
    t1 = bench.now()
    runs, points = READERS[kind](folder)
    print(json.dumps({"runs": runs, "points": points, "import_s": t1 - t0, "read_s": bench.now() - t1}))


def run_child(*args: str) -> tuple[float, dict[str, Any]]:
    """Wall time and JSON answer of a ``--child`` process; its stderr (progress) passes through."""
    argv = [sys.executable, __file__, "--child", *args]
    t0 = bench.now()
    proc = subprocess.run(
        argv, env=bench.child_env(), stdout=subprocess.PIPE, text=True, timeout=CHILD_TIMEOUT_S
    )
    seconds = bench.now() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"--child {' '.join(args[:2])} exited {proc.returncode} without an answer")
    return seconds, json.loads(lines[-1])


# -- processes a tool left behind ------------------------------------------------


def strays(root: Path) -> list[int]:
    """Live processes started under ``root`` (their TMPDIR is inside it), other than this one."""
    mark = f"TMPDIR={root}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(var.startswith(mark) for var in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def reap_strays(root: Path, grace_s: float = 10.0) -> list[int]:
    """Wait for what a tool started to exit; end (by pid) and return whatever has not."""
    deadline = bench.now() + grace_s
    left = strays(root)
    while left and bench.now() < deadline:
        time.sleep(0.2)
        left = strays(root)
    if not left:
        return []
    for pid in left:
        with_pid(pid, signal.SIGTERM)
    time.sleep(1.0)
    for pid in strays(root):
        with_pid(pid, signal.SIGKILL)
    return left


def with_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- labbook's side --------------------------------------------------------------


def lab_import(project: Path, kind: str, source: str, repeats: int = 1) -> tuple[list[float], str]:
    """Wall times of ``lab import KIND SOURCE -q`` into ``project``, and its last summary line."""
    argv = [*bench.lab_command(), "--dir", str(project), "import", kind, source, "-q"]
    times, proc = bench.wall_times(argv, repeats, warm_up=False, check=True, timeout=CHILD_TIMEOUT_S)
    first = (proc.stdout.strip().splitlines() or [""])[0]
    return times, first.split(";")[0]  # without its `lab ls --where` hint


@dataclass
class Check:
    """What one notebook holds against what was logged."""

    runs: int = 0
    points: int = 0
    problems: list[str] = field(default_factory=list)


def check_notebook(project: Path, kind: str, runs: int, points: int) -> Check:
    """Every run once, each logged point once at its step with its value (float32 for TensorBoard)."""
    from labbook.service.notebook import Notebook

    found = Check()
    names: dict[str, int] = {}
    with Notebook.open(project) as nb:
        records, _ = nb.list_runs(limit=0)
        for record in records:
            found.runs += 1
            found.points += sum(m.count for m in record.metrics.values())
            names[record.name or ""] = names.get(record.name or "", 0) + 1
            if record.name not in {run_name(r) for r in range(runs)}:
                found.problems.append(f"run {record.id} ({record.name}) was never logged")
                continue
            want = logged(int(record.name.split("-")[1]), points)
            if set(record.metrics) != set(want):
                found.problems.append(
                    f"{record.name}: metrics {sorted(record.metrics)}, logged {sorted(want)}"
                )
            for key, (steps, values) in want.items():
                if key in record.metrics:
                    found.problems += compare(record.name, key, nb.series(record, key), steps, values, kind)
    for r in range(runs):
        if names.get(run_name(r), 0) != 1:
            found.problems.append(f"{run_name(r)}: {names.get(run_name(r), 0)} runs in the notebook")
    if found.points != expected_points(runs, points):
        found.problems.append(f"{found.points:,} points counted, {expected_points(runs, points):,} logged")
    return found


def compare(name: str, key: str, series: Any, steps: range, values: list[float], kind: str) -> list[str]:
    import numpy as np

    want = np.asarray(values, dtype=np.float32 if kind == "tensorboard" else np.float64).astype(np.float64)
    if len(series.values) != len(want):
        return [f"{name} {key}: {len(series.values):,} points read back, {len(want):,} logged"]
    out = []
    if not np.array_equal(series.steps, np.asarray(steps)):
        out.append(f"{name} {key}: steps differ from those logged")
    if not np.array_equal(series.values, want):
        out.append(f"{name} {key}: {int((series.values != want).sum()):,} values differ from those logged")
    return out


# -- the tools' reads --------------------------------------------------------------


def tool_read(kind: str, folder: Path, repeats: int) -> tuple[list[float], int, str]:
    """Wall times of the tool reading every point in a fresh process, the points it saw, and a note."""
    if kind == "wandb":
        return wandb_read(folder, repeats)
    times, answer = [], {}  # no warm-up: its .pyc exist, and labbook's imports just read the same files
    for _ in range(repeats):
        seconds, answer = run_child("read", kind, str(folder))
        times.append(seconds)
    note = (
        f"{LABELS[kind]}'s read, last run: importing {READER_MODULES[kind]} {bench.fmt_time(answer['import_s'])},"
        f" then opening and reading {bench.fmt_time(answer['read_s'])}"
    )
    return times, answer["points"], note


def wandb_read(folder: Path, repeats: int) -> tuple[list[float], int, str]:
    """``wandb leet inspect --json`` of every run file; the points are counted from its history records."""
    exe = bench.venv_bin("wandb")
    help_ = [str(exe), "leet", "inspect", "--help"] if exe else None
    if help_ is None or subprocess.run(help_, env=bench.child_env(), capture_output=True).returncode != 0:
        return [], -1, "W&B: this wandb has no `wandb leet inspect`: no reader"
    files = sorted(folder.glob("wandb/*run-*/run-*.wandb"))
    times, points = [], 0
    for _ in range(repeats):
        seconds, points = 0.0, 0
        for f in files:
            argv = [str(exe), "leet", "inspect", "--json", str(f)]
            t0 = bench.now()
            proc = subprocess.run(
                argv,
                env=bench.child_env(),
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT_S,
                check=True,
            )
            seconds += bench.now() - t0
            points += history_points(proc.stdout)  # counted outside the timing
        times.append(seconds)
    return times, points, f"W&B's read: {len(files)} processes, one per run file, times summed"


def history_points(jsonl: str) -> int:
    points = 0
    for line in jsonl.splitlines():
        if '"type":"history"' in line:
            items = json.loads(line)["history"]["item"]
            points += sum(1 for k in items if not k.startswith("_"))
    return points


# -- one source, end to end ------------------------------------------------------


@dataclass
class Result:
    kind: str
    build_s: float = float("nan")
    fresh: list[float] = field(default_factory=list)
    again: list[float] = field(default_factory=list)
    summary: str = ""
    tool: list[float] = field(default_factory=list)
    tool_points: int = -1
    checks: dict[str, Check] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def measure(kind: str, root: Path, runs: int, points: int, repeats: int) -> Result:
    result = Result(kind)
    if any(bench.try_import(m) is None for m in NEEDS[kind]):
        result.error = bench.NOT_INSTALLED
        return result
    folder = root / f"source-{kind}"
    folder.mkdir()
    bench.progress(f"{kind}: building {runs} runs × {points:,} steps with the tool itself")
    result.build_s, _ = run_child("build", kind, str(folder), str(runs), str(points))
    left = reap_strays(root)
    if left:
        result.notes.append(f"{LABELS[kind]}: {len(left)} process(es) still running after the build, ended")
    source = source_arg(kind, folder)
    again = bench.new_notebook(root / f"{kind}-again")
    bench.progress(f"{kind}: lab import (warm-up), then again {repeats} times (all updates)")
    lab_import(again, kind, source)
    result.again, _ = lab_import(again, kind, source, repeats)
    for i in range(repeats):
        bench.progress(f"{kind}: lab import into a new notebook ({i + 1} of {repeats})")
        times, result.summary = lab_import(bench.new_notebook(root / f"{kind}-fresh-{i}"), kind, source)
        result.fresh += times
    bench.progress(f"{kind}: the tool's own read")
    result.tool, result.tool_points, note = tool_read(kind, folder, repeats)
    result.notes.append(note)
    bench.progress(f"{kind}: checking every point in the notebooks")
    result.checks = {
        "new notebook": check_notebook(root / f"{kind}-fresh-0", kind, runs, points),
        f"after {repeats + 1} imports": check_notebook(again, kind, runs, points),
    }
    if reap_strays(root):
        result.notes.append(f"{LABELS[kind]}: processes still running after its reads, ended")
    return result


def safely(kind: str, root: Path, runs: int, points: int, repeats: int) -> Result:
    """One source's result, or its error in its row: one tool failing leaves the others' figures."""
    try:
        return measure(kind, root, runs, points, repeats)
    except (Exception, SystemExit) as err:  # wall_times(check=True) raises SystemExit
        reap_strays(root)
        return Result(kind, error=f"error: {type(err).__name__}: {err}"[:90])


# -- printing --------------------------------------------------------------------


def table_row(result: Result, runs: int, points: int) -> list[str]:
    total = expected_points(runs, points)
    label = LABELS[result.kind]
    if result.error:
        return [label, f"{runs}", f"{total:,}", result.error, "", "", "", "", ""]
    fresh = bench.median(result.fresh)
    tool = bench.fmt_time(bench.median(result.tool)) if result.tool else "no reader"
    ok = all(not c.problems for c in result.checks.values())
    return [
        label,
        f"{runs}",
        f"{total:,}",
        bench.fmt_time(fresh),
        bench.fmt_time(fresh / total),
        bench.fmt_time(bench.median(result.again)),
        tool,
        f"{result.tool_points:,}" if result.tool_points >= 0 else "—",
        "yes" if ok else "NO",
    ]


def notes_for(results: list[Result], repeats: int) -> list[str]:
    notes = [
        f"median of {repeats}, each a fresh process timed spawn to exit; import: into a new notebook each time,"
        " after one untimed import; re-import: into a notebook already holding the same runs (all updates);"
        " tool's read: no warm-up (labbook's imports have just read the same files)",
        f"every run: loss at every step, val_loss at every {EVERY}th; W&B system stats off",
    ]
    notes += [f"tool's own read, {LABELS[k]}: {how}" for k, how in TOOL_READ.items()]
    built = ", ".join(f"{LABELS[r.kind]} {r.build_s:.1f} s" for r in results if r.build_s == r.build_s)
    if built:
        notes.append(f"building the sources with the tools took {built} (not part of any figure)")
    for r in results:
        notes += r.notes
        if r.summary:
            notes.append(f"lab import {r.kind}: {r.summary}")
        for where, check in r.checks.items():
            for problem in check.problems[:5]:
                notes.append(f"POINTS {LABELS[r.kind]} ({where}): {problem}")
            if len(check.problems) > 5:
                notes.append(f"POINTS {LABELS[r.kind]} ({where}): {len(check.problems) - 5} more problems")
    return notes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per source (default {RUNS})")
    parser.add_argument("--points", type=int, default=POINTS, help=f"steps per run (default {POINTS:,})")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help=f"timed runs of each (default {REPEATS})"
    )
    return parser.parse_args()


def main() -> None:
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    args = parse_args()
    bench.quiet_environment()
    total = expected_points(args.runs, args.points)
    bench.header(
        f"bench_import: lab import of {args.runs} runs × {args.points:,} steps ({total:,} points) per source"
    )
    with bench.temp_dir("import") as root:
        results = [safely(kind, root, args.runs, args.points, args.repeats) for kind in SOURCES]
    bench.print_table(
        f"lab import ({' '.join(bench.lab_command())}) beside the tool's own read of the same data",
        [
            "source",
            "runs",
            "points",
            "lab import",
            "per point",
            "re-import",
            "tool's read",
            "tool pts",
            "all points",
        ],
        [table_row(r, args.runs, args.points) for r in results],
        notes=notes_for(results, args.repeats),
    )


if __name__ == "__main__":
    main()
