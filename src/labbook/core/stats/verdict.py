"""``compare``: A against B on one metric, with the test it picks and the verdict in words.

When the test and the CI disagree nothing is claimed, and the verdict says which said
what and why they can differ. ``adjust_family`` and ``adjust_holm`` settle the verdicts
of a family of comparisons by the rules of ``multiple.py``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from labbook.core.stats.common import ALPHA, Floats, flat_values
from labbook.core.stats.effects import hedges_g, superiority
from labbook.core.stats.intervals import Summary, describe
from labbook.core.stats.multiple import calls, decide, excludes_zero, family_calls, holm, holm_calls
from labbook.core.stats.paired import mcnemar, paired_t
from labbook.core.stats.power import SeedsNeeded, seeds_needed_range
from labbook.core.stats.shape import SHAPE_P, looks_misshapen, shapiro_p
from labbook.core.stats.tests import TOO_FEW, Tested, permutation_floor, unpaired
from labbook.errors import BadInput


@dataclass(frozen=True)
class Comparison:
    """A against B on one metric: what ``lab compare`` prints for it."""

    a: Summary
    b: Summary
    diff: float
    low: float
    high: float
    ci_method: str
    test: str
    p: float
    superiority: float  # P(a run of A beats one of B) by the goal
    effect: float  # Hedges' g
    verdict: str  # "better", "worse", "none"
    seeds_needed: int | None  # per side (pairs when paired), the low end of ``seeds_range``
    detect: float | None  # the difference the seeds estimate is for
    paired: bool = False
    notes: list[str] = field(default_factory=list)
    role: str = "primary"  # or "secondary" (see ``family_calls``), or "vs baseline"
    p_adjusted: float = math.nan  # the p the verdict uses
    seeds_range: tuple[int, int | None] | None = None
    seeds_for: str | None = None  # "detect", "observed", or None (no estimate)
    conflict: str | None = None  # why the test and the CI disagree, when they do
    higher_is_better: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "diff": self.diff,
            "ci_low": self.low,
            "ci_high": self.high,
            "ci_method": self.ci_method,
            "test": self.test,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "role": self.role,
            "p_a_beats_b": self.superiority,
            "hedges_g": self.effect,
            "verdict": self.verdict,
            "conflict": self.conflict,
            "seeds_needed": self.seeds_needed,
            "seeds_needed_range": list(self.seeds_range) if self.seeds_range else None,
            "seeds_needed_for": self.seeds_for,
            "detect": self.detect,
            "paired": self.paired,
            "notes": list(self.notes),
        }


def _is_binary(x: Floats, y: Floats) -> bool:
    return bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())


def _paired_test(x: Floats, y: Floats, notes: list[str]) -> tuple[Tested, str]:
    """McNemar for 0/1 scores, else the paired t; the CI is the paired t's either way."""
    if len(x) != len(y):
        raise BadInput("a paired comparison needs the same number of values on both sides")
    d = x - y
    tested = paired_t(d)
    if _is_binary(x, y) and len(x) > 1:
        m = mcnemar(x, y)
        name = (
            f"McNemar ({'exact binomial' if m.exact else 'chi-square'}; {m.a_only} vs {m.b_only} discordant)"
        )
        p = np.asarray(m.p, dtype=float)
        return dataclasses.replace(tested, p=p, test=np.asarray(name)), "paired t"
    sw = float(shapiro_p(d))
    if looks_misshapen(sw):
        notes.append(
            f"the differences look skewed or have an outlier (Shapiro-Wilk p = {sw:.2g} < {SHAPE_P:g}): "
            "the paired t CI's 95% coverage is doubtful"
        )
    return tested, "paired t"


def _unpaired_test(x: Floats, y: Floats, reach: float, alpha: float, notes: list[str]) -> Tested:
    tested = unpaired(x, y, reach)
    if str(tested.choice) == TOO_FEW and str(tested.test) != "none (no variation on either side)":
        floor = permutation_floor(len(x), len(y))
        needs = (
            "" if reach >= alpha else f", and the adjustment for several tests needs one below {reach:.2g}"
        )
        notes.append(
            f"with {len(x)} vs {len(y)} runs no permutation p-value can fall below {floor:.2g}{needs}, "
            "so Welch's t is used: it assumes the seed-to-seed noise is normal"
        )
    return tested


