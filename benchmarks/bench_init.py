"""What starting and finishing a small run costs a script run outside ``lab run``.

``labbook.init()`` records the run and captures the code state (git status and diff,
package list, machine) in a background thread; ``finish()`` waits for that capture. A
quick script, a test or a sweep of tiny runs pays init+finish every time, so the target
is ≤ 50 ms. Each case runs in a fresh interpreter executing a script committed to a small
git repository (as a training script would be), logging 10 points per run.

    python benchmarks/bench_init.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import _common as bench

LABBOOK_RUNS = 20
PEER_RUNS = 10
TIMEOUT_S = 300
TARGET_S = 0.050

# The script each case runs: "setup" is import plus one-off preparation (MLflow's schema),
# then 1 + N runs of init, 10 points, finish. The first is the cold one.
CHILD = """
import json, os, sys, time
tool, store, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if tool == "labbook":
    import labbook

    def once():
        run = labbook.init(dir=store)
        for i in range(10):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
        run.finish()
elif tool == "wandb":
    import wandb

    def once():
        run = wandb.init(project="bench", dir=store, mode="offline")
        for i in range(10):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
        run.finish()
elif tool == "mlflow":
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    mlflow.set_experiment("bench")

    def once():
        mlflow.start_run()
        for i in range(10):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        mlflow.end_run()
elif tool == "aim":
    import aim

    def once():
        run = aim.Run(repo=store)
        for i in range(10):
            run.track(1.0 / (i + 1), name="loss", step=i)
        run.close()
setup = time.perf_counter() - t0
times = []
for _ in range(1 + n):
    t = time.perf_counter()
    once()
    times.append(time.perf_counter() - t)
if tool == "wandb":
    wandb.teardown()
print(json.dumps({"setup": setup, "times": times}), flush=True)
os._exit(0)  # all runs are finished; skip exit handlers (Aim's may hang)
"""


def run_child(script: Path, tool: str, store: Path, n: int) -> dict[str, object]:
    result, stderr = bench.child_output(
        [sys.executable, script.name, tool, str(store), str(n)], TIMEOUT_S, script.parent
    )
    if stderr:
        result["stderr"] = stderr
    return result


def project(root: Path, git: bool) -> Path:
    """A project holding the child script and a notebook; committed when ``git``."""
    path = bench.make_git_repo(root) if git else root
    path.mkdir(parents=True, exist_ok=True)
    (path / "train_bench.py").write_text(CHILD)
    bench.new_notebook(path)
    if git:
        bench.commit_all(path, "add the benchmark script")  # clean tree: only .labbook/ is ignored
    return path


def labbook_rows(root: Path) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    notes: list[str] = []
    for git in (False, True):
        where = "in a git repo" if git else "outside git"
        proj = project(root / f"labbook-{'git' if git else 'nogit'}", git)
        for attempt, what in ((1, "new notebook"), (2, "notebook reused")):
            bench.progress(f"labbook {where}, process {attempt} ({what}): 1 + {LABBOOK_RUNS} runs")
            res = run_child(proj / "train_bench.py", "labbook", proj, LABBOOK_RUNS)
            times = [float(t) for t in res["times"]]  # type: ignore[union-attr]
            rows.append(
                [
                    f"labbook, {where}, new process, {what}",
                    bench.fmt_time(float(res["setup"])),  # type: ignore[arg-type]
                    bench.fmt_time(times[0]),
                    bench.against(times[0], TARGET_S, bench.fmt_time),
                    bench.fmt_time(bench.median(times[1:])),
                    bench.against(bench.median(times[1:]), TARGET_S, bench.fmt_time),
                    bench.fmt_time(max(times[1:])),
                ]
            )
            if "stderr" in res:
                notes.append(f"labbook {where} printed on stderr: {str(res['stderr'])[:200]}")
    return rows, notes


PEERS = [
    ("W&B offline init/log/finish", "wandb"),
    ("MLflow start_run/log_metric/end_run (sqlite)", "mlflow"),
    ("Aim Run()/track/close", "aim"),
]


def peer_rows(root: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    for label, module in PEERS:
        if bench.try_import(module) is None:
            rows.append([label, "", bench.NOT_INSTALLED, "", "", "", ""])
            continue
        bench.progress(f"{label}: 1 + {PEER_RUNS} runs")
        proj = project(root / f"peer-{module}", git=True)
        store = proj / f".{module}-store"  # inside the repo but ignored, like .labbook/
        store.mkdir()
        (proj / ".git" / "info" / "exclude").write_text(f".{module}-store/\nwandb/\nmlruns/\n")
        try:
            res = run_child(proj / "train_bench.py", module, store, PEER_RUNS)
        except Exception as err:
            rows.append([label, "", f"error: {err}"[:60], "", "", "", ""])
            continue
        times = [float(t) for t in res["times"]]  # type: ignore[union-attr]
        rows.append(
            [
                f"{label}, in a git repo",
                bench.fmt_time(float(res["setup"])),  # type: ignore[arg-type]
                bench.fmt_time(times[0]),
                "",
                bench.fmt_time(bench.median(times[1:])),
                "",
                bench.fmt_time(max(times[1:])),
            ]
        )
    return rows


def main() -> None:
    bench.quiet_environment()
    bench.header("bench_init: init() + 10 points + finish() of a small run, outside lab run")
    with bench.temp_dir("init") as root:
        rows, notes = labbook_rows(root)
        rows += peer_rows(root)
    bench.print_table(
        "Starting and finishing a 10-point run from a script (each case a fresh interpreter)",
        ["tool / case", "import+setup", "first run", "target", "next runs (median)", "target", "max"],
        rows,
        notes=[
            "first run: includes the tool's lazy imports and, for labbook in a new notebook, the first"
            " package-list capture (cached in the notebook afterwards)",
            f"next runs: median of the following {LABBOOK_RUNS} (labbook) or {PEER_RUNS} (peers) runs"
            " in the same process",
            "import+setup: `import` of the tool (labbook's is lazy) plus MLflow's experiment/schema set-up",
            *notes,
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
