"""Metrics in a command's output: JSON lines on stdout, and ``--parse`` patterns on either stream."""

from __future__ import annotations

import json
from collections.abc import Sequence

from labbook.core.lineparse import LinePattern
from labbook.tracking.recorder import Recorder


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


class LineMetrics:
    """Turns the lines of one stream into points of the run.

    Progress bars (tqdm) redraw a line with carriage returns: with patterns, each redrawn
    part is a line of its own, so the last value shown is the last value logged.
    """

    def __init__(self, recorder: Recorder, patterns: Sequence[LinePattern], json_lines: bool) -> None:
        self.recorder, self.patterns, self.json_lines = recorder, tuple(patterns), json_lines

    @property
    def wanted(self) -> bool:
        return self.json_lines or bool(self.patterns)

    def __call__(self, line: bytes) -> None:
        if self.json_lines:
            parsed = parse_metric_line(line)
            if parsed is not None:
                self.recorder.log(parsed[0], parsed[1])
                return
        if self.patterns:
            for part in line.split(b"\r"):
                self._match(part.decode("utf-8", "replace"))

    def _match(self, text: str) -> None:
        for pattern in self.patterns:
            found = pattern.match(text)
            if found is not None:
                self.recorder.log(found[1], found[0])
