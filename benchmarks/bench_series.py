"""What finishing a long run costs: compacting its series files, and reading a metric back.

A run's series is written the way the recorder writes it, with ``encode_block`` and a
``SeriesWriter`` whose closed 16 MB segments a background helper compacts during the run
(no SDK), in two shapes:

- *tight loop*: one metric logged flat out, so each 0.5 s flush holds ~250k points;
- *many small blocks*: 100 metrics logged slowly, 5 points of each per flush (a long run
  logging 10 steps/s), so the file holds one small block per metric per flush.

Each case runs in a fresh process (numpy already imported, as in most training scripts):
it writes the points, then times ``close()`` (what ``finish()`` waits for: the helper's
last segment, then compacting what is left) and its peak RSS above the process's size
before it (VmHWM, reset first), then reads one metric back (first read, and the median of
the next three). Where tensorboardX is importable, its peak RSS for writing the same
points is shown beside the 1M case. labbook's targets: compaction ≤ 64 MB above the
process for any length (≤ 2 s for 10M points), reading 1M points ≤ 100 ms, 10M ≤ 0.5 s.

    python benchmarks/bench_series.py           # ~3 min: 1M and 10M points
    python benchmarks/bench_series.py --huge    # also 100M points: ~10 min more, ~4 GB of disk
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _common as bench

if TYPE_CHECKING:
    from labbook.store.series.write import SeriesWriter

T0 = 1_700_000_000_000
TIGHT_BLOCK = 250_000  # points per flush of a tight loop
KEYS, SMALL_BLOCK = 100, 5  # metrics, and points of each per flush, of a slow many-metric run
TARGET_MB = 64
TARGET_COMPACT_10M_S = 2.0
TARGET_READ_S = {1_000_000: 0.100, 10_000_000: 0.5}
CHILD_TIMEOUT_S = 3600


# -- building the files (in this process) -------------------------------------------


def build_tight(path: Path, n: int) -> tuple[SeriesWriter, str]:
    """One metric, ~250k points per block; a decaying noisy loss, as a real curve compresses."""
    import numpy as np

    from labbook.formats.series import encode_block
    from labbook.store.series.write import SeriesWriter

    rng = np.random.default_rng(0)
    w = SeriesWriter(path, background=True)
    for start in range(0, n, TIGHT_BLOCK):
        steps = np.arange(start, min(n, start + TIGHT_BLOCK))
        loss = 1.0 / (1.0 + steps / 1000.0) + 0.01 * rng.random(len(steps))
        w.append([encode_block("loss", steps, T0 + steps // 4, loss)])
    return w, "loss"


def build_small(path: Path, n: int) -> tuple[SeriesWriter, str]:
    """100 metrics, 5 points of each per flush; one flush is one append, as the recorder does it."""
    import random

    from labbook.formats.series import encode_block
    from labbook.store.series.write import SeriesWriter

    rnd = random.Random(0)
    names = [f"metric/{k:02d}" for k in range(KEYS)]
    w = SeriesWriter(path, background=True)
    for start in range(0, n // KEYS, SMALL_BLOCK):
        steps = list(range(start, start + SMALL_BLOCK))
        times = [T0 + 100 * s for s in steps]  # 10 steps/s: a flush every 0.5 s
        w.append([encode_block(k, steps, times, [rnd.random() for _ in steps]) for k in names])
        if start % 200_000 == 0 and start:
            bench.progress(f"  {start * KEYS:,} of {n:,} points written")
    return w, names[7]


SHAPES = {"tight loop": build_tight, "many small blocks": build_small}


# -- measuring (in a fresh process each) --------------------------------------------


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> float:
    """Start the high-water mark afresh (Linux), so the peak measured is close()'s own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return peak_mb()


def run_child(shape: str, path: str, n: int) -> None:
    """Child side of ``--child``: write, close (compacting), then read one metric back; one JSON line."""
    import time

    import numpy  # noqa: F401  # a training process has it; compaction then merges with it

    from labbook.store.series.read import read_blocks, read_series, series_files

    w, key = SHAPES[shape](Path(path), n)
    base = reset_peak()
    t0 = time.perf_counter()
    result = w.close()
    close_s = time.perf_counter() - t0
    growth = peak_mb() - base
    reads = []
    got = 0
    directory = Path(path).parent
    for _ in range(4):
        t0 = time.perf_counter()
        s = read_series(directory, key)
        reads.append(time.perf_counter() - t0)
        got = 0 if s is None else len(s.values)
    files = series_files(directory)
    out = {
        "compact_s": close_s,
        "growth_mb": growth,
        "status": result.status,
        "before": w.blocks,
        "after": sum(len(b) for b in read_blocks(directory).values()),
        "files": len(files),
        "reads": reads,
        "n": got,
        "bytes": sum(f.stat().st_size for f in files),
    }
    print(json.dumps(out), flush=True)


def measure(shape: str, path: Path, n: int) -> dict[str, Any]:
    return bench.child_json([sys.executable, __file__, "--child", shape, str(path), str(n)], CHILD_TIMEOUT_S)


