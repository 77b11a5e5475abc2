"""Sweeps: every combination of a grid as its own ``lab run``, in a local process pool.

Each combination's resolved config is written to ``sweeps/<sweep id>/<i>.yaml`` and run
by a child ``lab run -c`` process, so every run gets the full supervisor (capture,
streams saved, statuses, Ctrl-C handling) and none depends on the others: a failure
stops the rest only with ``fail_fast``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.core.config import dump
from labbook.core.query import Compare, RunField
from labbook.service.notebook import Notebook

_STARTED = re.compile(rb"lab: run (\d+) started")


@dataclass
class Job:
    index: int
    overrides: list[str]
    config_path: Path | None  # None: a single run without a config
    argv: list[str]
    run_id: int | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    log: Path | None = None
    options: list[str] = field(default_factory=list)  # lab run options of this job (name, tags, ...)


@dataclass
class SweepResult:
    sweep_id: str
    jobs: list[Job]
    interrupted: bool = False
    stopped_early: bool = False
    statuses: dict[int, str] = field(default_factory=dict)


def new_sweep_id() -> str:
    return uuid.uuid4().hex[:10]


def prepare(
    notebook: Notebook,
    sweep_id: str,
    configs: list[dict[str, Any]],
    overrides: list[list[str]],
    argv: list[str],
    pass_overrides: bool,
) -> list[Job]:
    folder = notebook.root / "sweeps" / sweep_id
    jobs = []
    for i, (config, texts) in enumerate(zip(configs, overrides, strict=True)):
        path = dump(config, folder / f"{i}.yaml")
        jobs.append(
            Job(i, texts, path, argv + texts if pass_overrides else list(argv), log=folder / f"{i}.log")
        )
    return jobs


def child_command(notebook: Notebook, job: Job, sweep_id: str | None) -> list[str]:
    """The ``lab run`` that runs one combination (of a sweep, when ``sweep_id`` is given)."""
    sweep = ["--sweep-id", sweep_id] if sweep_id else []
    return [
        sys.executable, "-m", "labbook", "--dir", str(notebook.root), "run", *sweep,
        "--sweep-overrides", " ".join(job.overrides),
        *(["-c", str(job.config_path)] if job.config_path else []), *job.options, "--", *job.argv,
    ]  # fmt: skip


def run_sweep(
    notebook: Notebook,
    jobs: list[Job],
    sweep_id: str,
    parallel: int,
    fail_fast: bool,
    on_progress: Callable[[int, int, int], None] | None = None,
    cwd: Path | None = None,
) -> SweepResult:
    """Run the jobs, ``parallel`` at a time; Ctrl-C stops them all (they end as killed)."""
    result = SweepResult(sweep_id, jobs)
    running: dict[int, subprocess.Popen[bytes]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    counts = {"done": 0, "failed": 0}

    def work(job: Job) -> Job:
        if stop.is_set():
            return job
        start = time.monotonic()
        assert job.log is not None
        with job.log.open("wb") as log:
            proc = subprocess.Popen(
                child_command(notebook, job, sweep_id), stdout=subprocess.DEVNULL, stderr=log, cwd=cwd
            )
            with lock:
                running[job.index] = proc
            job.exit_code = proc.wait()
            with lock:
                running.pop(job.index, None)
        if job.exit_code != 0 and fail_fast and not stop.is_set():
            stop.set()  # here, before this worker can pick up the next job
            result.stopped_early = True
            signal_all(signal.SIGTERM)
        job.seconds = time.monotonic() - start
        m = _STARTED.search(job.log.read_bytes()[:4096])
        job.run_id = int(m.group(1)) if m else None
        return job

    def signal_all(sig: int) -> None:
        with lock:
            for proc in running.values():
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    pool = ThreadPoolExecutor(max_workers=parallel)
    pending: set[Future[Job]] = {pool.submit(work, job) for job in jobs}
    try:
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for fut in done:
                job = fut.result()
                if job.exit_code is None:
                    continue
                counts["done"] += 1
                if job.exit_code != 0:
                    counts["failed"] += 1
            if on_progress is not None:
                with lock:
                    on_progress(counts["done"], len(running), counts["failed"])
    except KeyboardInterrupt:
        result.interrupted = True
        stop.set()
        signal_all(signal.SIGINT)
        for fut in pending:
            try:
                fut.result()
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
                signal_all(signal.SIGKILL)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    notebook.reap()
    runs, _ = notebook.store.runs.query_runs(Compare(RunField("sweep"), "=", sweep_id), [], None)
    result.statuses = {r.id: r.status for r in runs}
    return result
