"""Failure analysis at the scale of a real eval set: 1M examples per run.

Times, as a user waits for them (subprocess of the installed ``lab``, wall clock):
importing 1M JSONL rows into a run (≤ 20 s), drawing a sample of 100 failures from
them (≤ 1 s), ``lab failures piles`` and ``lab failures diff`` of two 1M-example runs
(≤ 0.5 s), and ``lab ls`` / ``lab show`` with and without those examples in the notebook
(they must not slow down). Also: a sample with a ``--where`` on a JSON field, ``tail``,
re-importing the same file (idempotent), and bytes on disk per example.

    python benchmarks/bench_failures.py            # ~2 min
    python benchmarks/bench_failures.py 200000     # a smaller run
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import _common as bench

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
TARGET_IMPORT_S = 20.0
TARGET_SAMPLE_S = 1.0
TARGET_PILES_S = 0.5
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "bird",
    "sat",
    "on",
    "mat",
    "under",
    "tree",
    "quickly",
    "slowly",
    "red",
    "blue",
    "green",
    "answer",
    "question",
]


def write_examples(path: Path, n: int, seed: int, acc: float) -> None:
    """``n`` JSONL rows like an LLM eval's: an input sentence, output, target, correct, loss, score."""
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            target = rng.choice(("yes", "no", "maybe"))
            output = target if rng.random() < acc else rng.choice(("yes", "no", "maybe", ""))
            row = {
                "id": f"ex-{i:07d}",
                "input": " ".join(rng.choice(WORDS) for _ in range(12)),
                "output": output,
                "target": target,
                "correct": output == target,
                "loss": round(rng.expovariate(1.0), 4),
                "score": round(rng.random(), 4),
            }
            fh.write(json.dumps(row) + "\n")


def make_runs(project: Path, n: int) -> None:
    """A notebook of ``n`` finished runs through the store API (so `lab ls` has something to list)."""
    from labbook.service.notebook import Notebook

    nb, _, _ = Notebook.init(project)
    with nb:
        for i in range(n):
            record = nb.start_run(name=f"run-{i}", tags=("bench",), source="sdk")
            nb.store.runs.set_params(record.id, {"lr": 10 ** -(i % 5), "seed": i})
            nb.end_run(record.id, "finished", 0)


def wall(argv: list[str], repeats: int = 1) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    """Each step here changes the notebook, so there is no warm-up run, and a failure ends the benchmark."""
    return bench.wall_times(argv, repeats, warm_up=False, check=True)


