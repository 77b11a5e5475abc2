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

import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO, Any

from labbook.errors import LaunchError
from labbook.records.runs import CRASHED, FAILED, FINISHED, KILLED, RunRecord
from labbook.service.liveness import grace_s, process_started
from labbook.service.notebook import ENV_DIR, Notebook
from labbook.tracking.recorder import Recorder
from labbook.tracking.sdk import ENV_CAPTURE_PYTHON, ENV_SUPERVISOR

POLL_S = 0.05  # how often waits look again at processes and at a pump's stop flag
KILLED_WAIT_S = 5.0  # how long SIGKILLed leftovers may take to vanish (one stuck in the kernel can't)
SAME_SIGNAL_S = 1.0  # a repeat this soon is the same Ctrl-C (a sweep and the terminal both send it)
DRAIN_READS = 1024  # at most this many reads of what is in a pipe once its pump is stopped
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    if -returncode in _FORWARD:
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
) -> tuple[int, int]:
    """Run ``argv`` as a new run; returns (run id, exit code for ``lab run``).

    ``adopt``: the uid of a pending run (queued on a cluster) to run instead of a new one.

    With ``config``, the resolved config is written to the run's ``config.yaml``, named in
    ``LABBOOK_CONFIG``, recorded as the run's parameters, and ``{key}`` / ``{config}``
    placeholders in ``argv`` are filled in.
    """
    from labbook.core.config import flatten, substitute

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
    from labbook.core.config import dump, substitute
    from labbook.service.liveness import HEARTBEAT_S
    from labbook.tracking.capture import capture_all, command_python
    from labbook.tracking.sysmon import sample_interval, sampler_for

    run_dir = notebook.run_dir(record)
    env = dict(os.environ)
    env.update({"LABBOOK_RUN_ID": record.uid, ENV_DIR: str(notebook.root), "PYTHONUNBUFFERED": "1"})
    env[ENV_SUPERVISOR] = f"{os.getpid()}:{process_started(os.getpid()) or 0.0}"
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
        proc = _start(argv, env, cwd)
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
        returncode = _wait(proc, signals)
        _stop_leftovers(
            proc.pid, signals.deadline, lambda text: _say(stderr, lock, f"{text} of run {record.id}")
        )
    finally:
        for pump in pumps:
            pump.stop()
        for pump in pumps:
            pump.join()
        proc.stdout.close()
        proc.stderr.close()
        output.close()
        errors.close()
        report = recorder.close()
        capture_thread.join()
    status, code = _status(returncode, interrupted.is_set())
    problem = notebook.settle_run(record, status, code if returncode >= 0 else returncode, report)
    for line in (report.warning, problem):
        if line:
            _say(stderr, lock, line)
    return record.id, code


