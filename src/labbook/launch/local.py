"""``lab run``: supervise one command as a run on this machine.

The supervisor owns the run. It starts the command in its own process group (so the
terminal, stdin and debuggers behave as they would without labbook) with the run
named in its environment (so the SDK attaches instead of starting a second run),
streams stdout and stderr to the terminal byte for byte while saving them, turns stdout
lines that are JSON objects of numbers into metrics, captures the code state in a
background thread while the command runs, samples system metrics, heartbeats, and
records how the command ended:

    exit 0                          finished
    exit non-zero, or a fatal signal failed
    Ctrl-C / SIGTERM to lab run     killed (the signal is passed on; SIGKILL after a grace)
    SIGKILL from elsewhere (OOM)    crashed
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import LaunchError
from ..model import CRASHED, FAILED, FINISHED, KILLED, RunRecord
from ..notebook import ENV_DIR, Notebook
from ..recorder import Recorder
from ..sdk import ENV_CAPTURE_PYTHON

GRACE_S = 10.0  # after Ctrl-C, how long the command may take to stop before SIGKILL


def grace_s() -> float:
    try:
        return float(os.environ.get("LABBOOK_KILL_GRACE", GRACE_S))
    except ValueError:
        return GRACE_S


_FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def resolve_command(argv: list[str]) -> str:
    """The executable ``argv`` will run, or a LaunchError saying why it cannot start."""
    if not argv or not argv[0].strip():
        raise LaunchError("no command given; write it after --, e.g. lab run -- python train.py")
    exe = shutil.which(argv[0])
    if exe is None:
        if os.sep in argv[0] and Path(argv[0]).exists():
            raise LaunchError(f"{argv[0]} is not executable; chmod +x it or run it through its interpreter")
        raise LaunchError(f"command not found: {argv[0]}; check the spelling or your PATH")
    return exe


def parse_metric_line(line: bytes) -> tuple[dict[str, float], int | None] | None:
    """A stdout line that is a JSON object of numbers (optionally with "step")."""
    text = line.strip()
    if not (text.startswith(b"{") and text.endswith(b"}")):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    step = obj.pop("step", None)
    if step is not None and not (isinstance(step, int) and not isinstance(step, bool)):
        if not (isinstance(step, float) and step.is_integer()):
            return None
        step = int(step)
    if not obj or any(isinstance(v, bool) or not isinstance(v, int | float) for v in obj.values()):
        return None
    return obj, step


class _Pump(threading.Thread):
    """Copies one pipe to the terminal and the log files, chunk by chunk."""

    def __init__(
        self, fd: int, sinks: list[IO[bytes]], on_line: Callable[[bytes], None] | None, lock: threading.Lock
    ) -> None:
        super().__init__(daemon=True, name=f"labbook-pump-{fd}")
        self.fd, self.sinks, self.on_line, self.lock = fd, sinks, on_line, lock
        self.partial = b""

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                for sink in self.sinks:
                    try:
                        sink.write(chunk)
                        sink.flush()
                    except (OSError, ValueError):
                        pass  # a closed terminal must not stop the run or its log
            if self.on_line is not None:
                self._lines(chunk)
        if self.on_line is not None and self.partial:
            self.on_line(self.partial)

    def _lines(self, chunk: bytes) -> None:
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        if len(self.partial) > 1 << 20:  # a "line" this long is not a metrics line
            self.partial = b""
        for line in lines:
            self.on_line(line)  # type: ignore[misc]


def _status(returncode: int, interrupted: bool) -> tuple[str, int]:
    """Run status and the exit code ``lab run`` returns (a shell's 128+N for signals)."""
    if returncode >= 0:
        status = FINISHED if returncode == 0 else (KILLED if interrupted else FAILED)
        return status, returncode
    sig = -returncode
    if interrupted or sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        status = KILLED
    elif sig == signal.SIGKILL:
        status = CRASHED
    else:
        status = FAILED
    return status, 128 + sig


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
) -> tuple[int, int]:
    """Run ``argv`` as a new run; returns (run id, exit code for ``lab run``).

    ``adopt``: the uid of a pending run (queued on a cluster) to run instead of a new one.

    With ``config``, the resolved config is written to the run's ``config.yaml``, named in
    ``LABBOOK_CONFIG``, recorded as the run's parameters, and ``{key}`` / ``{config}``
    placeholders in ``argv`` are filled in.
    """
    from ..config import substitute
    from ..sdk import flatten

    if config is not None:
        substitute(argv, config, Path("config.yaml"))  # every placeholder checked before anything is written
        params = {**flatten(config), **(params or {})}
    resolve_command(argv)
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer
    cwd = cwd or os.getcwd()
    signals = _Signals()  # before the run exists, so a Ctrl-C at any point ends it as killed
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
            notebook, record, argv, signals, cwd, stdout, stderr, on_start, config, extra_capture
        )
    finally:
        signals.restore()


