"""The team server under load: 32 clients each sending 100k points, beside MLflow's server.

labbook: a real PostgreSQL (initdb + pg_ctl, as the tests start it) and ``lab server`` as
a subprocess; each client is a process of its own sending its run's points in batches of
1,000 through the same client the uploader uses (``tracking.remote.Client``), timing
each batch. Afterwards the server must hold every point of every run, once.

MLflow: ``mlflow server`` (SQLite backend, one worker, as it is started by default) in
the peer virtualenv; clients send the same 1,000-point batches with ``log_batch``. Its
server is far slower, so it gets fewer batches per client (``--mlflow-batches``).

    python benchmarks/bench_server.py [--clients 32] [--points 100000] [--mlflow-clients 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common as bench
import web_peers

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000

MLFLOW_CLIENT = r"""
import json, sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
base, batches, who = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(tracking_uri=base)
exp = client.get_experiment_by_name("load") or client.get_experiment(client.create_experiment("load"))
run = client.create_run(exp.experiment_id if hasattr(exp, "experiment_id") else exp)
rid = run.info.run_id
lat = []
for b in range(batches):
    t0 = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (b * 1000 + i + 1), t0 + i, b * 1000 + i) for i in range(1000)]
    start = time.perf_counter()
    client.log_batch(rid, metrics=metrics)
    lat.append(time.perf_counter() - start)
client.set_terminated(rid)
held = len(client.get_metric_history(rid, "loss"))
print(json.dumps({"latencies": lat, "held": held}))
"""


def labbook_client(
    url: str, token: str, who: int, points: int, out: Any, pace: float = 0.0, offset: float = 0.0
) -> None:
    """One client: its run, then its points in batches of 1,000, each batch timed."""
    from labbook.formats.series import encode_block
    from labbook.tracking.remote import Client, Server

    client = Client(Server(url, token), timeout=60)
    uid = f"{who + 1:032x}"
    run = {"uid": uid, "created_at": time.time(), "source": "sdk", "status": "running", "name": f"client-{who}",
           "host": f"node-{who}"}  # fmt: skip
    client.save_runs([run])
    lat = []
    began_all = time.perf_counter() + offset * pace  # paced clients spread over the interval
    for start in range(0, points, BATCH):
        if pace:
            time.sleep(max(0.0, began_all + (start // BATCH) * pace - time.perf_counter()))
        steps = list(range(start, min(start + BATCH, points)))
        t0 = int(time.time() * 1000)
        block = encode_block(
            "loss", steps, [t0 + i for i in range(len(steps))], [1.0 / (s + 1) for s in steps]
        )
        began = time.perf_counter()
        client.save_points(uid, "sdk-1", {"loss": start}, block)
        lat.append(time.perf_counter() - began)
    client.save_runs([{**run, "status": "finished", "ended_at": time.time(), "exit_code": 0}])
    client.close()
    out.put(lat)


class TeamServer:
    """A real PostgreSQL (as the tests start it) and ``lab server`` on it: started, killed, started again."""

    def __init__(self, tmp: Path, pg: Any) -> None:
        from tests.postgres_server import free_port

        from labbook.service.server import migrate

        self.tmp, self.pg, self.db, self.files = tmp, pg, pg.url(), tmp / "files"
        migrate(self.db)
        with self.notebook() as nb:
            self.token = nb.tokens.create("bench", "write")[1]
            self.reader = nb.tokens.create("reader", "read")[1]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.argv = [
            *bench.lab_command(),
            "server",
            "--db",
            self.db,
            "--files",
            str(self.files),
            "--port",
            str(port),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def notebook(self) -> Any:
        from labbook.service.server import open_server

        return open_server(self.db, self.files)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        _wait_up(self.url, self.token)

    def kill(self) -> None:
        """As a crash: no goodbye."""
        import signal

        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
            self.proc = None


@contextmanager
def team_server(label: str) -> Iterator[TeamServer]:
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import postgres_server

    with bench.temp_dir(label) as tmp, postgres_server() as pg:
        server = TeamServer(tmp, pg)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def run_labbook(clients: int, points: int, pace: float = 0.0) -> dict[str, Any]:
    with team_server("server") as server:
        url, token = server.url, server.token
        queue: Any = mp.get_context("fork").Queue()
        procs = [mp.get_context("fork").Process(target=labbook_client, args=(url, token, k, points, queue, pace, k / clients))
                 for k in range(clients)]  # fmt: skip
        began = time.perf_counter()
        for p in procs:
            p.start()
        latencies = [x for _ in procs for x in queue.get()]
        for p in procs:
            p.join()
        wall = time.perf_counter() - began
        with server.notebook() as nb:
            runs, _ = nb.list_runs()
            held = [r.metrics["loss"].count for r in runs]
            series_ok = all(len(nb.series(r, "loss").values) == points for r in runs)
    return {"wall": wall, "latencies": latencies, "held": held, "series_ok": series_ok}


OUTAGE_CLIENT = r"""
import json, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
import labbook
run = labbook.init(name="outage")
lat = []
began = time.perf_counter()
for step in range(n):
    t = time.perf_counter()
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    lat.append(time.perf_counter() - t)
    if step % 100 == 99:
        ahead = began + (step + 1) / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
