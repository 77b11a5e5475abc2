"""``lab run --launcher ray`` and ``lab ablate --launcher ray`` against a real Ray head (see ray_cluster.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labbook.launch import ray as on_ray
from labbook.records.runs import Owner
from labbook.service.liveness import current_owner
from labbook.service.notebook import Notebook

from .conftest import LAB, lab, lab_proc
from .ray_cluster import ENV, free_port, ray_cluster, ray_head  # noqa: F401  (the fixtures)

PY = sys.executable

# Logs its loss and whether it runs under a Ray worker: its parent is the worker's lab run,
# whose parent is the worker process ("ray::lab run N").
TRAIN = """\
import json, os, sys, labbook
cfg = labbook.config()
def parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
worker = open(f"/proc/{parent(os.getppid())}/cmdline", "rb").read()
print(json.dumps({"on_ray": float(worker.startswith(b"ray::lab run"))}))
for step in range(3):
    print(json.dumps({"loss": cfg["lr"] / (step + 1) + cfg["seed"], "step": step}))
sys.exit(cfg.get("exit", 0))
"""
SLOW = "import time\nwhile True:\n    print('{\"beat\": 1}', flush=True)\n    time.sleep(0.1)\n"
ABLATE_CONFIG = "seed: 0\naug:\n  enabled: true\n"
ABLATE_TRAIN = """\
import json, labbook
cfg = labbook.config()
print(json.dumps({"val_acc": 0.5 + 0.2 * cfg["aug"]["enabled"] + 0.001 * cfg["seed"]}))
"""


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "config.yaml").write_text("lr: 0.5\nseed: 0\n")
    (project / "train.py").write_text(TRAIN)
    (project / "slow.py").write_text(SLOW)
    return project


def runs(project: Path) -> list:
    with Notebook.open(project) as nb:
        listed, _ = nb.list_runs(limit=0)
        return [nb.get_run(r.id) for r in reversed(listed)]


def wait_for(predicate, timeout: float = 120, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def nothing_written(project: Path) -> bool:
    return runs(project) == [] and not any(
        any((project / ".labbook" / p).glob("*")) for p in ("sweeps", "runs")
    )


@pytest.mark.usefixtures("ray_head")
def test_a_sweep_runs_each_combination_as_a_ray_task(proj: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=0,1", "-n", "base", "-t", "ray-test", "--launcher", "ray",
        "--ray-cpus", "1", "--", PY, "train.py", cwd=proj,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    done = runs(proj)
    assert [r.status for r in done] == ["finished"] * 2
    assert [r.name for r in done] == ["base-0", "base-1"]
    assert all(r.tags == ("ray-test",) and r.source == "ray" for r in done)
    assert [r.params["seed"] for r in done] == [0, 1]
    assert len({r.sweep_id for r in done}) == 1 and done[0].sweep_id
    for r in done:  # metrics and capture come from the worker's own lab run
        assert r.metrics["on_ray"].last == 1.0
        assert r.metrics["loss"].last == pytest.approx(0.5 / 3 + r.params["seed"])
        assert r.capture["config"]["seed"] == r.params["seed"]
    assert [r.job_state for r in done] == ["FINISHED"] * 2
    ids = [r.job_id for r in done]
    assert len(set(ids)) == 2 and all(i and len(i) == 48 for i in ids)  # Ray task ids
    ray_job = ids[0][-8:]  # a task id ends with its job's id
    assert (
        f"lab: submitted runs 1-2, sweep {done[0].sweep_id} to Ray as 2 tasks of job {ray_job}" in proc.stderr
    )
    for r in done:
        assert f"{r.job_id}   FINISHED" in proc.stdout  # the summary table
    show = lab_proc("show", str(done[0].id), cwd=proj)
    assert re.search(rf"^ray +task {done[0].job_id} \(FINISHED\)$", show.stdout, re.M), show.stdout


@pytest.mark.usefixtures("ray_head")
def test_the_address_can_be_given_and_a_failing_command_fails_its_run_and_task(proj: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "+exit=3", "--launcher", "ray", "--ray-address", os.environ["RAY_ADDRESS"],
        "--", PY, "train.py", cwd=proj, env={"RAY_ADDRESS": ""},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (run,) = runs(proj)
    assert (run.status, run.exit_code, run.job_state) == ("failed", 3, "FAILED")
    assert run.metrics["loss"].count == 3


@pytest.mark.usefixtures("ray_head")
def test_the_ablation_runs_as_ray_tasks(project: Path) -> None:
    (project / "config.yaml").write_text(ABLATE_CONFIG)
    (project / "train.py").write_text(ABLATE_TRAIN)
    proc = lab_proc(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc", "--seeds", "2",
        "--launcher", "ray", "--json", "--", PY, "train.py", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "runs, as many at a time as it takes on ray" in proc.stderr
    assert "lab: submitted runs 1-4 to Ray as tasks of job" in proc.stderr
    out = json.loads(proc.stdout)
    done = runs(project)
    assert len(done) == 4 and all(r.status == "finished" and r.source == "ray" for r in done)
    assert all(
        r.sweep_id == out["sweep"] and "ablation" in r.tags and r.job_state == "FINISHED" for r in done
    )
    assert {r.name for r in done} == {"full-s0", "full-s1", "no-aug.enabled-s0", "no-aug.enabled-s1"}
    assert out["carrier"] == "aug.enabled"
    assert out["effects"][0]["contribution"] == pytest.approx(0.2, abs=0.01)


@pytest.mark.usefixtures("ray_head")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_cancels_the_tasks_running_runs_end_killed_queued_ones_cancelled(
    proj: Path, stop: signal.Signals
) -> None:
    # Three tasks of a CPU each on a head of two: two run, one waits in Ray's queue.
    driver = subprocess.Popen(
        [*LAB, "run", "-c", "config.yaml", "seed=0,1,2", "--launcher", "ray", "--", PY, "slow.py"],
        cwd=proj,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: sorted(r.status for r in runs(proj)) == ["pending", "running", "running"],
            what="two runs to start on their workers",
        )
        wait_for(lambda: all("beat" in r.metrics for r in runs(proj) if r.status == "running"), what="beats")
        driver.send_signal(stop)
        assert driver.wait(timeout=120) == 130
    finally:
        if driver.poll() is None:
            driver.kill()
    ended = runs(proj)
    assert sorted((r.status, r.job_state) for r in ended) == [
        ("cancelled", "CANCELLED"), ("killed", "CANCELLED"), ("killed", "CANCELLED"),
    ]  # fmt: skip
    killed = [r for r in ended if r.status == "killed"]
    assert all(r.metrics["beat"].count > 0 for r in killed)
    assert all(r.exit_code is not None for r in killed)  # ended by their own lab run, not the driver
    assert "interrupted: the tasks were cancelled" in driver.stderr.read()


@pytest.mark.usefixtures("ray_head")
def test_a_worker_that_dies_under_its_run_crashes_it(proj: Path) -> None:
    driver = subprocess.Popen(
        [*LAB, "run", "--launcher", "ray", "--", PY, "slow.py"],
        cwd=proj,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: [r.status for r in runs(proj)] == ["running"], what="the run to start")
        (run,) = runs(proj)
        worker = _process_titled(f"ray::lab run {run.id}")
        os.kill(worker, signal.SIGKILL)  # what an out-of-memory killer does
        assert driver.wait(timeout=120) == 1
    finally:
        if driver.poll() is None:
            driver.kill()
    (run,) = runs(proj)
    assert (run.status, run.job_state) == ("crashed", "WORKER_DIED")


def _process_titled(title: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().split(b"\0")[0] == title.encode():
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no process {title!r}")


def test_an_address_where_no_head_listens_is_one_line_and_writes_nothing(proj: Path) -> None:
    port = free_port()
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=0,1", "--launcher", "ray", "--ray-address", f"127.0.0.1:{port}",
        "--", PY, "train.py", cwd=proj, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: Ray not reachable: nothing answers at 127.0.0.1:{port} (Connection refused); "
        "is the head up (ray start --head)?"
    ]
    assert nothing_written(proj)


@pytest.mark.usefixtures("ray_head")
def test_gpus_no_node_has_are_refused_before_any_run(proj: Path) -> None:
    proc = lab_proc("run", "--launcher", "ray", "--ray-gpus", "1", "--", PY, "train.py", cwd=proj)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: no node of the Ray cluster has 1 CPU and 1 GPU for a task (its nodes: 2 CPUs, no GPU); "
        "lower --ray-gpus / --ray-cpus or add such a node"
    ]
    assert nothing_written(proj)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray-gpus", "1"], "--ray-gpus needs --launcher ray"),
        (["--launcher", "slurm", "--ray-address", "auto"], "--ray-address needs --launcher ray"),
        (["--launcher", "ray", "--slurm-time", "5"], "--slurm-time needs --launcher slurm"),
        (["--launcher", "ray", "--detach"], "--detach needs --launcher slurm: Ray ends a driver's tasks"),
        (["--launcher", "ray", "-c", "config.yaml", "seed=0,1", "-p", "2"], "--parallel is for local and Slurm"),
        (["--launcher", "ray", "--ray-cpus", "1.5"], "--ray-cpus 1.5: Ray takes a fraction below 1 or a whole"),
        (["--launcher", "ray", "--ray-address", "nohost"], "--ray-address 'nohost' is not auto, HOST:PORT"),
    ],
)  # fmt: skip
def test_ray_flags_that_cannot_work_are_refused_before_any_run(
    proj: Path, args: list[str], message: str
) -> None:
    result = lab("run", *args, "--", PY, "train.py")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), result.output
    assert nothing_written(proj)


def test_ablate_refuses_detach_with_ray(project: Path) -> None:
    (project / "config.yaml").write_text(ABLATE_CONFIG)
    result = lab(
        "ablate", "-c", "config.yaml", "--components", "aug.enabled", "-m", "val_acc",
        "--launcher", "ray", "--detach", "--", PY, "train.py",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().startswith(
        "error: --detach needs --launcher slurm: Ray ends a driver's tasks"
    )


@pytest.mark.parametrize(
    ("status", "state", "ended_for", "expected"),
    [
        ("pending", "CANCELLED", 0.0, "cancelled"),  # cancelled in Ray's queue
        ("pending", "FAILED", 0.0, "crashed"),  # the task failed before its lab run began
        ("running", "CANCELLED", 0.0, "running"),  # the worker's lab run is still writing its end
        ("running", "CANCELLED", on_ray.SETTLE_S, "killed"),
        ("running", "WORKER_DIED", on_ray.SETTLE_S, "crashed"),
        ("running", None, 60.0, "running"),  # the task goes on
    ],
)
def test_the_driver_settles_what_the_worker_could_not(
    notebook: Notebook, status: str, state: str | None, ended_for: float, expected: str
) -> None:
    run = notebook.start_run(command=["x"], source="ray", pending=True)
    notebook.set_job(run.id, "t" * 48, "PENDING")
    if status == "running":
        run = notebook.adopt_run(run.uid)
    assert on_ray.settle(notebook, notebook.get_run(run.id), state, ended_for) == expected
    after = notebook.get_run(run.id)
    assert after.status == expected
    assert after.job_state == (state or "RUNNING")


def test_a_reader_settles_pending_runs_whose_driver_vanished(proj: Path) -> None:
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()
    with Notebook.open(proj) as nb:
        dead_driver = Owner(current_owner().host, gone.pid, 1.0, current_owner().boot_id)
        orphan = nb.start_run(command=["x"], source="ray", pending=True, owner=dead_driver)
        nb.set_job(orphan.id, "a" * 48, "PENDING")
        alive = nb.start_run(command=["x"], source="ray", pending=True)  # this process: a live driver
        nb.set_job(alive.id, "b" * 48, "PENDING")
    listed = {r["id"]: r for r in json.loads(lab_proc("ls", "--json", cwd=proj).stdout)}
    assert (listed[orphan.id]["status"], listed[orphan.id]["job_state"]) == ("crashed", "DRIVER_EXITED")
    assert listed[alive.id]["status"] == "pending"


def test_lab_help_and_run_help_do_not_import_ray() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom labbook.cli import cli\n"
        "for args in (['--help'], ['run', '--help'], ['ablate', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