def _supervise(
    notebook: Notebook,
    record: RunRecord,
    argv: list[str],
    signals: _Signals,
    cwd: str,
    stdout: IO[bytes],
    stderr: IO[bytes],
    on_start: Callable[[int, list[str]], None] | None,
    config: dict[str, Any] | None,
    extra_capture: dict[str, Any] | None,
) -> tuple[int, int]:
    from ..capture import capture_all, command_python
    from ..config import dump, substitute
    from ..liveness import HEARTBEAT_S
    from ..sysmon import sample_interval, sampler_for

    run_dir = notebook.run_dir(record)
    env = dict(os.environ)
    env.update({"LABBOOK_RUN_ID": record.uid, ENV_DIR: str(notebook.root), "PYTHONUNBUFFERED": "1"})
    python = command_python(argv)
    if python is None:  # not a Python command: the SDK, if the command reaches it, says which Python ran
        env[ENV_CAPTURE_PYTHON] = "1"
    if config is not None:
        config_path = dump(config, run_dir / "config.yaml")
        env["LABBOOK_CONFIG"] = str(config_path)
        argv = substitute(argv, config, config_path)
        notebook.record_capture(
            record.id, {"config": config, "command_filled": argv, **(extra_capture or {})}
        )
    elif extra_capture:
        notebook.record_capture(record.id, extra_capture)
    if on_start is not None:
        on_start(record.id, argv)

    capture_thread = threading.Thread(
        target=lambda: notebook.record_capture(
            record.id,
            capture_all(
                argv, cwd, env, python=python, cache_dir=notebook.cache_dir, with_python=bool(python)
            ),
        ),
        daemon=True,
        name="labbook-capture",
    )
    capture_thread.start()

    interrupted = signals.interrupted
    if interrupted.is_set():  # stopped before the command began: it never runs
        capture_thread.join()
        notebook.end_run(record.id, KILLED, 130)
        return record.id, 130
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    except OSError as err:
        capture_thread.join()
        notebook.end_run(record.id, FAILED, 127)
        raise LaunchError(f"could not start {argv[0]}: {err.strerror or err}") from None
    signals.attach(proc)

    recorder = Recorder(
        notebook.store,
        record.id,
        run_dir / "metrics",
        "stdout",
        heartbeat_s=HEARTBEAT_S,
        sampler=sampler_for([proc.pid]),
        sample_s=sample_interval(),
    )

    def on_line(line: bytes) -> None:
        parsed = parse_metric_line(line)
        if parsed is not None:
            recorder.log(parsed[0], parsed[1])

    lock = threading.Lock()
    output = open(run_dir / "output.log", "ab")
    errors = open(run_dir / "stderr.log", "ab")
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        _Pump(proc.stdout.fileno(), [stdout, output], on_line, lock),
        _Pump(proc.stderr.fileno(), [stderr, output, errors], None, lock),
    ]
    for pump in pumps:
        pump.start()

    try:
        returncode = _wait(proc, interrupted)
    finally:
        for pump in pumps:
            pump.join()
        proc.stdout.close()
        proc.stderr.close()
        output.close()
        errors.close()
        recorder.close()
        capture_thread.join()
    status, code = _status(returncode, interrupted.is_set())
    notebook.end_run(record.id, status, code if returncode >= 0 else returncode)
    return record.id, code


def _wait(proc: subprocess.Popen[bytes], interrupted: threading.Event) -> int:
    """Wait for the command; once interrupted, SIGKILL it if it outlives the grace period."""
    deadline: float | None = None
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # no handler could be installed (not the main thread)
            interrupted.set()
            _signal_child(proc, signal.SIGINT)
        if interrupted.is_set():
            if deadline is None:
                deadline = time.monotonic() + grace_s()
            elif time.monotonic() >= deadline:
                _signal_child(proc, signal.SIGKILL, tree=True)
                deadline = math.inf


def _signal_child(proc: subprocess.Popen[bytes], sig: int, tree: bool = False) -> None:
    """Signal the command (and, for SIGKILL, everything it started)."""
    targets = [proc.pid]
    if tree:
        try:
            import psutil

            targets += [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        except Exception:
            pass
    for pid in targets:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _terminal_delivers_sigint() -> bool:
    """True when Ctrl-C at a terminal already reached the command (same foreground group)."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            if stream is not None and stream.isatty():
                return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
        except (OSError, ValueError, AttributeError):
            continue
    return False


class _Signals:
    """Ctrl-C, SIGTERM and SIGHUP while ``lab run`` lives: remembered, and passed on to the command.

    Installed before the run row exists: a signal that lands while the run is being set up
    must still end it as ``killed``, not leave a row whose process vanished (``crashed``).
    """

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in _FORWARD:
                self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.interrupted.set()
        if self.proc is not None and not (signum == signal.SIGINT and _terminal_delivers_sigint()):
            _signal_child(self.proc, signum)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        """From now on signals reach ``proc``; one that came just before it started is sent now."""
        self.proc = proc
        if self.interrupted.is_set():
            _signal_child(proc, signal.SIGINT)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
