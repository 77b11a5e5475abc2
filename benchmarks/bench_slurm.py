"""What running on Slurm costs: starting the test cluster, and a sweep's time beyond its jobs' own.

Starts the same real single-node Slurm the tests use (Debian's slurm-wlm, munge,
slurmdbd on MariaDB; root needed), then times ``lab run --launcher slurm`` sweeps of
N runs of a trivial script from the command to the summary table, and plain
``srun true`` for comparison. Also times ``lab ls`` while N runs
are pending in the queue (each read asks sacct whether they left it).

    python benchmarks/bench_slurm.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import _common as bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from slurm_cluster import SlurmCluster

SCRIPT = "import json\nprint(json.dumps({'loss': 0.5}))\n"


def main() -> None:
    bench.header("lab run --launcher slurm")
    with bench.temp_dir("slurm-cluster") as root, bench.temp_dir("slurm-project") as project:
        cluster = SlurmCluster(root)
        start = bench.now()
        try:
            cluster.start()
            up = bench.now() - start
            env = bench.child_env(**cluster.env)
            bench.new_notebook(project)
            (project / "config.yaml").write_text("seed: 0\n")
            (project / "train.py").write_text(SCRIPT)
            rows = [["cluster start (munge, MariaDB, slurmdbd, slurmctld, slurmd)", bench.fmt_time(up), ""]]
            t0 = bench.now()
            subprocess.run(["srun", "true"], env=env, cwd=project, capture_output=True)
            rows.append(["srun true (Slurm alone, one job)", bench.fmt_time(bench.now() - t0), ""])
            for n in (1, 4, 16):
                bench.progress(f"sweep of {n}")
                seeds = ",".join(str(i) for i in range(n)) if n > 1 else "0"
                t0 = bench.now()
                proc = subprocess.run(
                    [*bench.lab_command(), "run", "-q", "-c", "config.yaml", f"seed={seeds}", "--launcher", "slurm",
                     "--", sys.executable, "train.py"],
                    env=env, cwd=project, capture_output=True, text=True,
                )  # fmt: skip
                wall = bench.now() - t0
                ok = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
                rows.append(
                    [
                        f"sweep of {n} runs, command to summary",
                        bench.fmt_time(wall),
                        f"{bench.fmt_time(wall / n)}/run, {ok}",
                    ]
                )
            bench.progress("lab ls with pending runs")
            subprocess.run(
                [*bench.lab_command(), "run", "-q", "-c", "config.yaml", "seed=0,1,2,3,4,5,6,7", "--launcher", "slurm",
                 "--detach", "--slurm-opt", "hold", "--", sys.executable, "train.py"],
                env=env, cwd=project, capture_output=True,
            )  # fmt: skip
            times = []
            for _ in range(5):
                t0 = bench.now()
                subprocess.run([*bench.lab_command(), "ls"], env=env, cwd=project, capture_output=True)
                times.append(bench.now() - t0)
            rows.append(
                [
                    "lab ls with 8 runs pending in the queue",
                    bench.fmt_time(bench.median(times)),
                    "asks sacct once",
                ]
            )
            subprocess.run(["scancel", "-u", "root"], env=env)
        finally:
            cluster.stop()
    bench.print_table("Slurm", ["what", "wall", "note"], rows)


if __name__ == "__main__":
    main()