def compare(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alpha: float = ALPHA,
    higher_is_better: bool = True,
    detect: float | None = None,
    paired: bool = False,
    reach: float | None = None,
) -> Comparison:
    """Compare the values of A with those of B (aligned pair by pair when ``paired``).

    ``reach``: the level the p-value must be able to reach, alpha unless it will be
    adjusted for several tests (then alpha / m, the first step of Holm's). The verdict is
    that of a comparison on its own; ``adjust_family`` and ``adjust_holm`` settle it
    within a family.
    """
    x, y = flat_values(a, "A's values"), flat_values(b, "B's values")
    if len(x) == 0 or len(y) == 0:
        raise BadInput("each side needs at least one value to compare")
    sa, sb = describe(x), describe(y)
    notes: list[str] = []
    if paired:
        tested, ci_method = _paired_test(x, y, notes)
    elif len(x) < 2 or len(y) < 2:
        nan = np.asarray(math.nan)
        tested = Tested(
            np.asarray(sa.mean - sb.mean), nan, nan, nan, np.asarray("none (a single run on a side)"), nan
        )
        ci_method = "none"
    else:
        tested, ci_method = _unpaired_test(x, y, alpha if reach is None else reach, alpha, notes), "Welch t"
    diff, low, high, p = (float(v) for v in (tested.diff, tested.low, tested.high, tested.p))
    clear = math.isfinite(p) and (p < alpha or bool(excludes_zero(low, high)))
    seeds = _seeds(x, y, detect, clear, diff, paired, alpha)
    c = Comparison(
        sa,
        sb,
        diff,
        low,
        high,
        ci_method,
        str(tested.test),
        p,
        superiority(x, y, higher_is_better),
        hedges_g(x, y),
        "none",
        seeds.low if seeds else None,
        seeds.detect if seeds else detect,
        paired,
        notes,
        seeds_range=(seeds.low, seeds.high) if seeds and seeds.low is not None else None,
        seeds_for=seeds.kind if seeds else None,
        higher_is_better=higher_is_better,
    )
    return settle(c, p, bool(calls(p, low, high, alpha)), alpha)


def _seeds(
    x: Floats, y: Floats, detect: float | None, clear: bool, diff: float, paired: bool, alpha: float
) -> SeedsNeeded | None:
    """For ``detect`` when given; else for the observed difference only when the data tell
    it from 0 (a difference indistinguishable from 0 is no basis for planning)."""
    if paired and _is_binary(x, y):
        return None  # McNemar's power is not the t test's
    if detect is not None:
        return seeds_needed_range(x, y, detect, "detect", paired, alpha)
    if clear and diff != 0:
        return seeds_needed_range(x, y, abs(diff), "observed", paired, alpha)
    return None


def _test_phrase(test: str) -> str:
    if test.startswith("permutation"):
        return "the permutation test"
    if test.startswith("McNemar"):
        return "McNemar's test"
    if test.startswith("paired t"):
        return "the paired t test"
    return f"{test} test" if test.endswith(" t") else test


def _why(test: str) -> str:
    if test.startswith("permutation"):
        return "the CI assumes normal noise; the permutation test does not"
    if test.startswith("McNemar"):
        return "McNemar's test counts only the pairs where A and B differ; the CI is of the mean difference"
    return "they are computed differently"


