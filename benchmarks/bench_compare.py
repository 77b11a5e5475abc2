"""How fast ``lab compare`` and ``lab plot`` answer: "comparing two runs should take seconds".

Targets: ``lab compare`` of two variants of 5 runs each, with 1M points per metric per
run, ≤ 0.4 s wall (in a notebook that also holds 10,000 other runs); ``lab plot`` of 50
runs × 100k points ≤ 2 s. Runs are built through the store API and the series files
directly (the SDK path is measured by bench_log.py), with realistic noisy curves.
Wall times are of the installed ``lab`` as a subprocess, median of 5 after a warm-up.

    python benchmarks/bench_compare.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import _common as bench
from bench_cli import build_notebook

BACKGROUND_RUNS = 10_000
COMPARE_POINTS = 1_000_000
SEEDS = 5
PLOT_RUNS = 50
PLOT_POINTS = 100_000
TARGET_COMPARE_S = 0.40
TARGET_PLOT_S = 2.0


def add_run(nb, params: dict, n: int, level: float, seed: int, metrics=("loss", "acc")) -> int:
    """A finished run whose metrics each hold ``n`` points, written as one block per metric."""
    import numpy as np

    from labbook.core.summaries import summarize
    from labbook.formats.series import encode_block
    from labbook.store.series.write import SeriesWriter

    rng = np.random.default_rng(seed)
    record = nb.start_run(params=params, source="sdk")
    steps = np.arange(n, dtype=np.int64)
    times_ms = (time.time() * 1000 + steps * 5).astype(np.int64)
    writer = SeriesWriter(nb.run_dir(record) / "metrics" / "bench.lbm")
    blocks, summaries = [], []
    for key in metrics:
        curve = 1.0 / (1.0 + steps / (n / 10)) + rng.normal(0, 0.01, n)
        values = (1 - curve + level) if key == "acc" else curve - level
        blocks.append(encode_block(key, steps, times_ms, values))
        summaries.append(summarize(key, steps, values))
    writer.append(blocks)
    writer.close()
    nb.store.runs.replace_metrics(record.id, summaries)
    nb.end_run(record.id, "finished", 0)
    return record.id


def compare_rows(project: Path) -> list[list[str]]:
    lab = [*bench.lab_command(), "--dir", str(project)]
    cases = [
        ("lab compare lr=1e-3 lr=3e-4 (every metric, last)", ["compare", "lr=1e-3", "lr=3e-4"]),
        ("lab compare ... --metric acc --agg max", ["compare", "lr=1e-3", "lr=3e-4", "--metric", "acc", "--agg", "max"]),
        ("lab compare ... --json", ["compare", "lr=1e-3", "lr=3e-4", "--json"]),
        ("lab compare ... --paired", ["compare", "lr=1e-3", "lr=3e-4", "--paired"]),
        ("lab compare --group-by lr --metric acc --where 'depth == 4'", ["compare", "--group-by", "lr", "--metric", "acc", "--where", "depth == 4"]),
    ]  # fmt: skip
    rows = timed_rows(lab, cases, TARGET_COMPARE_S)
    # what no lab compare can go below on this machine right now: the interpreter and its imports
    floor, _ = bench.wall_times([sys.executable, "-c", "import click, sqlite3, numpy, scipy.special"])
    rows.append(
        [
            "  floor: python -c 'import click, sqlite3, numpy, scipy.special'",
            bench.fmt_time(bench.median(floor)),
            bench.fmt_time(min(floor)),
            "",
        ]
    )
    ls_times, _ = bench.wall_times([*lab, "ls"])
    rows.append(
        [
            "  for scale: lab ls (same notebook)",
            bench.fmt_time(bench.median(ls_times)),
            bench.fmt_time(min(ls_times)),
            "",
        ]
    )
    rows.append(["  in-process compare.compare (after imports)", bench.fmt_time(in_process(project)), "", ""])
    return rows


def in_process(project: Path) -> float:
    from labbook.service.compare.report import compare
    from labbook.service.notebook import Notebook

    with Notebook.open(project) as nb:
        compare(nb, "lr=1e-3", "lr=3e-4")
        times = []
        for _ in range(5):
            t0 = bench.now()
            compare(nb, "lr=1e-3", "lr=3e-4")
            times.append(bench.now() - t0)
    return bench.median(times)


def plot_rows(project: Path, out: Path) -> list[list[str]]:
    lab = [*bench.lab_command(), "--dir", str(project)]
    cases = [
        (f"lab plot loss ({PLOT_RUNS} runs × {PLOT_POINTS:,} points, 10 variants) -o png", ["plot", "loss", "-o", str(out / "p.png")]),
        ("lab plot loss --smooth 50 --log-y -o svg", ["plot", "loss", "--smooth", "50", "--log-y", "-o", str(out / "p.svg")]),
        ("lab plot loss --x time -o png", ["plot", "loss", "--x", "time", "-o", str(out / "t.png")]),
    ]  # fmt: skip
    return timed_rows(lab, cases, TARGET_PLOT_S, repeats=3)


def timed_rows(
    lab: list[str], cases: list[tuple[str, list[str]]], target: float, repeats: int = 5
) -> list[list[str]]:
    """One row per command: median and best wall time against the target."""
    rows = []
    for label, args in cases:
        times, _ = bench.wall_times([*lab, *args], repeats=repeats, check=True)
        median = bench.median(times)
        rows.append(
            [
                label,
                bench.fmt_time(median),
                bench.fmt_time(min(times)),
                bench.against(median, target, bench.fmt_time),
            ]
        )
    return rows


def plot_breakdown(project: Path, out: Path) -> list[list[str]]:
    """In-process: reading and averaging the series, then drawing (matplotlib import apart)."""
    from labbook.service.curves import gather
    from labbook.service.notebook import Notebook
    from labbook.views.plots import _pyplot, variant_plot

    t0 = bench.now()
    _pyplot()
    t_import = bench.now() - t0
    with Notebook.open(project) as nb:
        t0 = bench.now()
        curves, _ = gather(nb, "loss")
        t_gather = bench.now() - t0
    t0 = bench.now()
    variant_plot(curves, "loss", out / "b.png")
    t_draw = bench.now() - t0
    points = sum(c.points for c in curves)
    return [
        [f"read {points:,} points, align, mean and CI per variant", bench.fmt_time(t_gather)],
        ["reduce to min/max per pixel and draw a PNG", bench.fmt_time(t_draw)],
        ["import matplotlib (pyplot, Agg)", bench.fmt_time(t_import)],
    ]


def main() -> None:
    bench.quiet_environment()
    bench.header("lab compare / lab plot")
    with bench.temp_dir("compare") as tmp:
        project = tmp / "compare"
        bench.progress(f"building {BACKGROUND_RUNS:,} background runs")
        build_notebook(project, BACKGROUND_RUNS)
        from labbook.service.notebook import Notebook

        bench.progress(f"adding 2 variants × {SEEDS} seeds with {COMPARE_POINTS:,} points per metric")
        with Notebook.open(project) as nb:
            for variant, (lr, level) in enumerate(((1e-3, 0.02), (3e-4, 0.0))):
                for seed in range(SEEDS):
                    add_run(
                        nb, {"lr": lr, "seed": seed, "depth": 4}, COMPARE_POINTS, level, 100 * variant + seed
                    )
        bench.progress("timing lab compare")
        rows = compare_rows(project)
        bench.print_table(
            f"lab compare: 5 vs 5 runs, {COMPARE_POINTS:,} points per metric per run (2 metrics), "
            f"in a notebook of {BACKGROUND_RUNS + 2 * SEEDS:,} runs",
            ["command", "median", "best", "target"],
            rows,
            ["summaries (last/min/max/mean) come from the database: no series is read"],
        )

        plot_project = tmp / "plot"
        Notebook.init(plot_project)[0].close()
        bench.progress(f"building {PLOT_RUNS} runs × {PLOT_POINTS:,} points")
        with Notebook.open(plot_project) as nb:
            for i in range(PLOT_RUNS):
                add_run(
                    nb,
                    {"lr": 10.0 ** -(1 + i // SEEDS), "seed": i % SEEDS},
                    PLOT_POINTS,
                    0.01 * (i // SEEDS),
                    i,
                    ("loss",),
                )
        out = tmp / "figures"
        out.mkdir()
        bench.progress("timing lab plot")
        bench.print_table(
            f"lab plot: {PLOT_RUNS} runs × {PLOT_POINTS:,} points",
            ["command", "median of 3", "best", "target"],
            plot_rows(plot_project, out),
        )
        bench.print_table(
            "lab plot, in-process breakdown", ["step", "time"], plot_breakdown(plot_project, out)
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
