"""The ordering maths of a plan: cheapest-riskiest first, and what a sequence of steps is likely to cost."""

from __future__ import annotations

import math
from collections.abc import Sequence


def priority(p: float, hours: float) -> float:
    """``ln(1/p) / hours``: what a step tells you per hour spent on it."""
    return math.log(1.0 / p) / hours


def order(ps: Sequence[float], hours: Sequence[float]) -> list[int]:
    """Indices of the tasks, highest ``ln(1/p)/hours`` first; ties go to the cheaper, then the earlier task."""
    return sorted(range(len(ps)), key=lambda i: (-priority(ps[i], hours[i]), hours[i], i))


def p_all_succeed(ps: Sequence[float]) -> float:
    """The probability that every task succeeds, taking them as independent: ``Π p``."""
    return math.prod(ps)


def expected_hours(ps: Sequence[float], hours: Sequence[float]) -> float:
    """Expected hours worked before the first failure, doing the tasks in the given order.

    Work goes down the list and stops at the first task that fails; a failure is known
    only once its task's hours are spent, so those hours count. If nothing fails, every
    task's hours count. With independent outcomes, task ``i`` is worked on exactly when
    all before it succeeded, so the expectation is ``Σ_i hours_i · Π_{j<i} p_j``. It is
    the expected cost of finding out whether the plan holds, and the quantity the
    ordering keeps small.
    """
    total, reach = 0.0, 1.0
    for p, h in zip(ps, hours, strict=True):
        total += reach * h
        reach *= p
    return total
