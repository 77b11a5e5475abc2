"""``lab run`` as a user meets it: real subprocesses, real git, real signals."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest

from labbook.records.runs import NewRun, Owner
from labbook.service.liveness import current_owner
from labbook.service.notebook import Notebook

from .conftest import LAB, lab_proc

PY = sys.executable


def run_record(project: Path, ref: int = 1):
    with Notebook.open(project) as nb:
        return nb.get_run(ref)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_captures_code_state_environment_and_machine(project: Path) -> None:
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text("print('v1')\n")
    git(project, "add", "train.py")
    git(project, "commit", "-q", "-m", "first")
    (project / "train.py").write_text("print('v2')\n")  # uncommitted change
    (project / "notes.txt").write_text("untracked\n")
    env = {
        "CUDA_VISIBLE_DEVICES": "0",
        "OMP_NUM_THREADS": "2",
        "MY_API_TOKEN": "s3cret",
        "TORCH_SECRET_KEY": "s3cret",
        "DB_PASSWORD": "s3cret",
        "UNRELATED": "x",
        "LABBOOK_ENV_ALLOW": "EXTRA_*",
        "EXTRA_FLAG": "on",
    }
    proc = lab_proc(
        "run",
        "-n",
        "cap",
        "--tag",
        "a",
        "--note",
        "why",
        "--",
        PY,
        "train.py",
        "--lr",
        "3",
        cwd=project,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "v2\n"
    r = run_record(project)
    cap = r.capture
    assert r.name == "cap" and r.tags == ("a",) and r.note == "why"
    assert r.command == [PY, "train.py", "--lr", "3"] and r.cwd == str(project)
    assert cap["git"]["commit"] == git(project, "rev-parse", "HEAD")
    assert cap["git"]["branch"] == "main" and cap["git"]["dirty"] is True
    assert cap["git"]["untracked"] == ["notes.txt"]
    with Notebook.open(project) as nb:
        patch = nb.blob(cap["patch"])
        packages = nb.blob(cap["packages"])
    assert "-print('v1')" in patch and "+print('v2')" in patch
    assert "numpy==" in packages and "click==" in packages
    assert cap["env"]["CUDA_VISIBLE_DEVICES"] == "0" and cap["env"]["OMP_NUM_THREADS"] == "2"
    assert cap["env"]["EXTRA_FLAG"] == "on"
    assert "s3cret" not in json.dumps(cap) and "UNRELATED" not in cap["env"]
    assert cap["python"]["version"] == sys.version.split()[0]
    assert cap["system"]["cpu_count"] == os.cpu_count() and cap["system"]["ram_bytes"] > 0
    assert cap["system"]["hostname"] == r.host
    assert r.status == "finished" and r.exit_code == 0 and r.ended_at >= r.started_at


def test_outside_git_the_capture_says_so(project: Path) -> None:
    proc = lab_proc("run", "--", PY, "-c", "pass", cwd=project)
    assert proc.returncode == 0
    assert run_record(project).capture["git"] == {"repo": None, "reason": "not a git repository"}


def test_output_streams_through_unchanged_and_is_saved(project: Path) -> None:
    body = r"""
import sys
sys.stdout.write("progress 10%\rprogress 100%\n")
sys.stdout.write("héllo ✓\n")
sys.stderr.write("a warning\n")
sys.stdout.write("no newline at end")
"""
    proc = subprocess.run([*LAB, "run", "-q", "--", PY, "-c", body], cwd=project, capture_output=True)
    assert proc.returncode == 0
    assert proc.stdout == "progress 10%\rprogress 100%\nhéllo ✓\nno newline at end".encode()
    assert proc.stderr == b"a warning\n"
    out = lab_proc("logs", "1", cwd=project)
    assert "héllo ✓" in out.stdout and "a warning" in out.stdout
    assert lab_proc("logs", "1", "--stderr", cwd=project).stdout == "a warning\n"


@pytest.mark.parametrize(("code", "status"), [(0, "finished"), (3, "failed"), (1, "failed")])
def test_exit_code_is_the_commands(project: Path, code: int, status: str) -> None:
    proc = lab_proc("run", "--", PY, "-c", f"raise SystemExit({code})", cwd=project)
    assert proc.returncode == code
    r = run_record(project)
    assert (r.status, r.exit_code) == (status, code)
    assert f"run 1 {status}" in proc.stderr


def test_json_lines_on_stdout_become_metrics(project: Path) -> None:
    body = """
