"""``lab run --launcher slurm`` against a real single-node Slurm (see slurm_cluster.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labbook.service.notebook import Notebook

from .conftest import LAB, lab_proc

PY = sys.executable

TRAIN = """\
import json, sys, labbook
cfg = labbook.config()
for step in range(5):
    print(json.dumps({"loss": cfg["lr"] / (step + 1) + cfg["seed"], "step": step}))
sys.exit(cfg.get("exit", 0))
"""
SLOW = "import time\nwhile True:\n    print('{\"beat\": 1}', flush=True)\n    time.sleep(0.1)\n"


@pytest.fixture
def proj(project: Path, slurm: object) -> Path:
    (project / "config.yaml").write_text("lr: 0.5\nseed: 0\n")
    (project / "train.py").write_text(TRAIN)
    (project / "slow.py").write_text(SLOW)
    return project


def runs(project: Path) -> list:
    with Notebook.open(project) as nb:
        listed, _ = nb.list_runs(limit=0)
        return [nb.get_run(r.id) for r in reversed(listed)]


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_sweep_runs_each_combination_as_a_job_captured_on_the_node(proj: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=0,1,2", "--launcher", "slurm", "--parallel", "2",
        "--slurm-time", "5", "--slurm-cpus", "1", "--", PY, "train.py", cwd=proj,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    done = runs(proj)
    assert [r.status for r in done] == ["finished"] * 3
    assert [r.params["seed"] for r in done] == [0, 1, 2]
    assert len({r.sweep_id for r in done}) == 1 and done[0].sweep_id
    assert [r.job_state for r in done] == ["COMPLETED"] * 3
    assert len({r.job_id for r in done}) == 3
    for r in done:  # metrics and capture come from the node's own lab run
        assert r.metrics["loss"].last == pytest.approx(0.5 / 5 + r.params["seed"])
        assert r.capture["env"]["SLURM_JOB_ID"]
        assert r.capture["config"]["seed"] == r.params["seed"]
    assert f"submitted runs 1-3, sweep {done[0].sweep_id} to Slurm" in proc.stderr
    for r in done:
        assert f"{r.job_id}   COMPLETED" in proc.stdout  # the summary table
    ls = lab_proc("ls", cwd=proj)
    assert ls.stdout.splitlines()[0].split()[:4] == ["id", "name", "status", "job"]
    assert all(r.job_id in ls.stdout for r in done)
    show = lab_proc("show", str(done[0].id), cwd=proj)
    assert f"slurm    job {done[0].job_id} (COMPLETED)" in show.stdout
    where = lab_proc("ls", "--where", f"job == '{done[1].job_id}'", "--json", cwd=proj)
    assert [r["id"] for r in json.loads(where.stdout)] == [done[1].id]


def test_a_failing_command_fails_its_run_and_its_job(proj: Path) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "+exit=3", "--launcher", "slurm", "--", PY, "train.py", cwd=proj
    )
    assert proc.returncode == 1
    (run,) = runs(proj)
    assert (run.status, run.exit_code, run.job_state) == ("failed", 3, "FAILED")


def test_a_job_cancelled_while_running_reads_killed_with_its_slurm_state(proj: Path) -> None:
    driver = subprocess.Popen(
        [*LAB, "run", "--launcher", "slurm", "--", PY, "slow.py"], cwd=proj, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: [r.status for r in runs(proj)] == ["running"], what="the run to start on the node")
        wait_for(lambda: "beat" in runs(proj)[0].metrics, what="the command's first metrics")
        (run,) = runs(proj)
        subprocess.run(["scancel", run.job_id], check=True)
        assert driver.wait(timeout=60) == 1
    finally:
        if driver.poll() is None:
            driver.kill()
    (run,) = runs(proj)
    assert (run.status, run.job_state) == ("killed", "CANCELLED")
    assert run.metrics["beat"].count > 0


def test_a_job_cancelled_in_the_queue_reads_cancelled(proj: Path) -> None:
    proc = lab_proc(
        "run", "--launcher", "slurm", "--detach", "--slurm-opt", "hold", "--", PY, "train.py", cwd=proj
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = runs(proj)
    assert (run.status, run.started_at) == ("pending", None)
    pending = lab_proc("ls", cwd=proj).stdout
    assert "pending" in pending and run.job_id in pending
    subprocess.run(["scancel", run.job_id], check=True)
    # `lab ls` is the reader: the CLI registers Slurm's settler with the service it opens
    listed = lambda: json.loads(lab_proc("ls", "--json", cwd=proj).stdout)  # noqa: E731
    wait_for(lambda: listed()[0]["status"] == "cancelled", 30, "`lab ls` to settle the cancelled job")
    (run,) = runs(proj)
    assert run.job_state == "CANCELLED" and run.ended_at is not None


def test_ctrl_c_cancels_the_jobs_and_their_runs_end_killed(proj: Path) -> None:
    driver = subprocess.Popen(
        [*LAB, "run", "-c", "config.yaml", "seed=0,1", "--launcher", "slurm", "--", PY, "slow.py"],
        cwd=proj,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: [r.status for r in runs(proj)] == ["running"] * 2, what="both runs to start")
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=60) == 130
    finally:
        if driver.poll() is None:
            driver.kill()
    assert [(r.status, r.job_state) for r in runs(proj)] == [("killed", "CANCELLED")] * 2
    assert "the jobs were cancelled" in driver.stderr.read()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--slurm-partition", "gpu"], {}, "error: Slurm has no partition 'gpu'; partitions: debug"),
        (["--slurm-gpus", "1"], {}, "error: sbatch refused the jobs: Invalid generic resource (gres) specification"),
        ([], {"SLURM_CONF": "/nonexistent/slurm.conf"},
         "error: Slurm not reachable: SLURM_CONF names /nonexistent/slurm.conf, which does not exist"),
        ([], {"PATH": "/nonexistent"},
         "error: Slurm not reachable: sbatch is not on PATH; install the Slurm client (Debian: slurm-client) "
         "or use --launcher local"),
        (["--slurm-opt", "=x"], {}, "error: --slurm-opt '=x' is not KEY=VALUE or a bare flag; e.g. --slurm-opt qos=high"),
    ],
)  # fmt: skip
def test_slurm_that_cannot_take_the_jobs_is_one_line_and_writes_nothing(
    proj: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    proc = lab_proc(
        "run", "-c", "config.yaml", "seed=0,1", "--launcher", "slurm", *args, "--", PY, "train.py",
        cwd=proj, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [message]
    assert runs(proj) == []
    leftovers = [p for p in ("sweeps", "slurm", "runs") if any((proj / ".labbook" / p).glob("*"))]
    assert leftovers == []


def test_slurm_flags_need_the_slurm_launcher(proj: Path) -> None:
    proc = lab_proc("run", "--slurm-time", "5", "--", PY, "train.py", cwd=proj)
    assert (proc.returncode, proc.stderr.strip()) == (2, "error: --slurm-time needs --launcher slurm")
    assert runs(proj) == []
    assert not any((proj / ".labbook" / "runs").glob("*"))
