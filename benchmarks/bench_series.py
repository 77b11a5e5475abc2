"""What finishing a long run costs: compacting its series file, and reading a metric back.

A series file is built the way the recorder writes it, with ``encode_block`` and
``SeriesWriter`` directly (no SDK), in two shapes:

- *tight loop*: one metric logged flat out, so each 0.5 s flush holds ~250k points;
- *many small blocks*: 100 metrics logged slowly, 5 points of each per flush (a long run
  logging 10 steps/s), so the file holds one small block per metric per flush.

Each file is then compacted in a fresh process (numpy already imported, as in most training
scripts), timing ``compact_file`` and its peak RSS above the process's size before it
(VmHWM), then one metric is read back from the compacted file (first read, and the median
of the next three). Where tensorboardX is importable, its peak RSS for writing the same
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
from typing import Any

from _common import (
    NOT_INSTALLED,
    against,
    child_env,
    fmt_bytes,
    fmt_time,
    header,
    median,
    print_table,
    progress,
    quiet_environment,
    temp_dir,
    try_import,
)

T0 = 1_700_000_000_000
TIGHT_BLOCK = 250_000  # points per flush of a tight loop
KEYS, SMALL_BLOCK = 100, 5  # metrics, and points of each per flush, of a slow many-metric run
TARGET_MB = 64
TARGET_COMPACT_10M_S = 2.0
TARGET_READ_S = {1_000_000: 0.100, 10_000_000: 0.5}
CHILD_TIMEOUT_S = 3600


# -- building the files (in this process) -------------------------------------------


def build_tight(path: Path, n: int) -> str:
    """One metric, ~250k points per block; a decaying noisy loss, as a real curve compresses."""
    import numpy as np

    from labbook.series import SeriesWriter, encode_block

    rng = np.random.default_rng(0)
    w = SeriesWriter(path)
    for start in range(0, n, TIGHT_BLOCK):
        steps = np.arange(start, min(n, start + TIGHT_BLOCK))
        loss = 1.0 / (1.0 + steps / 1000.0) + 0.01 * rng.random(len(steps))
        w.append([encode_block("loss", steps, T0 + steps // 4, loss)])
    w.close(compact=False)
    return "loss"


def build_small(path: Path, n: int) -> str:
    """100 metrics, 5 points of each per flush; one flush is one append, as the recorder does it."""
    import random

    from labbook.series import SeriesWriter, encode_block

    rnd = random.Random(0)
    names = [f"metric/{k:02d}" for k in range(KEYS)]
    w = SeriesWriter(path)
    for start in range(0, n // KEYS, SMALL_BLOCK):
        steps = list(range(start, start + SMALL_BLOCK))
        times = [T0 + 100 * s for s in steps]  # 10 steps/s: a flush every 0.5 s
        w.append([encode_block(k, steps, times, [rnd.random() for _ in steps]) for k in names])
        if start % 200_000 == 0 and start:
            progress(f"  {start * KEYS:,} of {n:,} points written")
    w.close(compact=False)
    return names[7]


SHAPES = {"tight loop": build_tight, "many small blocks": build_small}


# -- measuring (in a fresh process each) --------------------------------------------


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(path: str, key: str) -> None:
    """Child side of ``--child``: compact, then read one metric back; one JSON line."""
    import time

    import numpy  # noqa: F401  # a training process has it; compaction then merges with it

    from labbook.series import compact_file, read_series

    base = peak_mb()
    t0 = time.perf_counter()
    result = compact_file(Path(path))
    compact_s = time.perf_counter() - t0
    growth = peak_mb() - base
    reads = []
    n = 0
    for _ in range(4):
        t0 = time.perf_counter()
        s = read_series(Path(path).parent, key)
        reads.append(time.perf_counter() - t0)
        n = 0 if s is None else len(s.values)
    out = {
        "compact_s": compact_s,
        "growth_mb": growth,
        "status": result.status,
        "before": result.blocks_before,
        "after": result.blocks_after,
        "reads": reads,
        "n": n,
        "bytes": Path(path).stat().st_size,
    }
    print(json.dumps(out), flush=True)


def measure(path: Path, key: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path), key],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["no output"])[-1])
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def case_rows(root: Path, shape: str, n: int) -> list[list[str]]:
    folder = root / f"{shape.replace(' ', '-')}-{n}" / "metrics"
    folder.mkdir(parents=True)
    path = folder / "w.lbm"
    progress(f"{shape}, {n:,} points: writing")
    key = SHAPES[shape](path, n)
    size = path.stat().st_size
    progress(f"{shape}, {n:,} points: compacting and reading back in a fresh process")
    r = measure(path, key)
    first, warm = r["reads"][0], median(r["reads"][1:])
    compact_target = against(r["compact_s"], TARGET_COMPACT_10M_S, fmt_time) if n == 10_000_000 else ""
    read_target = against(warm, TARGET_READ_S[r["n"]], fmt_time) if r["n"] in TARGET_READ_S else ""
    return [
        [
            f"{shape}: compact",
            f"{n:,}",
            f"{r['before']:,} → {r['after']:,} ({r['status']})",
            fmt_bytes(size),
            fmt_time(r["compact_s"]),
            f"{r['growth_mb']:.1f} MB",
            f"≤ {TARGET_MB} MB {'ok' if r['growth_mb'] <= TARGET_MB else 'MISSED'} {compact_target}".strip(),
        ],
        [
            f"{shape}: read one metric",
            f"{r['n']:,}",
            "",
            fmt_bytes(r["bytes"]),
            f"{fmt_time(first)} first, {fmt_time(warm)} then",
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
    if try_import("tensorboardX") is None:
        return [label, f"{n:,}", "", "", NOT_INSTALLED, "", ""]
    progress(f"tensorboardX: writing {n:,} points")
    proc = subprocess.run(
        [sys.executable, "-c", _TBX, str(root / "tbx"), str(n), str(Path(__file__).parent)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        return [label, f"{n:,}", "", "", "error", "", ""]
    growth, seconds = map(float, proc.stdout.split()[-2:])
    return [label, f"{n:,}", "", "", fmt_time(seconds), f"{growth:.1f} MB", ""]


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3])
        return
    quiet_environment()
    sizes = [1_000_000, 10_000_000] + ([100_000_000] if "--huge" in sys.argv else [])
    header("bench_series: compacting a finished run's series file, and reading it back")
    rows: list[list[str]] = []
    for shape in SHAPES:
        for n in sizes:
            with temp_dir("series") as root:
                rows += case_rows(root, shape, n)
    with temp_dir("series-tbx") as root:
        rows.append(tensorboardx_row(root, sizes[0]))
    print_table(
        "Compaction at finish() and read-back of one metric (each case in a fresh process)",
        ["case", "points", "blocks", "file", "time", "peak RSS +", "target"],
        rows,
        notes=[
            f"tight loop: one metric, {TIGHT_BLOCK:,} points per block; blocks that large are kept"
            " as they are, so compaction only checks the file",
            f"many small blocks: {KEYS} metrics × {SMALL_BLOCK} points per block (0.5 s flushes at 10 steps/s);"
            " 'read one metric' reads 1/100 of the points",
            "peak RSS +: VmHWM during compact_file above the process's own (numpy already imported)",
            "read: Notebook.series' reader (read_series) on the compacted file, first call then median of 3",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
