"""``lab run``: supervise one command as a run on this machine.

The supervisor owns the run. It starts the command in a session and process group of
its own with stdin inherited (so ``input()`` and debuggers work at a terminal) and the run
named in its environment (so the SDK attaches instead of starting a second run), streams
stdout and stderr to the terminal byte for byte while saving them, turns stdout lines that
are JSON objects of numbers into metrics, captures the code state in a background thread
while the command runs, samples system metrics, heartbeats, and records how the command
ended.

The command is its whole process group, not only the process ``lab run`` started:

- Ctrl-C, SIGTERM and SIGHUP to ``lab run`` are passed on to the group (in a session of its
  own the command no longer hears the terminal), SIGKILL follows after the grace
  (``LABBOOK_KILL_GRACE`` seconds). Ctrl-Z stops the group along with ``lab run``.
- When the started process exits, the command is over: what is left of its group gets
  SIGTERM, SIGKILL after the grace, and ``lab run`` says so on stderr. Output already in
  the pipes is saved; a process that left the group cannot keep ``lab run`` waiting.
- If ``lab run`` dies (kill -9), the kernel kills the started process (Linux parent-death
  signal). Its own children are not covered; they find the supervisor in
  ``LABBOOK_SUPERVISOR=<pid>:<start stamp>`` (the stamp as
  ``labbook.service.liveness.process_started`` gives it, so a reused pid does not pass for it), and
  the SDK inside the command stops its process group once that process is gone.

How the command ended, and the run's status (``lab run`` exits with the command's exit
code, or 128+N when signal N ended it):

    exit 0                                          finished
    exit non-zero, or another fatal signal          failed
    Ctrl-C / SIGTERM / SIGHUP to lab run            killed, whatever the command exited with
      (arriving after the started process exited:   its own outcome, as above)
    SIGINT / SIGTERM / SIGHUP from elsewhere        killed
    SIGKILL from elsewhere (OOM)                    crashed
    lab run itself killed                           crashed (its process is gone)
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from labbook.core.lineparse import LinePattern
from labbook.errors import LaunchError
from labbook.launch.artifacts import argv_inputs, before_start, keep_outputs
from labbook.launch.lines import LineMetrics
from labbook.launch.process import FORWARD, POLL_S, Signals, start, stop_leftovers, wait
from labbook.records.runs import CRASHED, FAILED, FINISHED, KILLED, RunRecord
from labbook.service.liveness import process_started
from labbook.service.notebook import Notebook
from labbook.service.place import ENV_DIR
from labbook.tracking.recorder import Recorder
from labbook.tracking.sdk import ENV_CAPTURE_PYTHON, ENV_SUPERVISOR

if TYPE_CHECKING:
    from labbook.tracking.tfevents import EventFollower


@dataclass(frozen=True)
class Capture:
    """What ``lab run`` reads from the command besides JSON lines on stdout."""

    patterns: tuple[LinePattern, ...] = ()  # --parse
    logdirs: tuple[Path, ...] = ()  # --logdir: TensorBoard folders outside the working directory
    tensorboard: bool = True  # follow the event files the command writes
    artifacts: tuple[str, ...] = ()  # --artifact: globs below the working directory, kept at the end
    snapshot: bool = False  # --snapshot: keep the repository's untracked files before the command starts


DRAIN_READS = 1024  # at most this many reads of what is in a pipe once its pump is stopped


def resolve_command(argv: list[str], path: str | None = None) -> str:
    """The executable ``argv`` will run, or a LaunchError saying why it cannot start.

    ``path``: the PATH the command will be started with, when it is not this process's.
    """
    if not argv or not argv[0].strip():
        raise LaunchError("no command given; write it after --, e.g. lab run -- python train.py")
    exe = shutil.which(argv[0], path=path)
    if exe is None:
        if os.sep in argv[0] and Path(argv[0]).exists():
            raise LaunchError(f"{argv[0]} is not executable; chmod +x it or run it through its interpreter")
        raise LaunchError(f"command not found: {argv[0]}; check the spelling or your PATH")
    return exe


class _Pump(threading.Thread):
    """Copies one pipe to the terminal and the log files, chunk by chunk, until EOF or ``stop``.

    EOF alone is not enough: a process that left the command's group can hold the pipe
    open long after the command is over.
    """

    def __init__(
        self, fd: int, sinks: list[IO[bytes]], on_line: Callable[[bytes], None] | None, lock: threading.Lock
    ) -> None:
        super().__init__(daemon=True, name=f"labbook-pump-{fd}")
        self.fd, self.sinks, self.on_line, self.lock = fd, sinks, on_line, lock
        self.partial = b""
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Finish after copying what is already in the pipe."""
        self.stopping.set()

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            if self.stopping.is_set():
                self._drain()
                break
            if poller.poll(POLL_S * 1000) and not self._copy():
                break
        if self.on_line is not None and self.partial:
            self.on_line(self.partial)

    def _drain(self) -> None:
        os.set_blocking(self.fd, False)
        for _ in range(DRAIN_READS):
            if not self._copy():
                return

    def _copy(self) -> bool:
        """One read to the sinks; False at EOF or when nothing more can be read."""
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # BlockingIOError included: a drained pipe
            return False
        if not chunk:
            return False
        with self.lock:
            for sink in self.sinks:
                try:
                    sink.write(chunk)
                    sink.flush()
                except (OSError, ValueError):
                    pass  # a closed terminal must not stop the run or its log
        if self.on_line is not None:
            self._lines(chunk)
        return True

    def _lines(self, chunk: bytes) -> None:
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        if len(self.partial) > 1 << 20:  # a "line" this long is not a metrics line
            self.partial = b""
        for line in lines:
            self.on_line(line)  # type: ignore[misc]


