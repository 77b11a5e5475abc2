"""The command as a process group: starting it, passing signals on, stopping what it leaves.

Apart from the supervisor (``launch/local.py``) because this is where the operating
system's rules live: sessions and groups, the parent-death signal, zombies and reaped
pids; the supervisor only asks to start, wait and stop.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from labbook.service.liveness import grace_s, process_started

POLL_S = 0.05  # how often waits look again at processes and at a pump's stop flag
KILLED_WAIT_S = 5.0  # how long SIGKILLed leftovers may take to vanish (one stuck in the kernel can't)
SAME_SIGNAL_S = 1.0  # a repeat this soon is the same Ctrl-C (a sweep and the terminal both send it)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def start(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start the command as a session and process group of its own, stdin shared with
    ``lab run`` (for ``input()`` and debuggers), killed by the kernel if ``lab run`` dies."""
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=die_with(os.getpid()),
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


def die_with(parent: int) -> Callable[[], None] | None:
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


def wait(proc: subprocess.Popen[bytes], signals: Signals) -> int:
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


def stop_leftovers(pgid: int, deadline: float | None, say: Callable[[str], None]) -> None:
    """The command's process has exited, so its group's survivors are leftovers: SIGTERM,
    then SIGKILL at ``deadline`` (the grace, unless an interrupt already started it)."""
    count = len(_members(pgid))
    if not count:
        return
    signal_group(pgid, signal.SIGTERM)
    if not _wait_gone(pgid, deadline if deadline is not None else time.monotonic() + grace_s()):
        _kill_all(pgid, list(_members(pgid)))
        _wait_gone(pgid, time.monotonic() + KILLED_WAIT_S)
    say(f"stopped {count} leftover process{'' if count == 1 else 'es'}")


def signal_group(pgid: int, sig: int) -> None:
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
    signal_group(pgid, signal.SIGKILL)
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


class Signals:
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
            for sig in FORWARD:
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
        signal_group(proc.pid, sig)

    def _suspend(self, signum: int, frame: object) -> None:
        """Ctrl-Z: stop the command, then ``lab run``; continue the command when ``lab run`` is.

        SIGSTOP, as the kernel drops SIGTSTP sent to the command's group: its parent is in
        another session, so the group is orphaned."""
        proc = self.proc
        if proc is not None:
            signal_group(proc.pid, signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)
        if proc is not None:
            signal_group(proc.pid, signal.SIGCONT)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        """From now on signals reach ``proc``'s group; one that came just before it started is sent now."""
        self.proc = proc
        if self.interrupted.is_set():
            self.deadline = time.monotonic() + grace_s()
            self._pass_on(proc, self.first)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
