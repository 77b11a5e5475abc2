"""bench_artifacts: how fast a file is kept as an artifact, beside ``cp`` and the peers.

Two workloads, generated in a temporary directory and deleted afterwards: one 1 GB file
(1 MiB random blocks, each different, so nothing compresses or deduplicates) and 1,000
files of 16 KiB. Each tool keeps them in a fresh interpreter (imports not timed) into a
fresh store:

- labbook ``run.log_artifact`` (sha256 while copying, fsync, linked into place atomically),
  and the same content logged again under another name (hashed, not kept twice);
- MLflow ``log_artifact`` / ``log_artifacts`` to a local artifact location;
- W&B offline ``wandb.Artifact.add_file`` / ``add_dir`` + ``run.log_artifact`` + ``finish``;
- ``cp`` (and ``cp`` then ``sync`` of the copy, which is what labbook's fsync pays for).

The source was just written, so every tool reads it from the page cache; the figures are
the cost of the copy itself; dirty pages are flushed (``sync``) before each case, so none
pays for the writeback of the one before. Each case runs 3 times; the median is shown.
MB is 10^6 bytes. RSS growth is the child's peak resident memory after the copy minus
before it: what the copy held in memory (the largest of the 3).

    python benchmarks/bench_artifacts.py [--big-mb 1024] [--small 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import _common as bench

TIMEOUT_S = 1800
REPEATS = 3  # each case, each time into a fresh store; the median is shown
SMALL_BYTES = 16 << 10

CHILD = """
import json, os, resource, sys, time
tool, store, src = sys.argv[1], sys.argv[2], sys.argv[3]
is_dir = os.path.isdir(src)

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

out = {}
if tool == "labbook":
    import labbook
    run = labbook.init(dir=store)
    before = rss()
    t = time.perf_counter()
    info = run.log_artifact(src, recursive=is_dir)
    out["seconds"] = time.perf_counter() - t
    out["rss"] = rss() - before
    assert info is not None, "not kept"
    t = time.perf_counter()
    run.log_artifact(src, name="again", recursive=is_dir)
    out["again"] = time.perf_counter() - t
    run.finish()
elif tool == "mlflow":
    import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    exp = mlflow.create_experiment("bench", artifact_location=f"file://{store}/artifacts")
    with mlflow.start_run(experiment_id=exp):
        before = rss()
        t = time.perf_counter()
        if is_dir:
            mlflow.log_artifacts(src, artifact_path="small")
        else:
            mlflow.log_artifact(src)
        out["seconds"] = time.perf_counter() - t
        out["rss"] = rss() - before
elif tool == "wandb":
    import wandb
    run = wandb.init(project="bench", dir=store, mode="offline")
    before = rss()
    t = time.perf_counter()
    art = wandb.Artifact("bench", type="model")
    if is_dir:
        art.add_dir(src)
    else:
        art.add_file(src)
    run.log_artifact(art)
    run.finish()
    out["seconds"] = time.perf_counter() - t
    out["rss"] = rss() - before
    wandb.teardown()
