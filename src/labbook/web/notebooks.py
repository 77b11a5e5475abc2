"""A pool of notebooks on one root, each lent to one request at a time.

FastAPI runs plain ``def`` endpoints and their dependencies in a thread pool, not always
on the same thread; a SQLite connection must not serve two requests at once. So a
request borrows a whole notebook (its own connection) and gives it back when it ends;
the pool grows to the number of requests served at once and keeps them open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labbook.service.notebook import Notebook


class Pool:
    def __init__(self, notebook: Notebook) -> None:
        self.root: Path = notebook.root
        self._first = notebook  # its store opens the others: the same database, whichever kind
        self._idle: list[Notebook] = []
        self._all: list[Notebook] = []
        self._lock = threading.Lock()

    @contextmanager
    def lease(self) -> Iterator[Notebook]:
        with self._lock:
            nb = self._idle.pop() if self._idle else None
        if nb is None:
            nb = Notebook(self.root, self._first.store.reopen())
            with self._lock:
                self._all.append(nb)
        try:
            yield nb
        finally:
            with self._lock:
                self._idle.append(nb)

    def close(self) -> None:
        with self._lock:
            opened, self._all, self._idle = self._all, [], []
        for nb in opened:
            nb.close()
