"""What a prediction states, checked before anything is written: a probability or an interval, and what settles it."""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from labbook.errors import BadInput
from labbook.records.research import BINARY, NUMERIC

AGGS = ("last", "min", "max", "mean")
REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "mean": statistics.fmean,
    "median": statistics.median,
    "min": min,
    "max": max,
}
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Forecast:
    """What the user states; validated by ``check``."""

    # what is claimed: a probability that it holds, or an interval at a level (with a best guess)
    p: float | None = None
    op: str | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    level: float | None = None
    point: float | None = None
    # what it is read from, when a metric settles it
    metric: str | None = None
    agg: str = "last"
    reduce: str = "mean"
    min_runs: int = 1
    where: str | None = None  # the runs it is about (the lab ls language)
    diff: tuple[str, str] | None = None  # two sides, as lab compare takes them: a difference
    verdict: tuple[str, str, str] | None = None  # two sides and what lab compare will conclude

    @property
    def scoped(self) -> bool:
        return bool(self.where is not None or self.diff or self.verdict)

    @property
    def kind(self) -> str:
        return NUMERIC if (self.low is not None or self.high is not None) else BINARY

    def check(self) -> None:
        """One sentence per mistake; nothing is written when this raises."""
        if self.kind == NUMERIC:
            if self.low is None or self.high is None:
                raise BadInput("a numeric prediction needs both --low and --high")
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise BadInput("--low and --high must be finite numbers")
            if self.low > self.high:
                raise BadInput(f"--low {self.low:g} is above --high {self.high:g}; swap them")
            if self.level is None or not 0 < self.level < 1:
                raise BadInput("--level must be between 0 and 1, e.g. 0.8 for an 80% interval")
            if self.p is not None:
                raise BadInput("give either -p (a yes/no prediction) or --low/--high (an interval), not both")
            if self.op is not None:
                raise BadInput("--op/--value make a yes/no prediction; drop them for an interval")
        else:
            if self.p is None:
                raise BadInput("give -p PROBABILITY (yes/no) or --low/--high with --level (an interval)")
            if not 0 <= self.p <= 1:
                raise BadInput(f"the probability {self.p:g} is outside [0, 1]")
            if self.verdict and (self.op is not None or self.value is not None):
                raise BadInput("--verdict A B WORD is itself the claim; drop --op/--value")
            if self.metric and not self.verdict and (self.op is None or self.value is None):
                raise BadInput(
                    "a yes/no prediction on a metric needs --op and --value, e.g. --op '>' --value 0.9"
                )
        if self.metric is None and (self.op is not None or self.value is not None):
            raise BadInput("--op/--value need --metric")
        if self.metric is None and self.scoped:
            raise BadInput("--where, --diff and --verdict say which runs a metric is read from; add --metric")
        if self.verdict and self.kind == NUMERIC:
            raise BadInput("--verdict is a yes/no prediction: give -p, not --low/--high")
        if self.where is not None and not self.where.strip():
            raise BadInput("--where needs an expression, e.g. --where 'params.lr == 0.2'")
        if self.op is not None and self.op not in OPS:
            raise BadInput(f"--op must be one of {' '.join(OPS)}")
        if self.agg not in AGGS:
            raise BadInput(f"--agg must be one of {', '.join(AGGS)}")
        if self.reduce not in REDUCERS:
            raise BadInput(f"--reduce must be one of {', '.join(REDUCERS)}")
        if self.min_runs < 1:
            raise BadInput("--runs must be at least 1")
