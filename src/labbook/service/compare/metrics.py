"""Which metrics a comparison reads, their values, and which way is better.

Values are the stored metric summaries (last/min/max/mean), so a comparison opens no
series file unless it pairs on per-example scores (``examples.py``).
"""

from __future__ import annotations

import re

from labbook.errors import BadInput
from labbook.records.runs import RunRecord
from labbook.service.compare.sides import Side

AGGS = ("last", "min", "max", "mean")
#: Metric names whose smaller values are better, unless the user says otherwise (--goal).
_LOWER_BETTER = re.compile(r"loss|err|perplexity|ppl|mse|mae|rmse|nll|wer|cer|time|latency|regret|fid", re.I)


def lower_is_better(metric: str, goal: str | None = None) -> bool:
    """``goal`` (min/max) when given; else guessed from the name (loss, error, ... are minimised)."""
    if goal is not None:
        return goal == "min"
    return bool(_LOWER_BETTER.search(metric))


def value(run: RunRecord, metric: str, agg: str) -> float:
    m = run.metrics[metric]
    return float(getattr(m, agg))


def common_metrics(a: list[RunRecord], b: list[RunRecord]) -> tuple[list[str], list[str]]:
    """(metrics every run of both sides has, metrics only some have), system metrics aside."""
    everyone = [set(r.metrics) for r in a + b]
    shared = set.intersection(*everyone)
    some = set.union(*everyone) - shared
    keep = sorted(k for k in shared if not k.startswith("sys/"))
    return keep, sorted(k for k in some if not k.startswith("sys/"))


def check_metric(metric: str, sides: dict[str, Side]) -> None:
    for name, side in sides.items():
        lacking = [r.id for r in side.runs if metric not in r.metrics]
        if lacking:
            shown = ", ".join(map(str, lacking[:10])) + (" ..." if len(lacking) > 10 else "")
            raise BadInput(
                f"metric {metric!r} is missing on side {name} ({side.spec}): run{'s' if len(lacking) > 1 else ''} "
                f"{shown} never logged it"
            )