def _status(returncode: int, interrupted: bool) -> tuple[str, int]:
    """Run status and the exit code ``lab run`` returns (a shell's 128+N for signals).

    ``interrupted``: ``lab run`` was told to stop while the command's process still ran;
    whatever it then exited with, it did not end of its own accord.
    """
    code = returncode if returncode >= 0 else 128 - returncode
    if interrupted:
        return KILLED, code
    if returncode >= 0:
        return (FINISHED if returncode == 0 else FAILED), code
    if -returncode in FORWARD:
        return KILLED, code
    return (CRASHED if -returncode == signal.SIGKILL else FAILED), code


def execute(
    notebook: Notebook,
    argv: list[str],
    *,
    name: str | None = None,
    tags: tuple[str, ...] = (),
    note: str | None = None,
    params: dict[str, Any] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    on_start: Callable[[int, list[str]], None] | None = None,
    cwd: str | None = None,
    hypothesis: str | int | None = None,
    config: dict[str, Any] | None = None,
    sweep_id: str | None = None,
    extra_capture: dict[str, Any] | None = None,
    adopt: str | None = None,
    env: dict[str, str] | None = None,
    capture: Capture | None = None,
) -> tuple[int, int]:
    """Run ``argv`` as a new run; returns (run id, exit code for ``lab run``).

    ``adopt``: the uid of a pending run (queued on a cluster) to run instead of a new one.

    ``capture``: ``--parse`` patterns and TensorBoard folders (default: follow event files
    below ``cwd``).

    ``env``: variables the command gets on top of this process's environment (a rerun's
    captured ones); this process's own environment is left as it is.

    With ``config``, the resolved config is written to the run's ``config.yaml``, named in
    ``LABBOOK_CONFIG``, recorded as the run's parameters, and ``{key}`` / ``{config}``
    placeholders in ``argv`` are filled in.
    """
    from labbook.core.config import flatten, substitute

    if config is not None:
        substitute(argv, config, Path("config.yaml"))  # every placeholder checked before anything is written
        params = {**flatten(config), **(params or {})}
    environ = {**os.environ, **(env or {})}
    resolve_command(argv, environ.get("PATH"))
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer
    cwd = cwd or os.getcwd()
    signals = Signals()  # before the run exists, so a Ctrl-C at any point ends it as killed
    try:
        if adopt is not None:
            record = notebook.adopt_run(adopt, cwd)
            if params:
                notebook.set_params(record.id, params)
        else:
            record = notebook.start_run(
                name=name,
                tags=tags,
                note=note,
                command=list(argv),
                cwd=cwd,
                params=params,
                source="cli",
                hypothesis=hypothesis,
                sweep_id=sweep_id,
            )
        return _supervise(
            notebook,
            record,
            argv,
            signals,
            cwd,
            stdout,
            stderr,
            on_start,
            config,
            extra_capture,
            environ,
            capture or Capture(),
        )
    finally:
        signals.restore()