import json
for i in range(5):
    print(json.dumps({"loss": 1 / (i + 1), "step": i * 10}))
print(json.dumps({"loss": float("nan")}))
print(json.dumps({"phase": "eval", "acc": 1}))
print('{"broken": ')
print("plain text")
"""
    proc = lab_proc("run", "--", PY, "-c", body, cwd=project)
    assert proc.returncode == 0
    r = run_record(project)
    assert set(r.metrics) == {"loss"}  # the line with a string value is only text
    m = r.metrics["loss"]
    assert (m.count, m.nan_count, m.min, m.max) == (6, 1, 0.2, 1.0) and math.isnan(m.last)
    with Notebook.open(project) as nb:
        assert nb.series(r, "loss").steps.tolist() == [0, 10, 20, 30, 40, 41]


def test_sdk_inside_lab_run_attaches_to_the_same_run(project: Path) -> None:
    (project / "train.py").write_text(
        textwrap.dedent("""
        import labbook
        with labbook.init(config={"lr": 0.1}, tags=["sdk"], name="from-sdk", note="n") as run:
            for i in range(50):
                run.log({"loss": 1.0 / (i + 1)}, step=i)
            run.summary["best"] = 0.5
        print("run", run.id)
    """)
    )
    proc = lab_proc("run", "--tag", "cli", "--", PY, "train.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "run 1\n"
    with Notebook.open(project) as nb:
        runs, total = nb.list_runs(limit=0)
    assert total == 1
    r = runs[0]
    assert r.tags == ("cli", "sdk") and r.params == {"lr": 0.1} and r.summary == {"best": 0.5}
    assert r.metrics["loss"].count == 50 and r.status == "finished" and r.source == "cli"
    assert (r.name, r.note) == ("from-sdk", "n")


def test_sdk_failure_inside_lab_run_fails_the_run(project: Path) -> None:
    body = "import labbook\nrun = labbook.init()\nrun.log({'x': 1})\nrun.log({'x': 'oops'})\n"
    proc = lab_proc("run", "--", PY, "-c", body, cwd=project)
    assert proc.returncode == 1
    assert "MetricValueError: metric 'x' got str" in proc.stderr
    r = run_record(project)
    assert r.status == "failed" and r.metrics["x"].count == 1


def _wait_running(project: Path, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (project / ".labbook" / "started").exists():
            return
        time.sleep(0.05)
    raise AssertionError("the command never started")


LOOP = """
import pathlib, time
pathlib.Path(".labbook/started").touch()
while True:
    time.sleep(0.05)
"""


@contextmanager
def lab_run_loop(project: Path, body: str = LOOP, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`lab run` of a looping command, waited for; whatever survives the test is killed."""
    proc = subprocess.Popen(
        [*LAB, "run", "--", PY, "-c", body], cwd=project, env=dict(os.environ, **env), stderr=subprocess.PIPE
    )
    try:
        _wait_running(project)
        yield proc
    finally:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        except psutil.Error:
            pass
        proc.kill()
        proc.wait()


def test_ctrl_c_stops_the_command_and_marks_it_killed(project: Path) -> None:
    with lab_run_loop(project) as proc:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    assert run_record(project).status == "killed"


def test_a_command_that_ignores_ctrl_c_is_killed_after_the_grace(project: Path) -> None:
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + LOOP
    with lab_run_loop(project, stubborn, LABBOOK_KILL_GRACE="1") as proc:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    assert run_record(project).status == "killed"


def the_command(proc: subprocess.Popen[bytes]) -> psutil.Process:
    """The command ``lab run`` started: not a child it runs meanwhile (the package list, say)."""
    (command,) = [c for c in psutil.Process(proc.pid).children() if c.cmdline()[-1:] == [LOOP]]
    return command


def test_sigkill_of_the_command_from_outside_reads_as_crashed(project: Path) -> None:
    with lab_run_loop(project) as proc:
        the_command(proc).send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == 137
    assert run_record(project).status == "crashed"


def test_kill_9_of_lab_run_itself_reads_as_crashed(project: Path) -> None:
    with lab_run_loop(project) as proc:
        child = the_command(proc)
        assert run_record(project).status == "running"
        proc.kill()
        proc.wait()
        with suppress(psutil.NoSuchProcess):  # the command dies with lab run (parent-death signal)
            child.kill()
    out = lab_proc("ls", "--json", cwd=project)
    assert json.loads(out.stdout)[0]["status"] == "crashed"
    assert lab_proc("show", "1", cwd=project).stdout.count("crashed") == 1


