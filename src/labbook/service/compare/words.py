"""A comparison in words: numbers and p-values for sentences, and the verdict a reader can quote."""

from __future__ import annotations

import math

from labbook.core.stats.power import SEEDS_CAP
from labbook.core.stats.verdict import Comparison
from labbook.service.compare.report import MetricResult


def num(x: float | None, digits: int = 3) -> str:
    """A number for a sentence: ``0.8``, ``0.0123``, ``1.2e-05``, ``nan``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    return text


def pvalue(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.2g}" if p < 0.01 else f"= {p:.2f}"


def verdict(result: MetricResult, a: str = "A", b: str = "B") -> str:
    """The comparison in one sentence a reader can quote."""
    c = result.comparison
    n = f"n = {c.a.n} pairs by {result.pairing}" if result.pairing else f"n = {c.a.n} vs {c.b.n}"
    adjusted = (
        f", adjusted p {pvalue(c.p_adjusted)}" if c.role != "primary" and math.isfinite(c.p_adjusted) else ""
    )
    if c.verdict != "none":
        direction = "better" if c.verdict == "better" else "worse"
        which = " (lower)" if result.lower_better and c.diff < 0 else " (higher)" if c.diff > 0 else ""
        return (
            f"{a} is {direction}{which} by {num(abs(c.diff))} "
            f"(95% CI {num(c.low)} to {num(c.high)}, p {pvalue(c.p)}{adjusted}, {n})"
        )
    if math.isnan(c.p):
        return f"no test possible with {n}: a single run on a side has no spread"
    text = (
        f"no detectable difference with {n} (difference {num(c.diff)}, "
        f"95% CI {num(c.low)} to {num(c.high)}, p {pvalue(c.p)}{adjusted})"
    )
    if c.conflict:
        text += f": {c.conflict}"
    if result.pairing != "example id":  # examples, not seeds, are the units there
        text += "; " + seeds_text(c)
    return text


def seeds_text(c: Comparison) -> str:
    """How many seeds would detect the difference that matters, or how to ask for it."""
    unit = "pairs (seeds run on both sides)" if c.paired else "seeds per side"
    if c.seeds_for is None or c.detect is None:
        if c.detect is not None:
            why = "McNemar's test has none" if c.test.startswith("McNemar") else "the values do not vary"
            return f"no seeds-needed estimate for {num(c.detect, 2)}: {why}"
        return "give --detect D (the smallest difference that matters) for a seeds-needed estimate"
    what = num(c.detect, 2) if c.seeds_for == "detect" else f"the observed difference {num(c.detect, 2)}"
    if c.seeds_range is None:
        return f"more than {SEEDS_CAP:,} {unit} would be needed to detect {what} at 80% power"
    low, high = c.seeds_range
    count = (
        f"{low:,}"
        if high == low
        else f"{low:,}–{high:,}"
        if high is not None
        else f"{low:,} to over {SEEDS_CAP:,}"
    )
    return (
        f"about {count} {unit} would be needed to detect {what} at 80% power "
        "(SD estimate to its 80% upper bound)"
    )