def main() -> None:
    bench.quiet_environment()
    bench.header(f"bench_failures: per-example results at {N:,} examples per run")
    with bench.temp_dir("failures") as root:
        project = root / "project"
        lab = [*bench.lab_command(), "--dir", str(project)]
        make_runs(project, 100)
        rows: list[list[str]] = []
        before = {}
        for label, args in (("lab ls", ["ls"]), ("lab show 1", ["show", "1"])):
            wall([*lab, *args])  # warm-up
            before[label] = bench.median(wall([*lab, *args], repeats=5)[0])

        bench.progress(f"writing two files of {N:,} JSONL rows")
        file_a, file_b = root / "a.jsonl", root / "b.jsonl"
        write_examples(file_a, N, seed=1, acc=0.80)
        write_examples(file_b, N, seed=2, acc=0.85)
        size_mb = file_a.stat().st_size / 1e6
        db = project / ".labbook" / "labbook.db"
        db_before = bench.dir_size(db) + bench.dir_size(db.with_name("labbook.db-wal"))

        bench.progress("lab failures import 1 a.jsonl")
        t, proc = wall([*lab, "failures", "import", "1", str(file_a)])
        rows.append(
            [
                f"lab failures import: {N:,} rows ({size_mb:.0f} MB JSONL)",
                bench.fmt_time(t[0]),
                bench.against(t[0], TARGET_IMPORT_S, bench.fmt_time),
                proc.stdout.splitlines()[0][:70],
            ]
        )
        bench.progress("lab failures import 2 b.jsonl")
        t, _ = wall([*lab, "failures", "import", "2", str(file_b)])
        rows.append(
            [
                "lab failures import: the second run",
                bench.fmt_time(t[0]),
                bench.against(t[0], TARGET_IMPORT_S, bench.fmt_time),
                "",
            ]
        )
        bench.progress("re-import (idempotent)")
        t, proc = wall([*lab, "failures", "import", "1", str(file_a)])
        rows.append(
            [
                "lab failures import: the same file again",
                bench.fmt_time(t[0]),
                "",
                proc.stdout.split(";")[0][-40:],
            ]
        )
        db_after = bench.dir_size(db) + bench.dir_size(db.with_name("labbook.db-wal"))

        bench.progress("samples")
        t, proc = wall([*lab, "failures", "sample", "1", "-n", "100", "--name", "s1"])
        rows.append(
            [
                "lab failures sample 1 -n 100 (failures: correct == false)",
                bench.fmt_time(t[0]),
                bench.against(t[0], TARGET_SAMPLE_S, bench.fmt_time),
                proc.stdout.splitlines()[0][:70],
            ]
        )
        t, proc = wall(
            [
                *lab,
                "failures",
                "sample",
                "1",
                "-n",
                "100",
                "--where",
                "loss > 3 and output == ''",
                "--name",
                "s2",
            ]
        )
        rows.append(
            [
                "  ... --where \"loss > 3 and output == ''\" (JSON fields)",
                bench.fmt_time(t[0]),
                bench.against(t[0], TARGET_SAMPLE_S, bench.fmt_time),
                proc.stdout.splitlines()[0][:70],
            ]
        )
        t, proc = wall([*lab, "failures", "sample", "1", "-n", "100", "--stratify", "target", "--name", "s3"])
        rows.append(["  ... --stratify target", bench.fmt_time(t[0]), "", ""])

        wall([*lab, "failures", "rule", "s1", "empty", "--where", "output == ''"])
        wall([*lab, "failures", "rule", "s1", "wrong-word", "--where", "output != ''"])
        for label, args in (
            ("lab failures piles s1", ["failures", "piles", "s1"]),
            ("lab failures diff 1 2 (1M × 1M, piles followed)", ["failures", "diff", "1", "2"]),
        ):
            bench.progress(label)
            times, _ = wall([*lab, *args], repeats=5)
            rows.append(
                [
                    label,
                    bench.fmt_time(bench.median(times)),
                    bench.against(bench.median(times), TARGET_PILES_S, bench.fmt_time),
                    f"first {bench.fmt_time(times[0])}",
                ]
            )
        bench.progress("tail")
        times, _ = wall([*lab, "failures", "tail", "1", "--by", "loss"], repeats=3)
        rows.append(
            ["lab failures tail 1 --by loss (no target)", bench.fmt_time(bench.median(times)), "", ""]
        )
        times, _ = wall([*lab, "failures", "tail", "1", "--by", "len(input)"], repeats=1)
        rows.append(["lab failures tail 1 --by 'len(input)' (no target)", bench.fmt_time(times[0]), "", ""])

        for label, args in (("lab ls", ["ls"]), ("lab show 1", ["show", "1"])):
            wall([*lab, *args])
            after = bench.median(wall([*lab, *args], repeats=5)[0])
            rows.append(
                [
                    f"{label}: with {2 * N:,} examples / without",
                    bench.fmt_time(after),
                    "",
                    f"without: {bench.fmt_time(before[label])}",
                ]
            )
    per = (db_after - db_before) / (2 * N)
    bench.print_table(
        "Failure analysis (subprocess wall time; medians of 5 where repeated)",
        ["what", "time", "target", "notes"],
        rows,
        notes=[
            f"the database grew by {bench.fmt_bytes(db_after - db_before)} for {2 * N:,} examples ({per:.0f} bytes each, "
            f"JSON {size_mb * 1e6 / N:.0f} bytes a row)",
            "100 runs in the notebook; examples of runs 1 and 2; JSONL rows have 7 fields",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
