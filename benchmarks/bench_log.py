"""How much a training loop pays per logged point, and how much disk each point costs.

labbook's promise is that ``run.log`` is cheap enough to call every step without thinking:
a few microseconds a point, amortised over the whole run *including* ``run.finish()``
(which flushes, compacts and waits for the environment capture), and a few bytes a point
on disk. Peers log the same noisy loss curve, point by point, in the same process.

    python benchmarks/bench_log.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _common as bench

N_SMALL = 100_000
N_LARGE = 1_000_000
N_MLFLOW_PER_STEP = 2_000  # log_metric is one SQL transaction per call; 100k would take minutes
MLFLOW_BATCH = 1_000
DICT_KEYS = 10
REPEATS = 3  # labbook 100k runs; the median is reported

TARGET_S_PER_POINT = 2e-6
TARGET_BYTES_PER_POINT = 16.0


@dataclass
class Result:
    """One measured logging session: ``total_s`` runs from just after init to just after finish."""

    points: int
    init_s: float
    total_s: float
    finish_s: float
    stored_bytes: int | None
    steps: int | None = None

    @property
    def per_point(self) -> float:
        return self.total_s / self.points

    @property
    def bytes_per_point(self) -> float | None:
        return None if self.stored_bytes is None else self.stored_bytes / self.points


# -- labbook ---------------------------------------------------------------------


def labbook_scalar(project: Path, values: list[float]) -> Result:
    """One scalar per step, as a training loop logs its loss."""
    import labbook

    t0 = bench.now()
    with labbook.init(dir=project) as run:  # leaving the block finishes the run
        t1 = bench.now()
        for i, v in enumerate(values):
            run.log({"loss": v}, step=i)
        t2 = bench.now()
    t3 = bench.now()
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, bench.dir_size(run.dir / "metrics"))


def labbook_dict(project: Path, values: list[float], keys: int) -> Result:
    """``keys`` metrics per step in one dict, as a loop logging loss, accuracy, lr, norms..."""
    import labbook

    names = [f"metric_{k}" for k in range(keys)]
    t0 = bench.now()
    run = labbook.init(dir=project)
    t1 = bench.now()
    for i, v in enumerate(values):
        run.log(dict.fromkeys(names, v), step=i)
    t2 = bench.now()
    run.finish()
    t3 = bench.now()
    return Result(
        len(values) * keys, t1 - t0, t3 - t1, t3 - t2, bench.dir_size(run.dir / "metrics"), len(values)
    )


def labbook_rows(root: Path, small: list[float], large: list[float]) -> list[list[str]]:
    """Each case twice: before numpy is imported, then with numpy loaded as in a training script.

    labbook encodes with numpy only when the process already imported it, so the two
    states take different code paths; the first must run before anything imports numpy.
    """
    rows: list[list[str]] = []
    for state in ("no numpy", "numpy loaded"):
        if state == "numpy loaded":
            import numpy  # noqa: F401  (imported for its side effect on labbook's encoder)
        elif "numpy" in sys.modules:
            rows.append([f"labbook ({state})", "", "skipped: numpy was already imported", "", "", "", "", ""])
            continue
        tag = root / state.replace(" ", "-")
        bench.progress(f"labbook ({state}): {N_SMALL:,} points x {REPEATS}, fresh notebook each")
        runs = [labbook_scalar(bench.new_notebook(tag / f"small-{k}"), small) for k in range(REPEATS)]
        mid = sorted(runs, key=lambda r: r.per_point)[len(runs) // 2]
        rows.append(labbook_row(f"labbook scalar, {state}, fresh notebook (median of {REPEATS})", mid))

        bench.progress(f"labbook ({state}): second run in the same notebook (capture cache warm)")
        again = labbook_scalar(tag / "small-0", small)
        rows.append(labbook_row(f"labbook scalar, {state}, 2nd run in same notebook", again))

        bench.progress(f"labbook ({state}): {N_LARGE:,} points")
        big = labbook_scalar(bench.new_notebook(tag / "large"), large)
        rows.append(labbook_row(f"labbook scalar, {state}, fresh notebook", big))

        bench.progress(f"labbook ({state}): {N_SMALL:,} steps of a {DICT_KEYS}-key dict")
        res = labbook_dict(bench.new_notebook(tag / "dict"), small, DICT_KEYS)
        label = f"labbook {DICT_KEYS}-key dict/step, {state} ({bench.fmt_time(res.total_s / N_SMALL)}/step)"
        rows.append(labbook_row(label, res))
    return rows


def labbook_row(label: str, r: Result) -> list[str]:
    return [
        label,
        f"{r.points:,}",
        bench.fmt_time(r.per_point),
        bench.against(r.per_point, TARGET_S_PER_POINT, bench.fmt_time),
        bench.fmt_time(r.init_s),
        bench.fmt_time(r.finish_s),
        f"{r.bytes_per_point:.2f}" if r.bytes_per_point is not None else "—",
        bench.against(r.bytes_per_point, TARGET_BYTES_PER_POINT, lambda b: f"{b:.0f} B"),
    ]


# -- peers -----------------------------------------------------------------------


def mlflow_per_step(tmp: Path, values: list[float]) -> Result:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")  # creates the schema: seconds, not counted
    t0 = bench.now()
    mlflow.start_run()
    t1 = bench.now()
    before = bench.dir_size(tmp)
    for i, v in enumerate(values):
        mlflow.log_metric("loss", v, step=i)
    t2 = bench.now()
    mlflow.end_run()
    t3 = bench.now()
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, bench.dir_size(tmp) - before)


def mlflow_batched(tmp: Path, values: list[float]) -> Result:
    import time

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("bench")
    t0 = bench.now()
    run_id = client.create_run(experiment).info.run_id
    t1 = bench.now()
    before = bench.dir_size(tmp)
    batch: list[Metric] = []
    for i, v in enumerate(values):
        batch.append(Metric("loss", v, int(time.time() * 1000), i))
        if len(batch) == MLFLOW_BATCH:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)
    t2 = bench.now()
    client.set_terminated(run_id)
    t3 = bench.now()
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, bench.dir_size(tmp) - before)


def _event_writer(writer_cls: type, folder: Path, values: list[float]) -> Result:
    """TensorBoard-style writers share one API: add_scalar per point, close at the end."""
    t0 = bench.now()
    writer = writer_cls(str(folder))
    t1 = bench.now()
    for i, v in enumerate(values):
        writer.add_scalar("loss", v, i)
    t2 = bench.now()
    writer.close()
    t3 = bench.now()
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, bench.dir_size(folder))


def tensorboardx(tmp: Path, values: list[float]) -> Result:
    from tensorboardX import SummaryWriter

    return _event_writer(SummaryWriter, tmp / "tbx", values)


def tensorboard_writer(tmp: Path, values: list[float]) -> Result:
    from tensorboard.summary import Writer

    return _event_writer(Writer, tmp / "tb", values)


def wandb_offline(tmp: Path, values: list[float]) -> Result:
    import wandb

    t0 = bench.now()
    run = wandb.init(project="bench", dir=str(tmp), mode="offline")
    t1 = bench.now()
    for i, v in enumerate(values):
        run.log({"loss": v}, step=i)
    t2 = bench.now()
    run.finish()
    t3 = bench.now()
    stored = sum(p.stat().st_size for p in tmp.rglob("*.wandb"))
    try:
        wandb.teardown()  # stop the background service so it does not slow what follows
    except Exception:
        pass
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, stored)


def aim_run(tmp: Path, values: list[float]) -> Result:
    import aim

    t0 = bench.now()
    run = aim.Run(repo=str(tmp))
    t1 = bench.now()
    before = bench.dir_size(tmp / ".aim")
    for i, v in enumerate(values):
        run.track(v, name="loss", step=i)
    t2 = bench.now()
    run.close()
    t3 = bench.now()
    return Result(len(values), t1 - t0, t3 - t1, t3 - t2, bench.dir_size(tmp / ".aim") - before)


PEERS: list[tuple[str, str, Callable[[Path, list[float]], Result], int]] = [
    ("MLflow log_metric per step (sqlite)", "mlflow", mlflow_per_step, N_MLFLOW_PER_STEP),
    (f"MLflow log_batch x{MLFLOW_BATCH} (sqlite)", "mlflow", mlflow_batched, N_SMALL),
    ("tensorboardX SummaryWriter.add_scalar", "tensorboardX", tensorboardx, N_SMALL),
    ("tensorboard.summary.Writer.add_scalar", "tensorboard.summary", tensorboard_writer, N_SMALL),
    ("W&B offline run.log", "wandb", wandb_offline, N_SMALL),
    ("Aim Run.track", "aim", aim_run, N_SMALL),
]


def peer_rows(root: Path, small: list[float]) -> list[list[str]]:
    rows: list[list[str]] = []
    for label, module, fn, n in PEERS:
        if bench.try_import(module) is None:
            rows.append([label, f"{n:,}", bench.NOT_INSTALLED, "", "", "", "", ""])
            continue
        bench.progress(f"{label}: {n:,} points")
        work = root / f"peer-{module}-{fn.__name__}"
        work.mkdir()
        try:
            r = fn(work, small[:n])
        except Exception as err:  # a broken peer install must not stop the comparison
            rows.append([label, f"{n:,}", f"error: {type(err).__name__}: {err}"[:60], "", "", "", "", ""])
            continue
        rows.append(
            [
                label,
                f"{r.points:,}",
                bench.fmt_time(r.per_point),
                f"{r.per_point / TARGET_S_PER_POINT:.0f}x target",
                bench.fmt_time(r.init_s),
                bench.fmt_time(r.finish_s),
                f"{r.bytes_per_point:.2f}" if r.bytes_per_point is not None else "—",
                "",
            ]
        )
    return rows


def main() -> None:
    bench.quiet_environment()
    bench.header("bench_log: cost of run.log per point, including finish; bytes on disk per point")
    small = bench.loss_values(N_SMALL)
    large = bench.loss_values(N_LARGE, seed=1)
    with bench.temp_dir("log") as root:
        rows = labbook_rows(root, small, large)
        rows += peer_rows(root, small)
    bench.print_table(
        "Logging one noisy float64 'loss' per step (time from after init to after finish)",
        ["tool / workload", "points", "per point", "target", "init", "finish", "B/point", "target"],
        rows,
        notes=[
            "labbook: per point includes finish(): flush, compaction, joining the environment capture;"
            " B/point = the run's metrics/ directory over the points logged",
            "labbook 'fresh notebook' runs pay the first package-list capture (a background thread"
            " sharing the GIL with the loop); the 2nd run finds it cached",
            "peers: B/point = what the tool added on disk for the run (MLflow: database growth;"
            " TensorBoard: event files; W&B: the .wandb file; Aim: growth of .aim/)",
            "peers run with their defaults (system-metrics threads included), like labbook",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