run.finish()
lat.sort()
print(json.dumps({"worst": lat[-1], "p999": lat[int(len(lat) * 0.999)], "wall": time.perf_counter() - began}))
"""

MLFLOW_OUTAGE = r"""
import json, os, sys, time
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
n, rate = int(sys.argv[2]), float(sys.argv[3])
worst, began, step, error = 0.0, time.perf_counter(), 0, None
with open(sys.argv[4], "w") as f:
    f.write("started")
mlflow.start_run()
try:
    for step in range(n):
        t = time.perf_counter()
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        worst = max(worst, time.perf_counter() - t)
        ahead = began + (step + 1) / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
except Exception as err:
    error = f"{type(err).__name__} after {time.perf_counter() - t:.1f} s in log_metric"
print(json.dumps({"worst": worst, "steps": step, "error": error, "wall": time.perf_counter() - began}))
"""


def run_outage(points: int, rate: float, down_s: float) -> dict[str, Any]:
    """A run logging ``points`` at ``rate`` points/s; the server is killed for ``down_s`` s, then its database restarted."""
    with team_server("outage") as server:
        project = server.tmp / "project"
        project.mkdir()
        bench.new_notebook(project)
        env = bench.child_env(LABBOOK_SERVER=server.url, LABBOOK_TOKEN=server.token)
        client = subprocess.Popen([sys.executable, "-c", OUTAGE_CLIENT, str(points), str(rate)], cwd=project,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(min(5.0, points / rate / 4))
        server.kill()
        killed = bench.now()
        time.sleep(down_s)
        server.start()
        back = bench.now() - killed
        server.pg.restart()
        out, err = client.communicate(timeout=3600)
        figures = json.loads(out.decode().strip().splitlines()[-1])
        with server.notebook() as nb:
            before_sync = sum(r.metrics["loss"].count for r in nb.list_runs()[0] if "loss" in r.metrics)
        synced = subprocess.run(
            [*bench.lab_command(), "sync"], cwd=project, env=env, capture_output=True, text=True
        )
        with server.notebook() as nb:
            (run,) = nb.list_runs()[0]
            held, series = run.metrics["loss"].count, nb.series(run, "loss")
    once = held == points and len(series.values) == points and series.steps.tolist() == list(range(points))
    return {**figures, "down": back, "held": held, "before_sync": before_sync, "once": once,
            "said": err.decode().count("the run goes on here"), "sync_rc": synced.returncode}  # fmt: skip


def run_mlflow_outage(points: int, rate: float, down_s: float) -> dict[str, Any] | str:
    import signal

    gone = web_peers.missing()
    if gone:
        return gone
    with bench.temp_dir("mlflow-outage") as tmp:
        proc, base = web_peers.start_server(f"sqlite:///{tmp / 'mlflow.db'}", tmp)
        started = tmp / "started"
        client = subprocess.Popen([str(web_peers.PEER_PYTHON), "-c", MLFLOW_OUTAGE, base, str(points), str(rate),
                                   str(started)], env=bench.child_env(), cwd=tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        while not started.exists():
            time.sleep(0.1)
        time.sleep(min(5.0, points / rate / 4))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(down_s)
        port = int(base.rsplit(":", 1)[1])
        proc, _ = web_peers.start_server(f"sqlite:///{tmp / 'mlflow.db'}", tmp, port)  # back where it was
        try:
            out, _ = client.communicate(timeout=3600)
        finally:
            web_peers.stop_server(proc)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]  # MLflow prints too
    return dict(json.loads(lines[-1])) if lines else "the MLflow client printed no result"


def run_readback(points: int) -> dict[str, float]:
    """A run of ``points`` points on the server, read back through its API: the chart and every point."""
    import urllib.request

    import numpy as np

    from labbook.formats.series import decode, encode_block
    from labbook.store.series.read import iter_blocks
    from labbook.tracking.remote import Client, Server

    with team_server("readback") as server:
        url, token, writer_token = server.url, server.reader, server.token
        client = Client(Server(url, writer_token), timeout=120)
        uid = "ab" * 16
        run = {"uid": uid, "created_at": time.time(), "source": "sdk", "status": "running"}
        client.save_runs([run])
        step = 10_000  # about what the uploader sends of a tight loop each second
        values = np.random.default_rng(0).standard_normal(points)
        for start in range(0, points, step):
            steps = np.arange(start, min(start + step, points))
            client.save_points(
                uid, "sdk-1", {"loss": start}, encode_block("loss", steps, steps, values[steps])
            )
        client.save_runs([{**run, "status": "finished", "ended_at": time.time()}])
        client.close()
        reader = Client(Server(url, token), timeout=120)
        run_id = reader.request("GET", f"/api/runs?where=uid%20%3D%3D%20%27{uid}%27")["runs"][0]["id"]

        def chart() -> None:
            req = urllib.request.Request(f"{url}/api/runs/{run_id}/metrics/loss?width=1000",
                                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            with urllib.request.urlopen(req) as r:
                r.read()

        def every_point() -> None:
            data = reader.raw(f"/api/v1/runs/{uid}/files/sdk-1")
            got = decode(list(iter_blocks(data)))
            assert len(got.values) == points and np.array_equal(got.values, values)

        first = bench.timed(chart)[0]  # reads every point, and keeps the ended run's overview
        times = {"first chart": first, "chart": min(bench.timed(chart)[0] for _ in range(5)),
                 "points": min(bench.timed(every_point)[0] for _ in range(5))}  # fmt: skip
        reader.close()
    return times


def _wait_up(url: str, token: str) -> None:
    from labbook.tracking.remote import Client, Server

    client = Client(Server(url, token), timeout=2)
    deadline = bench.now() + 120
    while bench.now() < deadline:
        try:
            client.info()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("lab server did not answer")


def run_mlflow(clients: int, batches: int) -> dict[str, Any] | str:
    gone = web_peers.missing()
    if gone:
        return gone
    with bench.temp_dir("mlflow-server") as tmp:
        proc, base = web_peers.start_server(f"sqlite:///{tmp / 'mlflow.db'}", tmp)
        try:
            argv = [str(web_peers.PEER_PYTHON), "-c", MLFLOW_CLIENT, base, str(batches)]
            began = time.perf_counter()
            children = [subprocess.Popen([*argv, str(k)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=bench.child_env(), cwd=tmp) for k in range(clients)]  # fmt: skip
            outs = []
            for c in children:
                out, err = c.communicate(timeout=7200)
                if c.returncode != 0:
                    return f"an MLflow client failed: {err.decode().strip().splitlines()[-1:]}"
                outs.append(json.loads(out.decode().strip().splitlines()[-1]))
            wall = time.perf_counter() - began
        finally:
            web_peers.stop_server(proc)
    return {
        "wall": wall,
        "latencies": [x for o in outs for x in o["latencies"]],
        "held": [o["held"] for o in outs],
    }


def _vs(measured: float, target: float) -> str:
    return f"{bench.fmt_time(measured)} ({bench.against(measured, target, bench.fmt_time)})"


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-clients", type=int, default=8)
    parser.add_argument("--mlflow-batches", type=int, default=10)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between a paced client's batches")
    parser.add_argument("--paced-batches", type=int, default=20)
    parser.add_argument("--readback-points", type=int, default=1_000_000)
    parser.add_argument("--outage-points", type=int, default=200_000)
    parser.add_argument("--outage-rate", type=float, default=10_000.0, help="points per second the run logs")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the server is down")
    args = parser.parse_args()
    bench.quiet_environment()
    bench.header(f"team server: {args.clients} clients × {args.points:,} points, batches of {BATCH:,}")
    lb = run_labbook(args.clients, args.points)
    total = args.clients * args.points
    arrived = sum(lb["held"])
    rows = [["labbook (lab server, PostgreSQL)", f"{args.clients} × {args.points:,}",
             f"{arrived:,} / {total:,}" + (" ✓" if arrived == total and lb["series_ok"] else " ✗"),
             f"{total / lb['wall']:,.0f}", bench.fmt_time(pct(lb["latencies"], 50)),
             _vs(pct(lb["latencies"], 99), 0.050)]]  # fmt: skip
    paced = run_labbook(args.clients, args.paced_batches * BATCH, pace=args.pace)
    rows.append([f"labbook, each client one batch every {args.pace:g} s", f"{args.clients} × {args.paced_batches * BATCH:,}",
                 f"{sum(paced['held']):,} / {args.clients * args.paced_batches * BATCH:,}"
                 + (" ✓" if paced["series_ok"] else " ✗"),
                 f"{args.clients * BATCH / args.pace:,.0f} offered", bench.fmt_time(pct(paced["latencies"], 50)),
                 _vs(pct(paced["latencies"], 99), 0.050)])  # fmt: skip
    ml = run_mlflow(args.mlflow_clients, args.mlflow_batches)
    if isinstance(ml, str):
        rows.append(["MLflow server (SQLite)", "", ml, "", "", ""])
    else:
        sent = args.mlflow_clients * args.mlflow_batches * BATCH
        rows.append(["MLflow server (SQLite, log_batch)", f"{args.mlflow_clients} × {args.mlflow_batches * BATCH:,}",
                     f"{sum(ml['held']):,} / {sent:,}", f"{sent / ml['wall']:,.0f}",
                     bench.fmt_time(pct(ml["latencies"], 50)), bench.fmt_time(pct(ml["latencies"], 99))])  # fmt: skip
    bench.print_table(
        "1,000-point batches sent at once by every client",
        ["server", "clients × points", "arrived", "points/s", "p50 batch", "p99 batch (≤ 50 ms)"],
        rows,
        ["labbook: arrived counts the points the server's summaries hold, and each run's series is read back whole",
         "MLflow: arrived is the length of get_metric_history after the batches"],
    )  # fmt: skip
    read = run_readback(args.readback_points)
    bench.print_table(
        f"one run of {args.readback_points:,} points on the server, read back through its API (best of 5)",
        ["read", "time", "target"],
        [["the first chart (GET /api/runs/ID/metrics/loss?width=1000: every point read, M4, the overview kept)",
          bench.fmt_time(read["first chart"]), bench.against(read["first chart"], 0.200, bench.fmt_time)],
         ["the chart again (from the overview)", bench.fmt_time(read["chart"]), ""],
         ["every point (GET the writer file, decoded to numpy, checked)", bench.fmt_time(read["points"]),
          bench.against(read["points"], 0.200, bench.fmt_time)]],
    )  # fmt: skip
    out = run_outage(args.outage_points, args.outage_rate, args.down)
    rows = [["labbook (uploader, then lab sync)", f"{out['down']:.1f} s, then its PostgreSQL restarted",
             f"{out['before_sync']:,} before lab sync, {out['held']:,} after" + (" ✓ once" if out["once"] else " ✗"),
             _vs(out["worst"], 0.010), bench.fmt_time(out["p999"]),
             f"said once: {'yes' if out['said'] == 1 else out['said']}"]]  # fmt: skip
    ml = run_mlflow_outage(
        int(200 * (args.down + 10)), 200.0, args.down
    )  # MLflow's client: one request a point
    if isinstance(ml, str):
        rows.append(["MLflow (log_metric)", "", ml, "", "", ""])
    else:
        rows.append(["MLflow (log_metric, 200 points/s)", f"{args.down:.0f} s (its server gone)",
                     f"training reached step {ml['steps']:,}", bench.fmt_time(ml["worst"]), "",
                     ml["error"] or "no error raised"])  # fmt: skip
    bench.print_table(
        f"a run logging {args.outage_points:,} points while its server is killed",
        [
            "client",
            "server down",
            "points on the server",
            "worst run.log (≤ 10 ms)",
            "p99.9 run.log",
            "what the run saw",
        ],
        rows,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
