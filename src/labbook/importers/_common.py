"""What the readers share: series kept as packed arrays, progress lines that do not flood, one install hint."""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable

from labbook.errors import BadInput
from labbook.records.imports import ImportedSeries

PROGRESS_EVERY_S = 0.5


def missing(tool: str, extra: str) -> BadInput:
    """The error for a tool that is not installed: what to install, in one line."""
    return BadInput(f"importing from {tool} needs the {tool} package: pip install 'labbook[{extra}]'")


class Series:
    """One metric's points as they are read: 24 bytes a point, where Python floats in lists cost about 100."""

    __slots__ = ("key", "steps", "times", "values")

    def __init__(self, key: str) -> None:
        self.key = key
        self.steps: array[int] = array("q")
        self.times: array[float] = array("d")
        self.values: array[float] = array("d")

    def add(self, step: int, at: float, value: float) -> None:
        self.steps.append(step)
        self.times.append(at)
        self.values.append(value)

    def done(self) -> ImportedSeries:
        return ImportedSeries(self.key, self.steps, self.times, self.values)


class Progress:
    """Passes a line on at most every ``PROGRESS_EVERY_S``: a long import says where it is, a terminal is not flooded."""

    def __init__(
        self, callback: Callable[[str], None] | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.callback, self.clock = callback, clock
        self.last = -float("inf")

    def __call__(self, line: str) -> None:
        if self.callback is None:
            return
        now = self.clock()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.callback(line)