def test_runs_of_other_hosts_crash_only_when_their_heartbeat_is_stale(notebook: Notebook) -> None:
    now = time.time()
    far = Owner("another-host", 4242, 1.0, "boot")
    for uid, heartbeat in (("fresh", now - 5), ("stale", now - 3600)):
        run_id = notebook.store.runs.create_run(NewRun(uid, uid, now - 4000, None, None, "/", "cli", far))
        notebook.store.runs.heartbeat(run_id, heartbeat)
    by_name = {r.name: r.status for r in notebook.list_runs(limit=0)[0]}
    assert by_name == {"fresh": "running", "stale": "crashed"}
    # a heartbeat from a run taken for dead brings it back
    stale = notebook.store.runs.find_run_ids("stale")[0]
    notebook.store.runs.heartbeat(stale, time.time())
    assert notebook.get_run(stale).status == "running"


def test_a_live_local_run_stays_running(notebook: Notebook) -> None:
    run = notebook.start_run(owner=current_owner())
    notebook.store.runs.heartbeat(run.id, time.time() - 10_000)  # silent, but its process is alive
    assert notebook.get_run(run.id).status == "running"


FAKE_SMI = """#!/bin/sh
case "$*" in
  *name,memory.total*)
    echo "0, NVIDIA A100-SXM4-80GB, 81920, 550.54"
    echo "1, NVIDIA A100-SXM4-80GB, 81920, 550.54" ;;
  *utilization.gpu*) echo "0, 87, 40000"; echo "1, 3, 1200" ;;
  *) exit 1 ;;
esac
"""


def test_system_metrics_and_gpus_are_recorded(project: Path, tmp_path_factory) -> None:
    """GPUs through an `nvidia-smi` on PATH (a stand-in here: this machine has no GPU)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LABBOOK_SYSTEM_INTERVAL": "0.2",
        "LABBOOK_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),  # GPUs are probed once per boot
    }
    body = "import time\nend = time.time() + 2.5\nwhile time.time() < end:\n    sum(range(10000))\n"
    proc = lab_proc("run", "--", PY, "-c", body, cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr
    r = run_record(project)
    gpus = r.capture["system"]["gpus"]
    assert [g["name"] for g in gpus] == ["NVIDIA A100-SXM4-80GB"] * 2 and gpus[0]["memory_mb"] == 81920
    m = r.metrics
    assert m["sys/cpu_percent"].count >= 2 and m["sys/cpu_percent"].max > 20  # the busy loop shows
    assert m["sys/rss_mb"].min > 1 and 0 < m["sys/ram_used_percent"].last < 100
    assert m["sys/gpu0_util_percent"].last == 87 and m["sys/gpu1_mem_mb"].last == 1200
    assert "NVIDIA A100-SXM4-80GB" in lab_proc("show", "1", cwd=project, env=env).stdout


def test_ctrl_c_typed_at_a_real_terminal(project: Path) -> None:
    """Under a pty, Ctrl-C reaches lab run (the command, in its own session, hears it from lab run); killed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: lab run in the pty's foreground process group
        os.chdir(project)
        os.execv(LAB[0], [*LAB, "run", "--", PY, "-c", LOOP])
    try:
        _wait_running(project)
        time.sleep(0.3)
        os.write(fd, b"\x03")
        deadline = time.time() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.time() < deadline, "lab run did not stop after Ctrl-C"
            try:
                os.read(fd, 65536)  # keep the pty drained
            except OSError:
                pass
            time.sleep(0.05)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    assert run_record(project).status == "killed"


def test_a_shell_command_records_the_python_its_sdk_ran_and_no_guess(project: Path) -> None:
    """lab run -- sh -c '...': which Python runs is known only to the SDK inside, if any."""
    (project / "train.py").write_text("import labbook\nwith labbook.init() as run:\n    run.log({'x': 1})\n")
    proc = lab_proc("run", "--", "sh", "-c", f"{PY} train.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    run = run_record(project)
    assert run.capture["python"]["executable"] == PY and run.capture["packages"]
    plain = lab_proc("run", "--", "sh", "-c", "echo no python here", cwd=project)
    assert plain.returncode == 0
    run = run_record(project, 2)
    assert "python" not in run.capture and "packages" not in run.capture and run.capture["git"] is not None
    assert "\npython " not in lab_proc("show", "2", cwd=project).stdout
