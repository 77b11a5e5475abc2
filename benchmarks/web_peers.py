"""MLflow's UI runs page, measured the way ``bench_web.py`` measures labbook's, to print beside it.

A person choosing a tracker compares dashboards on the same runs, so MLflow gets the 1,000
runs of ``bench_cli``'s notebook (3 params, 3 metrics of a few steps, one tag each), logged
into a SQLite store with ``MlflowClient.log_batch`` by the peer venv's MLflow in a subprocess
(labbook's own venv need not have it). ``mlflow server`` then serves them as a user starts it,
and headless Chromium (Debian's, driven by Playwright in this process) loads the experiment's
runs page cold, a new browser context each time, timed from navigation start as
``performance.now()`` when the grid shows a link to a run, then when the grid holds as many
rows as its footer's "N matching runs" says. MLflow fetches 100 runs at first and offers
"Load more" for the rest; ``rows_shown`` tells what it drew.

    python benchmarks/web_peers.py
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import _common as bench

CHROMIUM = bench.CHROMIUM
ARGS = bench.CHROMIUM_ARGS
PEER_PYTHON = bench.PEER_VENV / "bin" / "python"
PEER_MLFLOW = bench.PEER_VENV / "bin" / "mlflow"
#: The "Model training" side's runs page; ``#/experiments/ID`` alone lands on the GenAI overview in 3.x.
RUNS_URL = "{base}/#/experiments/{id}/runs?workflowType=machine_learning"
#: A run's name in the grid is a link to ``#/experiments/ID/runs/RUN_ID`` (the nav's "Runs" has no slash after).
RUN_LINKS = "document.querySelectorAll('[role=grid] a[href*=\"/runs/\"]')"
FIRST_ROWS = f"{RUN_LINKS}.length > 0"
ALL_ROWS = (
    "(() => { const m = /([\\d,]+)\\s+matching runs/.exec(document.body.innerText);"
    f" return m !== null && {RUN_LINKS}.length >= parseInt(m[1].replace(/,/g, ''), 10); }})()"
)
PAGE_TIMEOUT_MS = 300_000

#: Run by the peer venv's python: ``argv[1]`` the tracking URI, ``argv[2]`` how many runs; one JSON line.
LOADER = """
import json, random, sys, time
t0 = time.perf_counter()
import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.create_experiment("bench")
rng = random.Random(0)
for i in range(int(sys.argv[2])):
    tag = rng.choice(("baseline", "sweep-a", "sweep-b"))
    run_id = client.create_run(experiment, run_name=f"{tag}-{i}", tags={"group": tag}).info.run_id
    params = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": rng.choice((32, 64, 128)),
              "optimizer": rng.choice(("adam", "sgd"))}
    acc = [rng.random() for _ in range(3)]
    loss = [rng.uniform(0.1, 3.0) for _ in range(3)]
    ms = int(time.time() * 1000)
    series = {"acc": acc, "loss": loss, "val_loss": [x * 1.1 for x in loss]}
    metrics = [Metric(k, v, ms, step) for k, vs in series.items() for step, v in enumerate(vs)]
    client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()])
    client.set_terminated(run_id)
print(json.dumps({"load_s": time.perf_counter() - t0, "experiment_id": experiment,
                  "version": mlflow.__version__}))
"""


def missing() -> str:
    """What of MLflow (peer venv), Playwright (this interpreter) and Chromium is not there."""
    gone = [str(p) for p in (PEER_PYTHON, PEER_MLFLOW) if not p.is_file()]
    if bench.try_import("playwright.sync_api") is None:
        gone.append(f"playwright (in {sys.executable})")
    if not os.access(CHROMIUM, os.X_OK):
        gone.append(CHROMIUM)
    return ", ".join(gone)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(uri: str, cwd: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` on a loopback port (a free one by default), in a process group of its own; until /health answers."""
    port = port or free_port()
    argv = [str(PEER_MLFLOW), "server", "--backend-store-uri", uri, "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1"]
    env = bench.child_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no huey workers: no page uses them
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = bench.now() + 180
    while bench.now() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"mlflow server did not answer /health (exit {proc.returncode})")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group it leads (the server and its uvicorn worker), SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            time.sleep(0.5)  # let the worker follow its parent out
        except subprocess.TimeoutExpired:
            continue


def cold_load(browser: Any, url: str, screenshot: Path | None = None) -> dict[str, Any]:
    """One load in a new context: seconds since navigation start to the first run row, to all of them."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url, wait_until="commit")
    page.wait_for_function(FIRST_ROWS)
    first = page.evaluate("performance.now()") / 1000
    page.wait_for_function(ALL_ROWS)
    shown = page.evaluate(
        f"[performance.now(), {RUN_LINKS}.length,"
        " (/([\\d,]+)\\s+matching runs/.exec(document.body.innerText) || [])[1],"
        " performance.getEntriesByType('resource').filter(e => e.name.includes('/runs/search'))"
        ".map(e => e.responseEnd).shift()]"
    )
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    context.close()
    return {
        "first": first,
        "all": shown[0] / 1000,
        "rows": shown[1],
        "says": shown[2],
        "api": None if shown[3] is None else shown[3] / 1000,
    }


def browse(url: str, repeats: int, screenshot: Path | None) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            return [cold_load(browser, url, screenshot if i == repeats - 1 else None) for i in range(repeats)]
        finally:
            browser.close()


def mlflow_runs_page(
    n_runs: int = 1000, repeats: int = 3, screenshot: Path | None = None
) -> dict[str, float | str]:
    """MLflow's runs page over ``n_runs`` runs: load time, median first-rows and all-rows times, what it drew."""
    gone = missing()
    if gone:
        return {"error": f"{bench.NOT_INSTALLED}: {gone}"}
    with bench.temp_dir("web-mlflow") as root:
        uri = f"sqlite:///{root / 'mlflow.db'}"
        bench.progress(f"MLflow: logging {n_runs:,} runs with log_batch")
        try:
            built, _ = bench.child_output([str(PEER_PYTHON), "-c", LOADER, uri, str(n_runs)], 3600, cwd=root)
        except RuntimeError as err:
            return {"error": f"mlflow could not log the runs: {err}"}
        bench.progress("MLflow: starting mlflow server, loading its runs page")
        t0 = bench.now()
        try:
            proc, base = start_server(uri, root)
            start_s = bench.now() - t0
            try:
                loads = browse(RUNS_URL.format(base=base, id=built["experiment_id"]), repeats, screenshot)
            finally:
                stop_server(proc)
        except Exception as err:  # a timeout or a server that died: the error in its row, not a traceback
            return {"error": f"{type(err).__name__}: {err}"[:200]}
    last = loads[-1]
    api = [x["api"] for x in loads if x["api"] is not None]
    return {
        "load_s": float(built["load_s"]),
        "server_start_s": start_s,
        "first_rows_s": bench.median([x["first"] for x in loads]),
        "all_rows_s": bench.median([x["all"] for x in loads]),
        "search_response_s": bench.median(api),
        "rows_shown": f"{last['rows']} of {n_runs:,}",
        "version": str(built["version"]),
        "note": (
            f"median of {repeats} cold loads of #/experiments/ID/runs; it fetches {last['says']} runs"
            " and offers Load more; its default columns hold no params or metrics"
        ),
    }


if __name__ == "__main__":
    bench.quiet_environment()
    result = mlflow_runs_page(1000, screenshot=Path("/tmp/mlflow_runs.png"))
    print(json.dumps(result, indent=2))
