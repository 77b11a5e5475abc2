"""``lab compare --group-by KEY``: every value of one parameter against a baseline, Holm-adjusted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labbook.core.stats import verdict
from labbook.core.stats.common import ALPHA
from labbook.core.stats.intervals import Summary, describe
from labbook.errors import BadInput
from labbook.service.compare.metrics import check_metric, lower_is_better
from labbook.service.compare.sides import Side, select
from labbook.service.compare.values import fold_runs, folded_values
from labbook.service.compare.variants import Variant, group_by, short
from labbook.service.settings import goal_of, noise_of

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass
class GroupRow:
    value: Any
    summary: Summary
    comparison: verdict.Comparison | None  # None for the baseline
    p_holm: float | None
    runs: list[int]
    verdict: str = "baseline"


def compare_groups(
    nb: Notebook,
    key: str,
    metric: str,
    *,
    baseline: str | None = None,
    agg: str = "last",
    where: str | None = None,
    goal: str | None = None,
    include_all: bool = False,
    alpha: float = ALPHA,
    noise: tuple[str, ...] | None = None,
) -> tuple[list[GroupRow], Side, list[str]]:
    """Every value of parameter ``key`` against the baseline value, Holm-adjusted.

    Repeats (same configuration and seed) count once. Each test is chosen so that its
    p-value can reach alpha / m (m comparisons): with 5 runs a value and 7 or more
    comparisons no permutation p-value can, so Welch's t is used, and a note says so.
    """
    import numpy as np

    from labbook.core.config import parse_value

    side = select(nb, where or "id > 0", None, include_all)
    check_metric(metric, {"": side})
    missing = [r.id for r in side.runs if key not in r.params]
    if len(missing) == len(side.runs):
        raise BadInput(f"no run has a parameter {key!r}; --group-by takes a parameter name")
    groups = group_by(side.runs, key)
    if len(groups) < 2:
        raise BadInput(f"every run has {key}={groups[0].params[key]!r}: nothing to compare")
    if baseline is None:
        base = groups[0]
    else:
        wanted = repr(parse_value(baseline))
        found = [g for g in groups if repr(g.params[key]) == wanted]
        if not found:
            known = ", ".join(repr(g.params[key]) for g in groups)
            raise BadInput(f"--baseline {baseline}: no run has {key}={baseline} (values: {known})")
        base = found[0]
    noise, noise_set = noise_of(nb.settings, noise)
    goal, goal_set = goal_of(nb.settings, metric, goal)
    low_better = lower_is_better(metric, goal)
    warnings: list[str] = []
    if noise_set:
        warnings.append(f"noise keys {', '.join(noise)} (lab settings)")
    if goal_set:
        warnings.append(f"{metric}: {'lower' if low_better else 'higher'} is better (lab settings)")
    values: list[tuple[Variant, list[float]]] = []
    for g in groups:
        vals, nan_ids = folded_values(g.runs, metric, agg, noise)
        if nan_ids:
            warnings.append(
                f"{key}={short(g.params[key])}: NaN {metric} in runs {', '.join(map(str, nan_ids))}, left out"
            )
        note = fold_runs(g.runs, noise)[1].note(f"in {key}={short(g.params[key])}")
        if note:
            warnings.append(note)
        if vals:
            values.append((g, vals))
    base_vals = next((v for g, v in values if g is base), [])
    # every p-value must be able to reach alpha / m, the first step of Holm's over m comparisons
    m = max(1, sum(1 for g, _ in values if g is not base)) if base_vals else 1
    rows = []
    for g, vals in values:
        comp = None
        if g is not base and base_vals:
            comp = verdict.compare(
                np.asarray(vals),
                np.asarray(base_vals),
                alpha=alpha,
                higher_is_better=not low_better,
                reach=alpha / m,
            )
        rows.append(GroupRow(g.params[key], describe(vals), comp, None, [r.id for r in g.runs]))
    compared = [r for r in rows if r.comparison is not None]
    settled = verdict.adjust_holm([r.comparison for r in compared if r.comparison is not None], alpha)
    for row, c in zip(compared, settled, strict=True):
        row.comparison = c
        row.p_holm = c.p_adjusted if math.isfinite(c.p_adjusted) else None
        row.verdict = c.verdict
    if any(len(fold_runs(g.runs, noise)[0]) == 1 for g in groups):
        warnings.append("some values have a single run: no spread to judge them by")
    return rows, side, warnings
