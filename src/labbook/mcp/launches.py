"""Runs an agent starts: ``lab run`` as a detached process, its run id read as soon as it exists.

The launch is the CLI's own path, not a copy of it: ``[python -m labbook --dir NB run ...]``
with every flag an agent gave, in a session of its own, so the server never waits for a
run and a run outlives the server (and the conversation) that started it. Runs have no
author field, so each carries the tag ``agent:NAME``; ``LABBOOK_USER`` is the agent too,
for anything the run's own code writes. ``lab run`` says ``lab: run N started`` (or
``lab: sweep ID: N runs``) on stderr once the run exists; that line is read from a file
no one else can see, unlinked once read, so a long run's output piles up nowhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from labbook.errors import LaunchError
from labbook.records.runs import UNFINISHED, RunRecord
from labbook.service.notebook import Notebook

STARTED = re.compile(r"^lab: run (\d+) started", re.M)
SWEEP = re.compile(r"^lab: sweep ([0-9a-f]+): (\d+) runs", re.M)
SWEEP_ID = re.compile(r"[0-9a-f]{10}")
#: How long ``lab run`` may take to create its run (it plans, checks and opens the notebook first).
START_S = 60.0
POLL_S = 0.05


def agent_tag(agent: str) -> str:
    return f"agent:{agent}"


@dataclass(frozen=True)
class Request:
    """What an agent asked ``run`` for, as ``lab run``'s flags take it."""

    command: list[str]
    config: str | None = None
    overrides: tuple[str, ...] = ()
    hypothesis: str | None = None
    tags: tuple[str, ...] = ()
    name: str | None = None
    parallel: int = 1

    def argv(self, root: Path, agent: str) -> list[str]:
        flags = ["-t", agent_tag(agent)]
        for tag in self.tags:
            flags += ["-t", tag]
        for flag, value in (("-H", self.hypothesis), ("-c", self.config), ("-n", self.name)):
            if value:
                flags += [flag, value]
        if self.parallel > 1:
            flags += ["--parallel", str(self.parallel)]
        return [
            sys.executable,
            "-m",
            "labbook",
            "--dir",
            str(root),
            "run",
            *flags,
            *self.overrides,
            "--",
            *self.command,
        ]


@dataclass(frozen=True)
class Started:
    """A launch once its first run exists: that run, or a sweep with the runs it has so far."""

    runs: list[int]
    sweep: str | None = None
    expected: int = 1


class Launches:
    """The ``lab run`` processes this server started, so it can tell a sweep still going from one done."""

    def __init__(self, root: Path, agent: str, cwd: Path) -> None:
        self.root, self.agent, self.cwd = root, agent, cwd
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # run id or sweep id → its lab run
        self._lock = threading.Lock()

    def start(self, request: Request) -> Started:
        """Start ``lab run`` and return once its run exists; its refusal is raised with its own line."""
        if not request.command:
            raise LaunchError("give the command to run, e.g. command=['python', 'train.py']")
        env = dict(os.environ, LABBOOK_USER=self.agent)
        with tempfile.NamedTemporaryFile(prefix="labbook-mcp-", suffix=".log") as said:
            proc = subprocess.Popen(
                request.argv(self.root, self.agent),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=said,
                start_new_session=True,  # not the server's: its signals and its end are not the run's
            )
            started = self._wait_started(proc, Path(said.name))
        with self._lock:
            self._procs[started.sweep or str(started.runs[0])] = proc
        return started

    def _wait_started(self, proc: subprocess.Popen[bytes], said: Path) -> Started:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            text = said.read_text(errors="replace")
            if m := STARTED.search(text):
                return Started([int(m.group(1))])
            if m := SWEEP.search(text):
                started = self._first_of_sweep(proc, m.group(1), int(m.group(2)))
                if started is not None:
                    return started
            if proc.poll() is not None:
                raise LaunchError(_refusal(said.read_text(errors="replace"), proc.returncode))
            time.sleep(POLL_S)
        raise LaunchError(
            f"lab run (pid {proc.pid}) made no run within {START_S:.0f} s; it is still going, `lab ls` will show it"
        )

    def _first_of_sweep(self, proc: subprocess.Popen[bytes], sweep: str, n: int) -> Started | None:
        """The sweep's runs once one exists; None while none does and ``lab run`` still goes."""
        runs = self.sweep_runs(sweep)
        if runs or proc.poll() is not None:
            return Started([r.id for r in runs], sweep, n)
        return None

    def sweep_runs(self, sweep: str) -> list[RunRecord]:
        with Notebook.open(self.root) as nb:
            return nb.list_runs(where=f"sweep == '{sweep}'", sort="id", limit=0)[0]

    def going(self, key: str) -> bool | None:
        """Whether the ``lab run`` behind run or sweep ``key`` still runs; None when not started here."""
        with self._lock:
            proc = self._procs.get(key)
            if proc is None:
                return None
            if proc.poll() is None:
                return True
            del self._procs[key]  # reaped: no zombie is left behind
            return False

    def ended(self, ref: str) -> tuple[bool, list[RunRecord], str | None]:
        """(whether every run of ``ref`` has ended, its runs, the sweep id when ``ref`` names a sweep).

        A sweep started here has ended once its ``lab run`` has (asked first: by then every
        run it made is recorded); one started elsewhere, once each run it has so far has.
        """
        if SWEEP_ID.fullmatch(ref):
            going = self.going(ref)
            runs = self.sweep_runs(ref)
            if runs or going is not None:
                return not going and all(r.status not in UNFINISHED for r in runs), runs, ref
        with Notebook.open(self.root) as nb:
            run = nb.get_run(ref)
        self.going(str(run.id))
        return run.status not in UNFINISHED, [run], None


def _refusal(said: str, code: int | None) -> str:
    """``lab run``'s own error line (without ``error: ``, which the boundary puts back)."""
    for line in said.splitlines():
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    last = said.strip().splitlines()[-1:] or [f"exit code {code}"]
    return f"lab run ended before starting a run ({last[0]})"
