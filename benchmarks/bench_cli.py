"""How long a person waits for the ``lab`` command, beside the peers' own commands.

``lab --help`` should feel instant (≤ 0.15 s), and ``lab ls`` / ``lab show`` over a
notebook of 10,000 runs should too (≤ 0.3 s), and stay so with 1,000 of them in the trash: a CLI that lags gets replaced by a
dashboard. Each command runs as a subprocess of the installed entry point, wall time
from spawn to exit, median of several runs after one untimed warm-up.

    python benchmarks/bench_cli.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import _common as bench

N_RUNS = 10_000
N_TRASHED = 1_000
REPEATS = 5
TARGET_HELP_S = 0.15
TARGET_QUERY_S = 0.30
PEER_COMMANDS = ("tensorboard", "wandb", "aim", "mlflow")


def build_notebook(project: Path, n: int) -> float:
    """``n`` finished runs, each with 3 params, 3 metric summaries and a tag, via the store API."""
    from labbook.records.runs import BatchSummary
    from labbook.service.notebook import Notebook

    rng = random.Random(0)
    t0 = bench.now()
    nb, _, _ = Notebook.init(project)
    with nb:
        for i in range(n):
            tag = rng.choice(("baseline", "sweep-a", "sweep-b"))
            record = nb.start_run(name=f"{tag}-{i}", tags=(tag,), source="sdk")
            nb.store.runs.set_params(
                record.id,
                {
                    "lr": 10 ** rng.uniform(-5, -1),
                    "batch_size": rng.choice((32, 64, 128)),
                    "optimizer": rng.choice(("adam", "sgd")),
                },
            )
            acc = [rng.random() for _ in range(3)]
            loss = [rng.uniform(0.1, 3.0) for _ in range(3)]
            nb.store.runs.merge_metrics(
                record.id,
                [
                    BatchSummary("acc", 100, 0, acc[0], 99, min(acc), max(acc), sum(acc) * 33),
                    BatchSummary("loss", 100, 0, loss[0], 99, min(loss), max(loss), sum(loss) * 33),
                    BatchSummary("val_loss", 10, 0, loss[1], 99, min(loss), max(loss), sum(loss) * 3),
                ],
            )
            nb.end_run(record.id, "finished", 0)
            if (i + 1) % 2000 == 0:
                bench.progress(f"built {i + 1:,} runs in {bench.now() - t0:.1f} s")
    return bench.now() - t0


def help_rows() -> list[list[str]]:
    rows: list[list[str]] = []
    times, _ = bench.wall_times([sys.executable, "-c", "pass"])
    rows.append(
        ["python -c pass (interpreter start, for reference)", bench.fmt_time(bench.median(times)), "", ""]
    )
    times, proc = bench.wall_times([*bench.lab_command(), "--help"])
    ok = proc.returncode == 0
    rows.append(
        [
            "lab --help",
            bench.fmt_time(bench.median(times)),
            bench.against(bench.median(times), TARGET_HELP_S, bench.fmt_time),
            "" if ok else f"exit {proc.returncode}",
        ]
    )
    for name in PEER_COMMANDS:
        exe = bench.venv_bin(name)
        if exe is None:
            rows.append([f"{name} --help", bench.NOT_INSTALLED, "", ""])
            continue
        bench.progress(f"{name} --help")
        times, proc = bench.wall_times([str(exe), "--help"])
        rows.append(
            [
                f"{name} --help",
                bench.fmt_time(bench.median(times)),
                "",
                "" if proc.returncode == 0 else f"exit {proc.returncode}",
            ]
        )
    return rows


def trash(project: Path, n: int) -> None:
    """Move ``n`` runs spread over the notebook to the trash, as ``lab rm`` does, in one batch."""
    from labbook.service.notebook import Notebook

    ids = random.Random(1).sample(range(1, N_RUNS + 1), n)
    with Notebook.open(project) as nb:
        now = time.time()
        nb.store.runs.set_trashed(ids, now, now)


def query_rows(project: Path, suffix: str = "") -> list[list[str]]:
    lab = [*bench.lab_command(), "--dir", str(project)]
    cases: list[tuple[str, list[str], float | None]] = [  # (label, arguments, target; None: run once)
        ("lab ls", ["ls"], TARGET_QUERY_S),
        (f"lab show {N_RUNS // 2}", ["show", str(N_RUNS // 2)], TARGET_QUERY_S),
        (
            'lab ls --where "acc.max > 0.5" --sort -acc.max',
            ["ls", "--where", "acc.max > 0.5", "--sort", "-acc.max"],
            TARGET_QUERY_S,
        ),
        (
            "lab ls --where \"'sweep-a' in tags and lr < 1e-3\"",
            ["ls", "--where", "'sweep-a' in tags and lr < 1e-3"],
            TARGET_QUERY_S,
        ),
        ("lab ls --json (50 runs)", ["ls", "--json"], TARGET_QUERY_S),
        (f"lab ls --limit 0 (all {N_RUNS:,} runs; once, no target)", ["ls", "--limit", "0"], None),
    ]
    if suffix:  # the listings again, with runs in the trash: what the trash costs every reader
        cases = [c for c in cases if c[1][0] == "ls" and c[2] is not None]
    rows: list[list[str]] = []
    for label, args, target in cases:
        label += suffix
        bench.progress(label)
        times, proc = (
            bench.wall_times([*lab, *args])
            if target
            else bench.wall_times([*lab, *args], repeats=1, warm_up=False)
        )
        lines = proc.stdout.count("\n")
        extra = (
            f"{lines} lines out"
            if proc.returncode == 0
            else f"exit {proc.returncode}: {proc.stderr.strip()[:60]}"
        )
        rows.append(
            [
                label,
                bench.fmt_time(bench.median(times)),
                bench.against(bench.median(times), target, bench.fmt_time) if target else "",
                extra,
            ]
        )
    return rows


def main() -> None:
    bench.quiet_environment()
    bench.header("bench_cli: wall time of CLI commands (subprocess, median of 5 after a warm-up)")
    with bench.temp_dir("cli") as root:
        rows = help_rows()
        bench.progress(f"building a notebook of {N_RUNS:,} runs through the store API")
        build_s = build_notebook(root, N_RUNS)
        rows += query_rows(root)
        trash(root, N_TRASHED)
        rows += query_rows(root, f" ({N_TRASHED:,} in the trash)")
    bench.print_table(
        f"Command wall time ({' '.join(bench.lab_command())}; peers from {Path(sys.prefix)}/bin or the peer venv)",
        ["command", "median", "target", "notes"],
        rows,
        notes=[
            f"the {N_RUNS:,}-run notebook took {build_s:.1f} s to build"
            f" ({build_s / N_RUNS * 1e3:.2f} ms a run: start_run, set_params, merge_metrics, end_run)",
            "each run: 3 params (lr, batch_size, optimizer), 3 metric summaries (acc, loss, val_loss), 1 tag",
            "output goes to a pipe (no terminal), COLUMNS=120",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
