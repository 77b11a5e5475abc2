"""Following the TensorBoard event files a command writes while ``lab run`` supervises it.

Code that logs with ``torch.utils.tensorboard``, tensorboardX, Keras or Lightning's
TensorBoard logger writes ``events.out.tfevents.*`` files; their scalars become the run's
metrics, with their own steps and wall times, as they are flushed, so a crash keeps what
reached the disk. Only files the command wrote count: an event file's name carries its
writer's start second, host and pid. A file older than the run, from another host, or
from a live process outside the command's (another run of a sweep in the same folder)
is someone else's; one from a process that has already exited counts if it changed after
the run began (a child of the command too short-lived to be seen).

The first folder with event files gives bare tag names (``Loss/train``); each other folder's
tags are prefixed with its path from that folder's parent (``validation/epoch_loss`` beside
Keras's ``train`` folder), so two writers of one tag never mix.

Folders are searched below the command's working directory and any ``--logdir``, never
descending into hidden folders or environments; the search runs every second, less often
when a tree is so large that searching it costs more than 5% of a core.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from labbook.formats.tfevents import PREFIX, EventReader, find_event_files
from labbook.tracking.recorder import Recorder

SCAN_S = 1.0
_MAX_SHARE = 0.05  # of a core spent searching for new files
_SKIP = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env", "wandb", "mlruns"})


def _skip(name: str) -> bool:
    return name in _SKIP


class _Name(NamedTuple):
    started: int
    host: str
    pid: int


def _name(path: Path) -> _Name | None:
    """``events.out.tfevents.<second>.<host>.<pid>.<n>[.v2]``, as TensorFlow, tensorboardX and
    PyTorch name them (a host name may hold dots)."""
    parts = path.name[len(PREFIX) :].split(".")
    if parts and parts[-1] == "v2":
        parts = parts[:-1]
    if len(parts) < 4 or not (parts[0].isdigit() and parts[-2].isdigit()):
        return None
    return _Name(int(parts[0]), ".".join(parts[1:-2]), int(parts[-2]))


def _holder(path: Path, first: set[int]) -> int | None:
    """A process that has the file open: one of ``first`` if any, else any other, else None."""
    import psutil

    target = str(path)
    for pid in first:
        with contextlib.suppress(psutil.Error):
            if any(f.path == target for f in psutil.Process(pid).open_files()):
                return pid
    for proc in psutil.process_iter():
        if proc.pid in first:
            continue
        with contextlib.suppress(psutil.Error):
            if any(f.path == target for f in proc.open_files()):
                return proc.pid
    return None


def _changed_since(path: Path, since: float) -> bool:
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


class EventFollower:
    """A thread turning new scalars of new event files into points of the run."""

    def __init__(
        self, roots: list[Path], recorder: Recorder, pid: int, since: float, say: Callable[[str], None]
    ) -> None:
        self.roots = roots
        self.recorder = recorder
        self.since = since
        self.say = say
        self.root_pid = pid
        self.pids = {pid}  # the command's processes seen so far
        self.host = socket.gethostname()
        self.readers: dict[Path, tuple[EventReader, str]] = {}
        self.ignored: set[Path] = set()
        self.first_dir: Path | None = None
        self.points = 0
        self.interval = SCAN_S
        self.disabled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="labbook-tfevents", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any] | None:
        """Read what the command flushed last; what was followed, for the run's capture."""
        self._stop.set()
        self._thread.join()
        self.poll(final=True)
        return self.report()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self, final: bool = False) -> None:
        if self.disabled:
            return
        started = time.monotonic()
        self._see_processes()
        self._discover(final)
        searched = time.monotonic() - started
        self.interval = max(SCAN_S, searched / _MAX_SHARE)
        for reader, prefix in self.readers.values():
            self._read(reader, prefix)

    def _see_processes(self) -> None:
        import psutil

        try:
            self.pids.update(p.pid for p in psutil.Process(self.root_pid).children(recursive=True))
        except psutil.Error:  # the command has exited: the pids seen so far stay its own
            pass

    def _discover(self, final: bool = False) -> None:
        for root in self.roots:
            for path in find_event_files(root, _skip):
                if path in self.readers or path in self.ignored:
                    continue
                ours = self._ours(path)
                if ours is None and final:  # nobody holds it now: it counts if written during the run
                    ours = _changed_since(path, self.since)
                if ours:
                    self._follow(path)
                elif ours is not None:
                    self.ignored.add(path)

    def _ours(self, path: Path) -> bool | None:
        """Whether the command wrote the file; None while that cannot be told yet."""
        import psutil

        name = _name(path)
        if name is None:  # tensorboardX names a file by second and host only: who holds it open?
            second = path.name[len(PREFIX) :].split(".")[0]
            if second.isdigit() and int(second) < int(self.since):
                return False
            holder = _holder(path, self.pids)
            return None if holder is None else holder in self.pids
        if name.started < int(self.since) or name.host != self.host:
            return False
        if name.pid in self.pids:
            return True
        return not psutil.pid_exists(name.pid) and _changed_since(path, self.since)

    def _follow(self, path: Path) -> None:
        try:
            reader = EventReader(path)
        except ImportError as err:
            self.disabled = True
            self.say(f"found TensorBoard event files ({path.parent}) but {err}")
            return
        self.readers[path] = (reader, self._prefix(path.parent))

    def _prefix(self, folder: Path) -> str:
        if self.first_dir is None:
            self.first_dir = folder
        if folder == self.first_dir:
            return ""
        try:
            rel = folder.relative_to(self.first_dir.parent)
        except ValueError:
            rel = Path(os.path.relpath(folder, self.roots[0]))
        return f"{rel.as_posix()}/"

    def _read(self, reader: EventReader, prefix: str) -> None:
        try:
            new = reader.read()
        except OSError:  # removed or unreadable for now: tried again at the next poll
            return
        for tag, p in new.items():
            self.recorder.log_points(prefix + tag, p.steps, p.times, p.values)
            self.points += len(p.values)

    def report(self) -> dict[str, Any] | None:
        if not self.readers:
            return None
        files = []
        for path, (reader, prefix) in sorted(self.readers.items()):
            entry: dict[str, Any] = {"path": str(path), "prefix": prefix}
            if reader.counts:
                entry["not stored"] = reader.counts
            if reader.damaged:
                entry["damaged records"] = reader.damaged
            if reader.torn:
                entry["torn"] = True
            files.append(entry)
        return {"tensorboard": {"files": files, "points": self.points}}
