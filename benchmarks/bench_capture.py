"""bench_capture: what reading unchanged code's metrics costs the code itself.

A script writes 100k TensorBoard scalars with tensorboardX (``lab run`` follows its event
file), and a script prints 100k ``step | loss`` lines (``lab run --parse`` turns them into
metrics). Each runs alone and under ``lab run``; the script times its own loop, so the
figure is what the command pays, apart from ``lab run``'s start and finish (shown too).
Every point must arrive: the table says whether it did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import _common as bench

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REPEATS = 3

TB_SCRIPT = """
import sys, time
from tensorboardX import SummaryWriter
w = SummaryWriter(sys.argv[1])
t0 = time.perf_counter()
for i in range(int(sys.argv[2])):
    w.add_scalar("train/loss", 1.0 / (i + 1), i)
w.close()
print(f"LOOP {time.perf_counter() - t0}", file=sys.stderr)
"""

PRINT_SCRIPT = """
import sys, time
t0 = time.perf_counter()
for i in range(int(sys.argv[1])):
    print(f"step {i} | loss {1.0 / (i + 1):.6f}")
sys.stdout.flush()
print(f"LOOP {time.perf_counter() - t0}", file=sys.stderr)
"""
PATTERN = r"step (?P<step>\d+) \| loss (?P<loss>[0-9.]+)"


def loop_time(stderr: str) -> float:
    return float(next(line for line in stderr.splitlines() if line.startswith("LOOP ")).split()[1])


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(the script's own loop time, wall time of the whole command)."""
    t0 = bench.now()
    proc = subprocess.run(argv, cwd=cwd, env=bench.child_env(), capture_output=True, text=True, timeout=1800)
    wall = bench.now() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr[-500:]}")
    return loop_time(proc.stderr), wall


def points(project: Path, key: str) -> list[int]:
    out = subprocess.run(
        [*bench.lab_command(), "--dir", str(project), "ls", "--json"],
        env=bench.child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [r["metrics"].get(key, {}).get("count", 0) for r in json.loads(out.stdout)]


def case(
    project: Path, label: str, plain: list[str], under: list[str], key: str, how: str
) -> list[list[str]]:
    alone = [timed(plain, project) for _ in range(REPEATS)]
    lab = [timed(under, project) for _ in range(REPEATS)]
    a_loop, l_loop = bench.median([t for t, _ in alone]), bench.median([t for t, _ in lab])
    counts = points(project, key)
    complete = "yes" if counts == [N] * REPEATS else f"NO: {counts}"
    return [
        [
            f"{label}, alone",
            bench.fmt_time(a_loop),
            bench.fmt_time(bench.median([w for _, w in alone])),
            "",
            "",
        ],
        [
            f"{label}, under {how}",
            bench.fmt_time(l_loop),
            bench.fmt_time(bench.median([w for _, w in lab])),
            f"{(l_loop / a_loop - 1) * 100:+.1f}%",
            complete,
        ],
    ]


def main() -> None:
    bench.quiet_environment()
    bench.header(f"bench_capture: {N:,} TensorBoard scalars and {N:,} printed lines, alone and under lab run")
    rows: list[list[str]] = []
    with bench.temp_dir("capture") as root:
        project = bench.new_notebook(root / "tb")
        (project / "tb.py").write_text(textwrap.dedent(TB_SCRIPT))
        lab = [*bench.lab_command(), "--dir", str(project), "run", "-q"]
        bench.progress("tensorboardX scalars")
        rows += case(
            project,
            "tensorboardX add_scalar",
            [sys.executable, "tb.py", "alone", str(N)],
            [*lab, "--", sys.executable, "tb.py", "logs", str(N)],
            "train/loss",
            "lab run",
        )
        project = bench.new_notebook(root / "print")
        (project / "print.py").write_text(textwrap.dedent(PRINT_SCRIPT))
        lab = [
            *bench.lab_command(),
            "--dir",
            str(project),
            "run",
            "-q",
            "--no-tensorboard",
            "--parse",
            PATTERN,
        ]
        bench.progress("printed lines")
        rows += case(
            project,
            "print('step i | loss x')",
            [sys.executable, "print.py", str(N)],
            [*lab, "--", sys.executable, "print.py", str(N)],
            "loss",
            "lab run --parse",
        )
    bench.print_table(
        f"The script's own loop (median of {REPEATS}) and the whole command's wall time",
        ["case", "loop", "wall", "loop change", "all points"],
        rows,
        notes=[
            "loop: timed inside the script, so lab run's start and finish are left out; wall includes them",
            "alone: output to a pipe, as under lab run; lab run copies it to the terminal and its log as well",
            "all points: every run of the notebook holds all of them, read back from lab ls --json",
        ],
    )


if __name__ == "__main__":
    main()