def _start(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start the command as a session and process group of its own, stdin shared with
    ``lab run`` (for ``input()`` and debuggers), killed by the kernel if ``lab run`` dies."""
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with(os.getpid()),
    )


@cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up before forking: the forked child must do no more than call it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the command when ``parent`` dies.

    It runs between fork and exec, where other threads' locks may be held: one prctl call,
    then a check that the parent did not die before it took effect. The kernel watches the
    forking thread, which lives on: it waits for the command.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    option, sig = PR_SET_PDEATHSIG, int(signal.SIGKILL)

    def preexec() -> None:
        prctl(option, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(128 + sig)

    return preexec


def _wait(proc: subprocess.Popen[bytes], signals: _Signals) -> int:
    """Wait for the command's process; once interrupted, SIGKILL its group when the grace ends."""
    killed = False
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # no handler could be installed (not the main thread)
            signals.receive(signal.SIGINT)
        if not killed and signals.deadline is not None and time.monotonic() >= signals.deadline:
            _kill_all(proc.pid, [proc.pid])
            killed = True


def _stop_leftovers(pgid: int, deadline: float | None, say: Callable[[str], None]) -> None:
    """The command's process has exited, so its group's survivors are leftovers: SIGTERM,
    then SIGKILL at ``deadline`` (the grace, unless an interrupt already started it)."""
    count = len(_members(pgid))
    if not count:
        return
    _signal_group(pgid, signal.SIGTERM)
    if not _wait_gone(pgid, deadline if deadline is not None else time.monotonic() + grace_s()):
        _kill_all(pgid, list(_members(pgid)))
        _wait_gone(pgid, time.monotonic() + KILLED_WAIT_S)
    say(f"stopped {count} leftover process{'' if count == 1 else 'es'}")


def _say(stream: IO[bytes], lock: threading.Lock, text: str) -> None:
    with lock:  # not in the middle of the command's output
        try:
            stream.write(f"labbook: {text}\n".encode())
            stream.flush()
        except (OSError, ValueError):
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _members(pgid: int) -> dict[int, float]:
    """The live processes of group ``pgid``, with their start stamps (a zombie has exited)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return {}  # the usual case, answered without a scan
    except PermissionError:
        pass
    import psutil  # type: ignore[import-untyped,unused-ignore]

    found = {pid: process_started(pid) for pid in psutil.pids() if _pgid(pid) == pgid}
    return {pid: stamp for pid, stamp in found.items() if stamp is not None}


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _wait_gone(pgid: int, deadline: float) -> bool:
    """Wait until group ``pgid`` has no live process; False if one is still there at ``deadline``.

    The processes found are watched one by one; the group is scanned again only when they are
    gone (one of them may have started another)."""
    members = _members(pgid)
    while members:
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
        members = {pid: t for pid, t in members.items() if process_started(pid) == t} or _members(pgid)
    return True


def _kill_all(pgid: int, roots: list[int]) -> None:
    """SIGKILL group ``pgid`` and, best effort, whatever under ``roots`` left the group."""
    below = _descendants(roots)  # before the kill: then their parents die and the links are lost
    _signal_group(pgid, signal.SIGKILL)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _descendants(roots: list[int]) -> list[int]:
    """Every process below ``roots``, by parent links."""
    import psutil  # type: ignore[import-untyped,unused-ignore]

    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found - set(roots))


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the command's process has exited, reaped yet or not."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped just now
        return True


class _Signals:
    """Ctrl-C, SIGTERM and SIGHUP while ``lab run`` lives: remembered, and passed on to the
    command's process group; Ctrl-Z stops the group with ``lab run``.

    Installed before the run row exists: a signal that lands while the run is being set up
    must still end it as ``killed``, not leave a row whose process vanished (``crashed``).
    ``interrupted`` is set only by a signal that came before the command's process exited:
    one after that does not change how the command ended.
    """

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self.deadline: float | None = None  # when the interrupted command's grace ends
        self.proc: subprocess.Popen[bytes] | None = None
        self.first = signal.SIGINT
        self.last: tuple[int, float] = (0, -math.inf)  # the signal last passed on, and when
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in _FORWARD:
                self._install(sig, self._handle)
            self._install(signal.SIGTSTP, self._suspend)

    def _install(self, sig: signal.Signals, handler: Callable[[int, Any], None]) -> None:
        """Handle ``sig``, unless ``lab run`` was started ignoring it (``nohup``: then the
        command inherits that, as it would without labbook)."""
        if sig in (signal.SIGHUP, signal.SIGTSTP) and signal.getsignal(sig) is signal.SIG_IGN:
            return
        self.previous[sig] = signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.receive(signal.Signals(signum))

    def receive(self, sig: signal.Signals) -> None:
        """An interrupt if the command's process has yet to start or still runs; passed on."""
        proc = self.proc
        if proc is None or not _has_exited(proc):
            if not self.interrupted.is_set():
                self.first = sig
            self.interrupted.set()
            if proc is not None and self.deadline is None:
                self.deadline = time.monotonic() + grace_s()
        if proc is not None:
            self._pass_on(proc, sig)

    def _pass_on(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        """Signal the group, once for a burst of the same signal (at a terminal, a sweep's
        ``lab run`` hears Ctrl-C from both): a second KeyboardInterrupt would break the
        command's cleanup."""
        now = time.monotonic()
        if self.last[0] == sig and now - self.last[1] < SAME_SIGNAL_S:
            return
        self.last = (sig, now)
        _signal_group(proc.pid, sig)

    def _suspend(self, signum: int, frame: object) -> None:
        """Ctrl-Z: stop the command, then ``lab run``; continue the command when ``lab run`` is.

        SIGSTOP, as the kernel drops SIGTSTP sent to the command's group: its parent is in
        another session, so the group is orphaned."""
        proc = self.proc
        if proc is not None:
            _signal_group(proc.pid, signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)
        if proc is not None:
            _signal_group(proc.pid, signal.SIGCONT)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        """From now on signals reach ``proc``'s group; one that came just before it started is sent now."""
        self.proc = proc
        if self.interrupted.is_set():
            self.deadline = time.monotonic() + grace_s()
            self._pass_on(proc, self.first)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