def _explain(c: Comparison, p_adj: float, alpha: float, family: str | None) -> str | None:
    """Why no difference is claimed although the test or the CI alone would claim one."""
    excludes = bool(excludes_zero(c.low, c.high))
    if not math.isfinite(p_adj) or (p_adj < alpha) == excludes:
        return None
    ci = f"the {c.ci_method} CI"
    if p_adj < alpha:
        said = "p" if family is None else "the adjusted p"
        return (
            f"{_test_phrase(c.test)} gives {said} {_pv(p_adj)} but {ci} includes 0 ({_why(c.test)}); "
            "counted as no detectable difference: a difference is claimed only when both say so"
        )
    if family is not None and c.p < alpha:
        return (
            f"{ci} excludes 0 and the raw p is {_pv(c.p)}, but neither is adjusted for {family}: "
            f"the adjusted p {_pv(p_adj)} decides, counted as no detectable difference"
        )
    adjusted = "" if family is None else " (adjusted)"
    return (
        f"{ci} excludes 0 but {_test_phrase(c.test)} gives p{adjusted} {_pv(p_adj)} ({_why(c.test)}); "
        "counted as no detectable difference: a difference is claimed only when both say so"
    )


def _pv(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.2g}"


def settle(
    c: Comparison,
    p_adjusted: float,
    called: bool,
    alpha: float = ALPHA,
    *,
    role: str = "primary",
    family: str | None = None,
    gate: str | None = None,
    p_own: float | None = None,
) -> Comparison:
    """The comparison with the verdict a family's rule gave it (``called``) and the words
    for it: why the test and the CI disagree (judged at ``p_own``, the metric's own adjusted
    p, when given), or ``gate``: why a metric that would count on its own does not."""
    verdict = str(decide(0.0, c.diff, alpha, c.higher_is_better)) if called else "none"
    notes = [n for n in c.notes if not n.startswith("not called: ")]
    conflict = None
    if not called:
        conflict = _explain(c, p_adjusted if p_own is None else p_own, alpha, family)
        if gate is not None:
            notes.append(f"not called: {gate}")
    return dataclasses.replace(
        c, verdict=verdict, p_adjusted=float(p_adjusted), role=role, conflict=conflict, notes=notes
    )


def adjust_family(
    comparisons: list[Comparison], alpha: float = ALPHA, primary: str = "the primary metric"
) -> list[Comparison]:
    """The verdicts of several metrics of one A/B comparison, the first primary: ``family_calls``."""
    if len(comparisons) < 2:
        return [settle(c, c.p, bool(calls(c.p, c.low, c.high, alpha)), alpha) for c in comparisons]
    p = np.array([[c.p for c in comparisons]])
    low, high = np.array([[c.low for c in comparisons]]), np.array([[c.high for c in comparisons]])
    adjusted, called = family_calls(p, low, high, alpha)
    own = holm(p[0, 1:])  # each secondary's p within its own family, before the gate
    m = len(comparisons) - 1
    family = f"the {m} secondary metric{'s' if m != 1 else ''} (Holm)"
    gate = (
        f"a secondary metric counts only when the primary one ({primary}) shows a difference, "
        f"which keeps the chance of any false call over all {m + 1} metrics at {alpha:g}"
    )
    out = [settle(comparisons[0], float(adjusted[0, 0]), bool(called[0, 0]), alpha)]
    for j, c in enumerate(comparisons[1:], start=1):
        shut = not called[0, 0]
        would = bool(calls(own[j - 1], c.low, c.high, alpha))
        out.append(
            settle(
                c,
                float(adjusted[0, j]),
                bool(called[0, j]),
                alpha,
                role="secondary",
                family=family,
                gate=gate if shut and would else None,
                p_own=float(own[j - 1]) if shut else None,
            )
        )
    return out


def adjust_holm(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The verdicts of many comparisons against one baseline, Holm-adjusted: ``holm_calls``."""
    if not comparisons:
        return []
    p = np.array([c.p for c in comparisons])
    low, high = np.array([c.low for c in comparisons]), np.array([c.high for c in comparisons])
    adjusted, called = holm_calls(p, low, high, alpha)
    m = int(np.sum(np.isfinite(p)))
    family = f"the {m} comparisons with the baseline (Holm)" if m > 1 else None  # one: Holm changes nothing
    return [
        settle(c, float(q), bool(k), alpha, role="vs baseline", family=family)
        for c, q, k in zip(comparisons, adjusted, called, strict=True)
    ]
