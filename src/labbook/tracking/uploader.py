"""The background sender of a run to its team server: never in the way of training.

Started by the process that owns a run (``labbook.init`` standalone, ``lab run``'s
supervisor) when a server is configured (``tracking.remote``). Every ``EVERY_S`` it
sends what is new (``sync.RunSync``) from its own thread and its own notebook
connection; ``run.log`` never waits for it. When the server does not answer it says so
once on stderr and keeps trying; when the server is back it says that too. At the end of
the run it sends the rest while the server answers, for at most ``FINISH_S``; whatever is
still unsent stays in the notebook, and ``lab sync`` sends it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from labbook.tracking.remote import Server

EVERY_S = 1.0
FINISH_S = 10.0

Say = Callable[[str], None]


def _stderr(text: str) -> None:
    try:
        print(f"labbook: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def start_uploader(root: Path, run_id: int, say: Say = _stderr) -> Uploader | None:
    """An uploader for the run if a server is configured; a configuration that cannot be read is said, once."""
    from labbook.errors import LabbookError
    from labbook.tracking.remote import configured

    try:
        server = configured()
    except LabbookError as err:
        say(f"{err}; logging here only")
        return None
    if server is None:
        return None
    uploader = Uploader(root, run_id, server, say)
    uploader.start()
    return uploader


class Uploader:
    def __init__(
        self, root: Path, run_id: int, server: Server, say: Say = _stderr, every: float = EVERY_S
    ) -> None:
        self.root, self.run_id, self.server, self.say, self.every = root, run_id, server, say, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="labbook-uploader", daemon=True)
        self._failing: str | None = None
        self._told = False
        self.done = False
        self.steps = 0  # steps that reached the server (tests wait on it)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        from labbook.service.notebook import Notebook
        from labbook.tracking.remote import Client
        from labbook.tracking.sync import RunSync

        try:
            self._nb = Notebook(self.root)
        except Exception as err:  # the run goes on; lab sync sends it later
            self.say(f"cannot send run {self.run_id} to {self.server.url} ({err}); `lab sync` sends it later")
            return
        self._client = Client(self.server)
        self._sync = RunSync(self._nb, self._client, self.run_id)
        while not self._stop.wait(self.every):
            self._step()

    def _step(self) -> bool:
        """One send; False when it failed (said once, until it works again)."""
        try:
            progress = self._sync.step()
        except Exception as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if not self._told:
                self.say(
                    f"{reason}; the run goes on here and is sent when the server is back (`lab sync` sends it too)"
                )
                self._told = True
            self._failing = reason
            return False
        if self._failing is not None:
            self.say(f"the server at {self.server.url} answers again; sending run {self.run_id}")
            self._failing = None
            self._told = False
        self.steps += 1
        self.done = progress.done
        return True

    def finish(self, deadline: float = FINISH_S) -> bool:
        """After the run ended here: send the rest, for up to ``deadline`` seconds; whether it all went."""
        self._stop.set()
        self._thread.join()
        if not hasattr(self, "_sync"):
            return False
        until = time.monotonic() + deadline
        try:
            # Only while the server answers: a run never waits at its end for a server that is down.
            while self._step() and not self.done and time.monotonic() < until:
                pass
            if not self.done:
                self.say(f"run {self.run_id} is not all on {self.server.url} yet; `lab sync` sends the rest")
            return self.done
        finally:
            self._client.close()
            self._nb.close()
