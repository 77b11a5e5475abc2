"""Telling a running run from one whose process vanished.

The process that owns a run (``lab run``'s supervisor, or the SDK process of a
standalone run) records its host, pid, the pid's start time and the boot id, and
heartbeats while it lives. A reader on the same host and boot asks the kernel whether
that exact process still exists (the start time defeats pid reuse); a reader elsewhere
trusts the heartbeat, which goes stale after ``STALE_AFTER_S``.
"""

from __future__ import annotations

import os
from functools import cache

from labbook.records.runs import LiveRow, Owner

HEARTBEAT_S = 10.0
STALE_AFTER_S = 90.0
GRACE_S = 10.0  # how long a command may take to stop after SIGTERM before SIGKILL


def grace_s() -> float:
    """The stop grace period (``$LABBOOK_KILL_GRACE`` seconds, default ``GRACE_S``)."""
    try:
        return float(os.environ.get("LABBOOK_KILL_GRACE", GRACE_S))
    except ValueError:
        return GRACE_S


@cache
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


@cache
def hostname() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename  # what gethostname() returns, without importing socket
    import socket

    return socket.gethostname()


def process_started(pid: int) -> float | None:
    """An opaque start stamp for ``pid`` (None if no such process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            return None  # a zombie has exited; it only waits to be reaped
        return float(fields[19])
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except Exception:
        return None


def current_owner(pid: int | None = None) -> Owner:
    pid = os.getpid() if pid is None else pid
    return Owner(hostname(), pid, process_started(pid) or 0.0, boot_id())


def is_dead(row: LiveRow, now: float) -> bool:
    """True when the run's owner is certainly gone (or silent for too long elsewhere)."""
    owner = row.owner
    if owner is not None and owner.host == hostname():
        if owner.boot_id and owner.boot_id != boot_id():
            return True
        return process_started(owner.pid) != owner.pid_started
    return row.heartbeat_at is None or now - row.heartbeat_at > STALE_AFTER_S