print(json.dumps(out), flush=True)
os._exit(0)
"""


def make_big(path: Path, mb: int) -> int:
    """``mb`` MiB of random blocks, each different (no block repeats, nothing sparse)."""
    seed = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(mb):
            fh.write(i.to_bytes(8, "little") + seed[8:])
    return path.stat().st_size


def make_small(folder: Path, n: int) -> int:
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:04d}.bin").write_bytes(os.urandom(SMALL_BYTES))
    return n * SMALL_BYTES


def run_child(script: Path, tool: str, store: Path, src: Path) -> dict[str, float]:
    store.mkdir(parents=True)
    if tool == "labbook":
        bench.new_notebook(store)
    result, _ = bench.child_output(
        [sys.executable, str(script), tool, str(store), str(src)], TIMEOUT_S, store
    )
    return result


def timed_cp(src: Path, dest: Path, sync: bool) -> float:
    dest.mkdir(parents=True)
    argv = ["cp", "-r", str(src), str(dest)]
    t0 = bench.now()
    subprocess.run(argv, check=True)
    if sync:
        copied = dest / src.name
        files = [copied] if copied.is_file() else sorted(p for p in copied.rglob("*") if p.is_file())
        subprocess.run(["sync", *map(str, files)], check=True)
    return bench.now() - t0


def rate(nbytes: int, seconds: float | None) -> str:
    return "—" if not seconds else f"{nbytes / seconds / 1e6:,.0f} MB/s"


def rows_for(label: str, src: Path, nbytes: int, files: int, root: Path, script: Path) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(what: str, seconds: float | None, rss: float | None = None, note: str = "") -> None:
        per_file = f"{files / seconds:,.0f}/s" if seconds and files > 1 else ""
        rows.append([f"{label}: {what}", bench.fmt_time(seconds), rate(nbytes, seconds), per_file,
                     bench.fmt_bytes(rss) if rss is not None else "", note])  # fmt: skip

    for sync in (False, True):
        bench.progress(f"{label}: cp{' + sync' if sync else ''}")
        times = []
        for i in range(REPEATS):
            where = root / f"cp-{label[:5]}-{int(sync)}-{i}"
            os.sync()  # nobody pays for the writeback of what came before
            times.append(timed_cp(src, where, sync))
            shutil.rmtree(where)
        row("cp + sync" if sync else "cp", bench.median(times))
    for tool, what in (
        ("labbook", "labbook run.log_artifact"),
        ("mlflow", "MLflow log_artifact" + ("s" if files > 1 else "")),
        ("wandb", "W&B offline Artifact + log_artifact + finish"),
    ):
        if tool != "labbook" and bench.try_import(tool) is None:
            rows.append([f"{label}: {what}", bench.NOT_INSTALLED, "", "", "", "skipped"])
            continue
        bench.progress(f"{label}: {what}")
        results: list[dict[str, float]] = []
        try:
            for i in range(REPEATS):
                store = root / f"{tool}-{label[:5]}-{i}"
                os.sync()
                results.append(run_child(script, tool, store, src))
                shutil.rmtree(store, ignore_errors=True)
        except Exception as err:
            rows.append([f"{label}: {what}", f"error: {err}"[:60], "", "", "", ""])
            continue
        row(what, bench.median([r["seconds"] for r in results]), max(r["rss"] for r in results))
        if tool == "labbook":
            again = bench.median([r["again"] for r in results])
            row("labbook, the same content again", again, None, "hashed, not kept twice")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-mb", type=int, default=1024, help="size of the large file in MiB")
    parser.add_argument("--small", type=int, default=1000, help="how many 16 KiB files")
    args = parser.parse_args()
    bench.quiet_environment()
    bench.header(f"bench_artifacts: one {args.big_mb:,} MiB file and {args.small:,} files of 16 KiB")
    with bench.temp_dir("artifacts") as root:
        script = root / "keep.py"
        script.write_text(CHILD)
        bench.progress(f"writing the {args.big_mb:,} MiB file")
        big = root / "big.bin"
        big_bytes = make_big(big, args.big_mb)
        rows = rows_for(
            "1 GB file" if args.big_mb == 1024 else f"{args.big_mb} MiB file", big, big_bytes, 1, root, script
        )
        big.unlink()
        small = root / "small"
        small_bytes = make_small(small, args.small)
        rows += rows_for(f"{args.small:,} small files", small, small_bytes, args.small, root, script)
    bench.print_table(
        "Keeping files: wall time of the call, throughput, and memory the copy held",
        ["case", "time", "throughput", "files", "RSS growth", "note"],
        rows,
        notes=[
            "cp: coreutils in a subprocess, no fsync; cp + sync: then sync(1) of the copies, as durable as labbook",
            "labbook hashes (sha256) while copying, fsyncs and links into place; peers in their default modes",
            "W&B's time includes finish(), which waits for its writer; MLflow copies into its artifact folder",
        ],
    )


if __name__ == "__main__":
    main()
