"""``lab run`` owns the command's whole process tree: signals, leftovers, its own death.

Real ``lab run`` subprocesses with commands that start children. Nothing here waits on
the clock: the commands write their pids to files when ready, and the tests wait for
files, process exits and statuses, with generous timeouts for a loaded machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from labbook.service.liveness import process_started
from labbook.service.notebook import Notebook

from .conftest import LAB

PY = sys.executable
TIMEOUT = 60.0

# Ready files are written whole under a temporary name, then renamed: a reader never sees half.
READY = """
import os, signal, subprocess, sys, time
def ready(name, *pids):
    with open(name + ".tmp", "w") as fh:
        fh.write(" ".join(map(str, pids)))
    os.replace(name + ".tmp", name)
def wait_for(name):
    while not os.path.exists(name):
        time.sleep(0.01)
def forever():
    while True:
        time.sleep(0.05)
"""


def wait_until(what: str, check: Callable[[], object], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def pids_in(path: Path) -> list[int]:
    wait_until(f"{path.name} is written", path.exists)
    return [int(p) for p in path.read_text().split()]


def gone(pid: int) -> bool:
    return process_started(pid) is None


def status(project: Path) -> str:
    with Notebook.open(project) as nb:
        return nb.get_run(1).status


def script(project: Path, name: str, body: str) -> str:
    (project / name).write_text(READY + textwrap.dedent(body))
    return name


@contextmanager
def lab_run(project: Path, *command: str, grace: str = "2") -> Iterator[subprocess.Popen[bytes]]:
    """``lab run -- command``; whatever pid the command wrote to a file is killed afterwards."""
    env = dict(os.environ, LABBOOK_KILL_GRACE=grace)
    proc = subprocess.Popen(
        [*LAB, "run", "--", *command], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        for path in project.glob("*.pid"):
            for pid in path.read_text().split():
                with suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        proc.kill()
        proc.communicate()


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Wait for ``lab run`` (it must not hang); its exit code and output (stdout, then stderr)."""
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"lab run did not return; its output:\n{(out + err).decode()}") from None
    return proc.returncode, (out + err).decode()


def test_sigterm_stops_the_command_and_its_children(project: Path) -> None:
    script(project, "child.py", "ready('tree.pid', os.getppid(), os.getpid())\nforever()\n")
    with lab_run(project, "sh", "-c", f"{PY} child.py; echo after") as proc:
        shell, child = pids_in(project / "tree.pid")
        assert shell != proc.pid  # the shell did not exec the child: it is a grandchild
        proc.send_signal(signal.SIGTERM)
        code, _ = finish(proc)
        wait_until("the shell and its child are gone", lambda: gone(shell) and gone(child))
    assert code == 128 + signal.SIGTERM
    assert status(project) == "killed"


LEFTOVER = """
if sys.argv[1:] == ["child"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready("child.pid", os.getpid())
    forever()
subprocess.Popen([sys.executable, __file__, "child"])  # shares stdout; outlives this process
wait_for("child.pid")
print("main done", flush=True)
"""


def test_a_leftover_child_does_not_keep_lab_run_waiting(project: Path) -> None:
    script(project, "main.py", LEFTOVER)
    with lab_run(project, PY, "main.py", grace="1") as proc:
        code, output = finish(proc)
        (child,) = pids_in(project / "child.pid")
        wait_until("the leftover is killed", lambda: gone(child))
    assert code == 0, output
    assert "main done\n" in output and "labbook: stopped 1 leftover process of run 1\n" in output
    assert status(project) == "finished"


ESCAPED = """
if sys.argv[1:] == ["child"]:
    os.setsid()
    ready("escaped.pid", os.getpid())
    forever()
subprocess.Popen([sys.executable, __file__, "child"])
wait_for("escaped.pid")
print("main done", flush=True)
"""


def test_a_process_that_left_the_group_does_not_hold_lab_run(project: Path) -> None:
    script(project, "main.py", ESCAPED)
    with lab_run(project, PY, "main.py") as proc:
        code, output = finish(proc)
        (escaped,) = pids_in(project / "escaped.pid")
        assert not gone(escaped)  # it held the pipe open all along, and lab run returned anyway
    assert code == 0, output
    assert status(project) == "finished"


def test_the_command_dies_with_a_killed_lab_run(project: Path) -> None:
    script(project, "quiet.py", "ready('quiet.pid', os.getpid())\nforever()\n")
    with lab_run(project, PY, "quiet.py") as proc:
        (child,) = pids_in(project / "quiet.pid")
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        wait_until("the command is gone", lambda: gone(child))
    assert status(project) == "crashed"


def test_a_grandchild_logging_through_the_sdk_stops_when_lab_run_dies(project: Path) -> None:
    """The parent-death signal covers lab run's own child only; the SDK follows LABBOOK_SUPERVISOR."""
    script(
        project,
        "worker.py",
        """
        import labbook
        run = labbook.init()
        ready("worker.pid", os.getpid())
        i = 0
        while True:
            run.log({"x": i}, step=i)
            i += 1
            time.sleep(0.01)
        """,
    )
    shell = ["sh", "-c", f"{PY} worker.py; sleep 600"]  # the worker is a grandchild of lab run
    with lab_run(project, *shell, grace="1") as proc:
        (worker,) = pids_in(project / "worker.pid")
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        wait_until("the worker stopped with its supervisor", lambda: gone(worker))
    assert status(project) == "crashed"


LATE = """
if sys.argv[1:] == ["child"]:
    terms = []
    def on_term(signum, frame):
        terms.append(signum)
        if len(terms) == 1:
            ready("first-term", os.getpid())  # lab run's own SIGTERM to a leftover
        else:
            sys.exit(0)  # the SIGTERM given to lab run, passed on
    signal.signal(signal.SIGTERM, on_term)
    ready("child.pid", os.getpid())
    forever()
subprocess.Popen([sys.executable, __file__, "child"])
wait_for("child.pid")
"""


def test_sigterm_after_the_command_ended_keeps_its_outcome(project: Path) -> None:
    script(project, "main.py", LATE)
    with lab_run(project, PY, "main.py", grace="600") as proc:
        pids_in(project / "first-term")  # the command has exited: lab run is stopping leftovers
        proc.send_signal(signal.SIGTERM)
        code, output = finish(proc)
    assert code == 0, output
    assert "labbook: stopped 1 leftover process of run 1" in output
    assert status(project) == "finished"


HANDLES = """
signal.signal(signal.{signal}, lambda signum, frame: sys.exit(0))
ready("handler.pid", os.getpid())
forever()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_command_that_exits_0_when_interrupted_was_killed(project: Path, sig: signal.Signals) -> None:
    script(project, "handler.py", HANDLES.format(signal=sig.name))
    with lab_run(project, PY, "handler.py") as proc:
        pids_in(project / "handler.pid")
        proc.send_signal(sig)
        code, output = finish(proc)
    assert code == 0, output  # lab run exits as the command did
    assert status(project) == "killed"
