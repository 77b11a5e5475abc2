"""Metrics from a command's text output: regular expressions with named groups (``--parse``).

``step (?P<step>\\d+).*loss (?P<loss>[0-9.e+-]+)`` turns ``step 40 | loss 0.31`` into
``loss = 0.31`` at step 40. Each named group is a metric, except ``step``; a group name
cannot hold ``/``, so ``__`` in a name stands for it (``train__loss`` is ``train/loss``).
A group that matched text which is not a number is left out of that line's metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labbook.errors import BadInput

STEP = "step"
_EXAMPLE = r"'step (?P<step>\d+).*loss (?P<loss>[0-9.e+-]+)'"


@dataclass(frozen=True)
class LinePattern:
    text: str
    regex: re.Pattern[str]
    metrics: tuple[tuple[str, str], ...]  # (group, metric name)

    def match(self, line: str) -> tuple[int | None, dict[str, float]] | None:
        """The line's step (None: the next one) and metrics, or None when it does not match."""
        m = self.regex.search(line)
        if m is None:
            return None
        values = {}
        for group, key in self.metrics:
            number = _number(m.group(group))
            if number is not None:
                values[key] = number
        if not values:
            return None
        step = m.groupdict().get(STEP)
        return (int(step) if step is not None and step.strip().lstrip("-").isdigit() else None), values


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def compile_pattern(text: str) -> LinePattern:
    """Check a ``--parse`` pattern: a valid regex whose named groups name the metrics."""
    try:
        regex = re.compile(text)
    except re.error as err:
        if "group name" in str(err):
            raise BadInput(
                f"--parse '{text}': {err}; a group name is letters, digits and _ (write __ for /)"
            ) from None
        raise BadInput(
            f"--parse '{text}' is not a valid regular expression ({err}); e.g. {_EXAMPLE}"
        ) from None
    names = [g for g in regex.groupindex if g != STEP]
    if not names:
        what = "only a step group" if STEP in regex.groupindex else "no named groups"
        raise BadInput(f"--parse '{text}' has {what}: name each number it captures, e.g. {_EXAMPLE}")
    return LinePattern(text, regex, tuple((g, g.replace("__", "/")) for g in names))
