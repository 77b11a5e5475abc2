"""What the integrations share: which run a framework writes to, which values are numbers, when a run ends."""

from __future__ import annotations

import atexit
import dataclasses
import os
from argparse import Namespace
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import labbook
from labbook.records.runs import FAILED


def missing(framework: str, extra: str, err: ImportError) -> ImportError:
    """The import error a user sees first: what to install, with the original cause kept."""
    return ImportError(f"this labbook integration needs {framework}: pip install 'labbook[{extra}]' ({err})")


def numbers(values: Mapping[Any, Any]) -> dict[str, float]:
    """The values a run can plot; frameworks mix text and lists into their logs, which are skipped."""
    out: dict[str, float] = {}
    for key, value in values.items():
        number = _number(value)
        if number is not None:
            out[str(key)] = number
    return out


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str | bytes):  # float("0.3") would accept text
        return None
    try:
        return float(value)  # numpy scalars and one-element tensors too
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None


def plain(value: Any) -> Any:
    """A parameter as the notebook can compare it: numbers, text, bools, lists and mappings; else its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Namespace):
        value = vars(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [plain(item) for item in value]
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return plain(value.item())  # a numpy scalar or a 0-d tensor
    return str(value)


def prefixed(prefix: str, values: Mapping[str, float]) -> dict[str, float]:
    return {prefix + key: value for key, value in values.items()}


class RunOwner:
    """What every logger and callback is built with: how to name the run it starts, and where.

    Placed before the framework's base class, it calls that base's ``__init__`` with no arguments.
    """

    def __init__(
        self,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        dir: str | os.PathLike[str] | None = None,
        note: str | None = None,
        hypothesis: str | int | None = None,
    ) -> None:
        super().__init__()
        self._slot = RunSlot(name=name, tags=tags, config=config, dir=dir, note=note, hypothesis=hypothesis)


class RunSlot:
    """The run one logger or callback writes to, and whether it may end it.

    A run the user opened (``labbook.init`` before training) is borrowed: its owner ends it,
    so several trainings can share it. Otherwise the integration starts one (or attaches
    to the run ``lab run`` started) and ends it when training ends; the next training
    starts another. A started run that never sees that end (training raised and the
    program went on) is failed when the program exits, not finished.
    """

    def __init__(
        self,
        *,
        name: str | None,
        tags: Sequence[str] | None,
        config: Mapping[str, Any] | None,
        dir: str | os.PathLike[str] | None,
        note: str | None,
        hypothesis: str | int | None,
    ) -> None:
        self.name = name
        self._tags = list(tags or ())
        self._dir = dir
        self._note = note
        self._hypothesis = hypothesis
        self._config: dict[str, Any] | None = plain(dict(config)) if config else None
        self.last: labbook.Run | None = None  # the run written to most recently, open or ended
        self._reset()

    def _reset(self) -> None:
        self.run: labbook.Run | None = None
        self._started = False
        self.awaiting_end = False

    def get(self, *, until_end: bool = False) -> labbook.Run:
        """The run to write to, borrowed or started now; ``until_end``: training has begun in it."""
        if self.run is None:
            self.run = labbook.current()
            self._started = self.run is None
            if self.run is None:
                self.run = labbook.init(
                    self._config, self.name, self._tags, self._note, self._dir, self._hypothesis
                )
            elif self._config:
                self.run.log_params(self._config)
            self.last = self.run
        if until_end and not self.awaiting_end:
            self.awaiting_end = True
            if self._started:
                atexit.register(self._abandoned)
        return self.run

    def end(self, status: str) -> None:
        """End the run with ``status`` if it was started here; forget it either way."""
        run, started, awaiting = self.run, self._started, self.awaiting_end
        self._reset()
        if run is not None and started:
            if awaiting:
                atexit.unregister(self._abandoned)
            run.finish(status)

    def _abandoned(self) -> None:
        self.end(FAILED)

    def __getstate__(self) -> dict[str, Any]:
        """A copy (a spawned worker, a deep copy) has no run yet: runs hold threads and connections."""
        state = dict(self.__dict__)
        state.update(run=None, last=None, _started=False, awaiting_end=False)
        return state
