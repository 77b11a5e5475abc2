"""Pairing two sides on the examples they scored, rather than on seeds.

There the examples are the units: with hundreds of them a paired t over examples (or
McNemar's test, one run a side) is sound where a handful of seeds would not be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labbook.core.stats.intervals import t_interval
from labbook.core.stats.paired import EXACT_MCNEMAR, paired_t_p
from labbook.errors import BadInput
from labbook.records.runs import RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


@dataclass(frozen=True)
class ExampleComparison:
    """Accuracy on the example ids every run of both sides scored, paired example by example."""

    split: str
    n: int
    acc_a: float
    acc_b: float
    diff: float  # A − B
    low: float
    high: float
    p: float
    test: str
    a_only: int | None = None  # one run a side: examples A got right and B wrong
    b_only: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def per_example(nb: Notebook, runs: list[RunRecord], key: str) -> dict[int, float]:
    """Mean score per example id over a side's runs (the metric's steps are example ids)."""
    import numpy as np

    steps, values = [], []
    for run in runs:
        if key not in run.metrics:
            raise BadInput(f"run {run.id} logged no per-example metric {key!r} (log it with step=EXAMPLE_ID)")
        s = nb.series(run, key)
        ok = ~np.isnan(s.values)
        steps.append(s.steps[ok])
        values.append(s.values[ok])
    ids, where = np.unique(np.concatenate(steps), return_inverse=True)
    means = np.bincount(where, weights=np.concatenate(values)) / np.bincount(where)
    return dict(zip(ids.tolist(), means.tolist(), strict=True))


def example_comparison(
    nb: Notebook, a: list[RunRecord], b: list[RunRecord], split: str = "eval"
) -> ExampleComparison | None:
    """Pair the sides on the examples they all scored (``correct``), when every run logged them.

    One run a side: McNemar's test on the discordant examples (exact below 25). Several:
    each example's accuracy over a side's runs, and the paired t test over examples (the
    examples, not the seeds, are the units; with hundreds of them the t is sound).
    """
    import numpy as np

    from labbook.core import failstats

    if not a or not b or any("correct" not in nb.store.failures.example_fields(r.id, split) for r in a + b):
        return None  # the common case, answered without loading the failures module
    sets = [nb.failures.outcomes(r, split) for r in a + b]
    if any(s is None for s in sets):
        return None
    keys = sets[0][0]  # type: ignore[index]
    for k, _ in sets[1:]:  # type: ignore[misc]
        keys = np.intersect1d(keys, k, assume_unique=True)
    if keys.size < 2:
        return None
    rows = []
    for k, o in sets:  # type: ignore[misc]
        got = o[np.searchsorted(k, keys)].astype(float)
        got[got < 0] = np.nan
        rows.append(got)
    xa, xb = np.nanmean(rows[: len(a)], axis=0), np.nanmean(rows[len(a) :], axis=0)
    known = ~np.isnan(xa) & ~np.isnan(xb)
    xa, xb = xa[known], xb[known]
    d = xa - xb
    low, high = (float(v) for v in t_interval(d))
    acc_a, acc_b, n = float(xa.mean()), float(xb.mean()), int(d.size)
    if len(a) == 1 and len(b) == 1:
        a_only, b_only = int(np.sum(d > 0)), int(np.sum(d < 0))
        test = failstats.mcnemar(b_only, a_only)
        exact = a_only + b_only < EXACT_MCNEMAR
        name = "McNemar exact" if exact else "McNemar chi-square"
        p = test.p_exact if exact else test.p_asymptotic
        return ExampleComparison(
            split, n, acc_a, acc_b, float(d.mean()), low, high, p, name, a_only=a_only, b_only=b_only
        )
    return ExampleComparison(
        split, n, acc_a, acc_b, float(d.mean()), low, high, paired_t_p(d), "paired t over examples"
    )
