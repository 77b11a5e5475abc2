"""``lab logs -f`` and ``lab metrics -f``: a running run followed from another process until it ends.

Each script waits for a file the test creates, so what the follower has printed before
and after is decided by events, never by how long anything took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labbook.service.follow import MetricPoints
from labbook.store.series.compact import compact_file
from labbook.store.series.read import read
from labbook.store.series.write import SeriesWriter

from .conftest import LAB, lab, write_script

PY = sys.executable
DEADLINE = 120.0  # generous: a loaded two-core machine starts Python slowly

GATED_OUTPUT = """
import os, sys, time
print("first line", flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
print("oops", file=sys.stderr, flush=True)
for i in range(3):
    print(f"more {i}", flush=True)
"""

GATED_METRICS = """
import os, time
import labbook
run = labbook.init()
for i in range(3):
    run.log({"loss": 1 / (i + 1), "acc": i / 10}, step=i)
print("logged", flush=True)
while not os.path.exists("go"):
    time.sleep(0.02)
for i in range(3, 2000):
    run.log({"loss": 1 / (i + 1)}, step=i)
"""


class Reader:
    """A process's stdout, read as it comes by a thread, so a test can wait for a piece of it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc, self.data, self.eof, self.cond = proc, b"", False, threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc.stdout.fileno(),), daemon=True)
        self.thread.start()

    def _read(self, fd: int) -> None:
        while chunk := os.read(fd, 1 << 16):
            with self.cond:
                self.data += chunk
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, text: str) -> None:
        """Until ``text`` has been printed; fails once the output ended without it, or at the deadline."""
        deadline = time.monotonic() + DEADLINE
        with self.cond:
            while text.encode() not in self.data:
                left = deadline - time.monotonic()
                assert left > 0 and not self.eof, (
                    f"{text!r} not printed; it printed {self.data!r}{self._errors()}"
                )
                self.cond.wait(min(left, 1.0))

    def _errors(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return f" and on stderr {self.proc.stderr.read()!r}"

    def finish(self) -> tuple[int, str]:
        """Wait for the process to exit by itself; its code and everything it printed."""
        code = self.proc.wait(timeout=DEADLINE)
        self.thread.join(timeout=DEADLINE)
        return code, self.data.decode()


@pytest.fixture
def started(project: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still alive at its end are killed."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(started: list[subprocess.Popen[bytes]], *args: str, cwd: Path) -> Reader:
    proc = subprocess.Popen([*LAB, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(proc)
    return Reader(proc)


def test_logs_follow_prints_output_as_it_arrives_and_ends_with_the_run(project: Path, started) -> None:
    write_script(project, "script.py", GATED_OUTPUT)
    run = start(started, "run", "-q", "--", PY, "script.py", cwd=project)
    run.wait_for("first line")
    follower = start(started, "logs", "-f", "1", cwd=project)
    errors = start(started, "logs", "-f", "--stderr", "1", cwd=project)
    follower.wait_for("first line")
    (project / "go").touch()
    code, out = follower.finish()
    assert code == 0 and out.startswith("first line\n")
    # stdout and stderr are copied by a thread each, and an unbuffered print writes its text and
    # its newline apart, so "oops" may land anywhere among the other lines, even inside one
    assert [line for line in out.replace("oops", "").splitlines() if line] == [
        "first line",
        "more 0",
        "more 1",
        "more 2",
    ]
    assert out.count("oops") == 1
    assert errors.finish() == (0, "oops\n")
    assert run.finish()[0] == 0
    assert lab("logs", "1").stdout == out  # the same bytes as printing it afterwards


def test_ctrl_c_stops_following_quietly_and_leaves_the_run_alone(project: Path, started) -> None:
    write_script(project, "script.py", GATED_OUTPUT)
    run = start(started, "run", "-q", "--", PY, "script.py", cwd=project)
    run.wait_for("first line")
    follower = start(started, "logs", "-f", "1", cwd=project)
    follower.wait_for("first line")
    follower.proc.send_signal(signal.SIGINT)
    code, out = follower.finish()
    assert (code, out) == (130, "first line\n")
    assert follower.proc.stderr is not None and follower.proc.stderr.read() == b""
    (project / "go").touch()
    assert run.finish()[0] == 0 and lab("show", "1", "--json").stdout.count('"status": "finished"') == 1


def test_metrics_follow_prints_each_point_once_until_the_run_ends(project: Path, started) -> None:
    write_script(project, "script.py", GATED_METRICS)
    run = start(started, "run", "-q", "--", PY, "script.py", cwd=project)
    run.wait_for("logged")
    follower = start(started, "metrics", "-f", "1", "loss", cwd=project)
    follower.wait_for("\n2\t0.3333333333333333\t")  # the third point, once its writer put it on disk
    (project / "go").touch()
    code, out = follower.finish()
    assert code == 0, follower.proc.stderr.read() if follower.proc.stderr else ""
    lines = out.splitlines()
    assert lines[0] == "step\tvalue\ttime"
    points = [line.split("\t") for line in lines[1:]]
    assert [int(p[0]) for p in points] == list(range(2000))
    assert [float(p[1]) for p in points] == [1 / (i + 1) for i in range(2000)]
    assert run.finish()[0] == 0
    assert lab("metrics", "1", "loss").stdout == out  # the same lines as printing them afterwards


def test_following_a_run_that_has_ended_prints_what_it_saved(project: Path) -> None:
    write_script(project, "script.py", "print('done')\nprint('{\"acc\": 0.5}')\n")
    assert subprocess.run([*LAB, "run", "-q", "--", PY, "script.py"], cwd=project).returncode == 0
    logs = lab("logs", "-f", "1")
    assert logs.exit_code == 0 and logs.stdout == 'done\n{"acc": 0.5}\n'
    metrics = lab("metrics", "-f", "1", "acc")
    assert metrics.exit_code == 0 and metrics.stdout.splitlines()[1].startswith("0\t0.5\t")


def test_following_a_script_run_with_no_saved_output_says_so(project: Path) -> None:
    import labbook

    with labbook.init() as run:
        result = lab("logs", "-f", str(run.id))
        assert result.exit_code == 2
        assert result.stderr == f"error: run {run.id} saved no output (it was not started with lab run)\n"


@pytest.mark.parametrize("args", [["metrics", "-f", "1"], ["metrics", "-f", "1", "loss", "--json"]])
def test_metrics_follow_needs_one_key_and_lines(project: Path, args: list[str]) -> None:
    import labbook

    with labbook.init() as run:
        run.log({"loss": 1.0})
    result = lab(*args)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --follow prints one KEY's points as lines: lab metrics -f RUN KEY, without --json\n"
    )


def test_points_are_given_once_across_segments_compaction_and_writers(tmp_path: Path) -> None:
    """Files roll into new segments and are rewritten by compaction between looks: the points
    given are still exactly those on disk, each once."""
    from labbook.formats.series import encode_block

    folder = tmp_path / "metrics"
    points = MetricPoints(folder, "loss")
    given = points.new()
    assert given == []
    writers = [SeriesWriter(folder / f"{name}.lbm", segment_bytes=3000) for name in ("a", "b")]
    compacted: set[Path] = set()
    t0 = 1_700_000_000_000
    for i in range(0, 800, 4):
        steps = list(range(i, i + 4))
        times = [t0 + 10 * s for s in steps]
        writers[(i // 4) % 2].append(
            [
                encode_block("loss", steps, times, [s / 7 for s in steps]),
                encode_block("other", steps, times, [0.0] * 4),
            ]
        )
        if i % 40 == 0:
            given += points.new()
        if i % 120 == 0:  # a closed segment compacted between looks
            closed = [p for p in sorted(folder.glob("a.*.lbm")) if p != writers[0].path]
            if closed and compact_file(closed[0]).status == "compacted":
                compacted.add(closed[0])
    given += points.new()
    for w in writers:
        w.close()  # compacts the last segments
    given += points.new()
    assert len(list(folder.glob("*.lbm"))) > 4 and compacted
    on_disk = read(folder, "loss").series["loss"]
    assert [(s, v) for s, v, _ in given] == list(
        zip(on_disk.steps.tolist(), on_disk.values.tolist(), strict=True)
    )
    assert [s for s, _, _ in given] == list(range(800))
    assert points.new() == []


def test_following_ends_when_the_owner_dies_and_the_run_is_reaped(project: Path, started) -> None:
    """A run whose process was killed never says it ended; the reaper's crashed status ends the follow."""
    write_script(
        project,
        "script.py",
        "import os, signal, time\nimport labbook\nrun = labbook.init()\nprint('up', flush=True)\n"
        "while not os.path.exists('go'):\n    time.sleep(0.02)\nos.kill(os.getpid(), signal.SIGKILL)\n",
    )
    script = subprocess.Popen([PY, "script.py"], cwd=project, stdout=subprocess.PIPE)
    started.append(script)
    Reader(script).wait_for("up")
    follower = start(started, "metrics", "-f", "1", "loss", cwd=project)
    follower.wait_for("step\tvalue\ttime\n")
    (project / "go").touch()
    code, out = follower.finish()
    assert script.wait(timeout=DEADLINE) == -9
    stderr = follower.proc.stderr.read().decode() if follower.proc.stderr else ""
    assert code == 2 and out == "step\tvalue\ttime\n"
    assert "has not logged 'loss' yet" in stderr and "run 1 has no metric 'loss'" in stderr