def _supervise(
    notebook: Notebook,
    record: RunRecord,
    argv: list[str],
    signals: Signals,
    cwd: str,
    stdout: IO[bytes],
    stderr: IO[bytes],
    on_start: Callable[[int, list[str]], None] | None,
    config: dict[str, Any] | None,
    extra_capture: dict[str, Any] | None,
    environ: dict[str, str],
    capture: Capture,
) -> tuple[int, int]:
    from labbook.tracking.capture import command_python
    from labbook.tracking.uploader import start_uploader

    python = command_python(argv)
    env = _child_env(notebook, record, environ, python)
    typed = list(argv)
    argv = _fill_config(notebook, record, argv, env, config, extra_capture)
    if on_start is not None:
        on_start(record.id, argv)
    capture_thread = _capture_in_background(notebook, record, argv, cwd, env, python, typed)

    def say_now(text: str) -> None:  # the output pumps have not started yet
        _say(stderr, threading.Lock(), text)

    before_start(notebook, record, cwd, capture.artifacts, capture.snapshot, say_now)

    interrupted = signals.interrupted
    if interrupted.is_set():  # stopped before the command began: it never runs
        capture_thread.join()
        notebook.end_run(record.id, KILLED, 130)
        return record.id, 130
    began = time.time()
    try:
        proc = start(argv, env, cwd)
    except OSError as err:
        capture_thread.join()
        notebook.end_run(record.id, FAILED, 127)
        raise LaunchError(f"could not start {argv[0]}: {err.strerror or err}") from None
    signals.attach(proc)

    recorder = _recorder(notebook, record, proc.pid)
    outputs = _Outputs(proc, notebook.run_dir(record), stdout, stderr, recorder, capture.patterns)
    uploader = start_uploader(notebook.root, record.id, outputs.say)  # None unless a server is configured
    follower = _follow_events(capture, cwd, recorder, proc.pid, began, outputs.say)
    ended = False
    try:
        returncode = wait(proc, signals)
        stop_leftovers(proc.pid, signals.deadline, lambda text: outputs.say(f"{text} of run {record.id}"))
        ended = True
    finally:
        outputs.close()
        followed = follower.stop() if follower is not None else None
        if followed:
            notebook.record_capture(record.id, followed)
        if ended and capture.artifacts:  # before the recorder closes: heartbeats go on while large files copy
            keep_outputs(notebook, record, cwd, capture.artifacts, outputs.say)
        report = recorder.close()
        capture_thread.join()
    status, code = _status(returncode, interrupted.is_set())
    problem = notebook.settle_run(record, status, code if returncode >= 0 else returncode, report)
    for line in (report.warning, problem, *_unreached(notebook, record, config, typed)):
        if line:
            outputs.say(line)
    if uploader is not None:
        uploader.finish()
    return record.id, code


def _unreached(
    notebook: Notebook, record: RunRecord, config: dict[str, Any] | None, typed: list[str]
) -> list[str]:
    """Warnings for config values the program never got (``core.config.unreached``)."""
    if not config:
        return []
    from labbook.core.config import unreached

    ended = notebook.store.runs.get_run(record.id)
    return [f"warning: {line}" for line in unreached(config, typed, ended.params if ended else {})]


def _follow_events(
    capture: Capture, cwd: str, recorder: Recorder, pid: int, began: float, say: Callable[[str], None]
) -> EventFollower | None:
    if not capture.tensorboard:
        return None
    from labbook.tracking.tfevents import EventFollower

    follower = EventFollower([Path(cwd), *capture.logdirs], recorder, pid, began, say)
    follower.start()
    return follower


