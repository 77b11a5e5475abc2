"""What the readers share: series kept as packed arrays, a silent progress callback, one install hint."""

from __future__ import annotations

from array import array

from labbook.errors import BadInput
from labbook.records.imports import ImportedSeries


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


def quiet(line: str) -> None:
    """Where progress goes when nobody asked for it; how often lines are shown is the adapter's call."""