def case_rows(root: Path, shape: str, n: int) -> list[list[str]]:
    folder = root / f"{shape.replace(' ', '-')}-{n}" / "metrics"
    folder.mkdir(parents=True)
    bench.progress(f"{shape}, {n:,} points: writing, finishing and reading back in a fresh process")
    r = measure(shape, folder / "w.lbm", n)
    first, warm = r["reads"][0], bench.median(r["reads"][1:])
    compact_target = (
        bench.against(r["compact_s"], TARGET_COMPACT_10M_S, bench.fmt_time) if n == 10_000_000 else ""
    )
    read_target = ""
    if r["n"] in TARGET_READ_S:
        limit = TARGET_READ_S[r["n"]]
        read_target = (
            f"{bench.against(first, limit, bench.fmt_time)} first, {'ok' if warm <= limit else 'MISSED'} then"
        )
    return [
        [
            f"{shape}: finish",
            f"{n:,}",
            f"{r['before']:,} → {r['after']:,} in {r['files']} files",
            "",
            bench.fmt_time(r["compact_s"]),
            f"{r['growth_mb']:.1f} MB",
            f"≤ {TARGET_MB} MB {'ok' if r['growth_mb'] <= TARGET_MB else 'MISSED'} {compact_target}".strip(),
        ],
        [
            f"{shape}: read one metric",
            f"{r['n']:,}",
            "",
            bench.fmt_bytes(r["bytes"]),
            f"{bench.fmt_time(first)} first, {bench.fmt_time(warm)} then",
            "",
            read_target,
        ],
    ]


# -- tensorboardX, for scale ------------------------------------------------------

_TBX = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench_series import peak_mb
from tensorboardX import SummaryWriter
base = peak_mb()
t0 = time.perf_counter()
w = SummaryWriter(sys.argv[1])
for i in range(int(sys.argv[2])):
    w.add_scalar("loss", 1.0 / (1.0 + i / 1000.0), i)
w.close()
print(f"{peak_mb() - base} {time.perf_counter() - t0}")
"""


def tensorboardx_row(root: Path, n: int) -> list[str]:
    label = "tensorboardX SummaryWriter.add_scalar: write"
    if bench.try_import("tensorboardX") is None:
        return [label, f"{n:,}", "", "", bench.NOT_INSTALLED, "", ""]
    bench.progress(f"tensorboardX: writing {n:,} points")
    proc = subprocess.run(
        [sys.executable, "-c", _TBX, str(root / "tbx"), str(n), str(Path(__file__).parent)],
        env=bench.child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        return [label, f"{n:,}", "", "", "error", "", ""]
    growth, seconds = map(float, proc.stdout.split()[-2:])
    return [label, f"{n:,}", "", "", bench.fmt_time(seconds), f"{growth:.1f} MB", ""]


_TOUCH = """
import time, numpy as np
t0 = time.perf_counter()
a = np.empty(3 * 10_000_000)
a[:] = 1.0
print(time.perf_counter() - t0)
"""


def first_touch_row() -> list[str]:
    """What a fresh process pays the kernel to first touch as much memory as 10M points read back."""
    proc = subprocess.run(
        [sys.executable, "-c", _TOUCH], env=bench.child_env(), capture_output=True, text=True
    )
    took = bench.fmt_time(float(proc.stdout.split()[-1])) if proc.returncode == 0 else "error"
    return ["numpy: first touch of 240 MB (3 arrays of 10M)", "", "", "", took, "", "for scale"]


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    bench.quiet_environment()
    sizes = [1_000_000, 10_000_000] + ([100_000_000] if "--huge" in sys.argv else [])
    bench.header("bench_series: finishing a long run (compacting its series), and reading it back")
    rows: list[list[str]] = []
    for shape in SHAPES:
        for n in sizes:
            with bench.temp_dir("series") as root:
                rows += case_rows(root, shape, n)
    with bench.temp_dir("series-tbx") as root:
        rows.append(tensorboardx_row(root, sizes[0]))
    rows.append(first_touch_row())
    bench.print_table(
        "Finishing (close: compaction) and read-back of one metric (each case in a fresh process)",
        ["case", "points", "blocks", "file", "time", "peak RSS +", "target"],
        rows,
        notes=[
            f"tight loop: one metric, {TIGHT_BLOCK:,} points per block; blocks that large are kept"
            " as they are, so compaction only checks the file",
            f"many small blocks: {KEYS} metrics × {SMALL_BLOCK} points per block (0.5 s flushes at 10 steps/s);"
            " 'read one metric' reads 1/100 of the points",
            "finish: SeriesWriter.close(), after a background helper compacted the closed 16 MB segments"
            " during the run; it waits for the helper's last one (≤ 1 s), then compacts the rest",
            "peak RSS +: VmHWM during close() above the process's own (numpy already imported)",
            "read: Notebook.series' reader (read_series) on the compacted file, first call then median of 3;"
            " a fresh process's first read of 10M points pays the kernel's first touch of the arrays"
            " (last row: the same memory touched with nothing else done)",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