def _child_env(
    notebook: Notebook, record: RunRecord, environ: dict[str, str], python: str | None
) -> dict[str, str]:
    """The command's environment: the run named (so the SDK attaches to it) and this supervisor."""
    env = dict(environ)
    env.update({"LABBOOK_RUN_ID": record.uid, ENV_DIR: str(notebook.root), "PYTHONUNBUFFERED": "1"})
    env[ENV_SUPERVISOR] = f"{os.getpid()}:{process_started(os.getpid()) or 0.0}"
    if python is None:  # not a Python command: the SDK, if the command reaches it, says which Python ran
        env[ENV_CAPTURE_PYTHON] = "1"
    return env


def _fill_config(
    notebook: Notebook,
    record: RunRecord,
    argv: list[str],
    env: dict[str, str],
    config: dict[str, Any] | None,
    extra_capture: dict[str, Any] | None,
) -> list[str]:
    """Write the run's config.yaml and fill the command's placeholders; the filled command is recorded."""
    from labbook.core.config import dump, substitute

    if config is None:
        if extra_capture:
            notebook.record_capture(record.id, extra_capture)
        return argv
    config_path = dump(config, notebook.run_dir(record) / "config.yaml")
    env["LABBOOK_CONFIG"] = str(config_path)
    typed, argv = argv, substitute(argv, config, config_path)
    if argv != typed:  # the run's command is what ran; a rerun fills the typed one again
        notebook.set_command(record.id, argv)
    notebook.record_capture(record.id, {"config": config, "command_typed": typed, **(extra_capture or {})})
    return argv


def _capture_in_background(
    notebook: Notebook,
    record: RunRecord,
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    python: str | None,
    typed: list[str],
) -> threading.Thread:
    """Code state, packages, machine and input files, captured while the command already runs.

    ``typed``: the command as given (placeholders unfilled), whose arguments a rerun checks.
    """
    from labbook.tracking.capture import capture_all

    def capture() -> None:
        found = capture_all(
            argv, cwd, env, python=python, cache_dir=notebook.cache_dir, with_python=bool(python)
        )
        inputs = argv_inputs(typed, cwd)
        if inputs:
            found["inputs"] = inputs
        notebook.record_capture(record.id, found)

    thread = threading.Thread(target=capture, daemon=True, name="labbook-capture")
    thread.start()
    return thread


def _recorder(notebook: Notebook, record: RunRecord, pid: int) -> Recorder:
    from labbook.service.liveness import HEARTBEAT_S
    from labbook.tracking.sysmon import sample_interval, sampler_for

    return Recorder(
        notebook.store,
        record.id,
        notebook.run_dir(record) / "metrics",
        "stdout",
        heartbeat_s=HEARTBEAT_S,
        sampler=sampler_for([pid]),
        sample_s=sample_interval(),
    )


class _Outputs:
    """The command's stdout and stderr, copied to the terminal and the run's logs; stdout metric lines logged."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        run_dir: Path,
        stdout: IO[bytes],
        stderr: IO[bytes],
        recorder: Recorder,
        patterns: Sequence[LinePattern],
    ) -> None:
        self.proc, self.stderr, self.recorder = proc, stderr, recorder
        self.lock = threading.Lock()
        self.output = open(run_dir / "output.log", "ab")
        self.errors = open(run_dir / "stderr.log", "ab")
        assert proc.stdout is not None and proc.stderr is not None
        out_lines = LineMetrics(recorder, patterns, json_lines=True)
        err_lines = LineMetrics(recorder, patterns, json_lines=False)
        self.pumps = [
            _Pump(proc.stdout.fileno(), [stdout, self.output], out_lines, self.lock),
            _Pump(
                proc.stderr.fileno(),
                [stderr, self.output, self.errors],
                err_lines if err_lines.wanted else None,
                self.lock,
            ),
        ]
        for pump in self.pumps:
            pump.start()

    def say(self, text: str) -> None:
        _say(self.stderr, self.lock, text)

    def close(self) -> None:
        """Copy what is left in the pipes, then close them and the logs."""
        for pump in self.pumps:
            pump.stop()
        for pump in self.pumps:
            pump.join()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.output.close()
        self.errors.close()


def _say(stream: IO[bytes], lock: threading.Lock, text: str) -> None:
    with lock:  # not in the middle of the command's output
        try:
            stream.write(f"labbook: {text}\n".encode())
            stream.flush()
        except (OSError, ValueError):
            pass
