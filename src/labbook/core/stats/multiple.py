"""When a difference is claimed, alone or among several metrics or comparisons.

"Better" needs p < alpha *and* a CI that excludes 0. Of several metrics one is primary
and the others secondary (``family_calls``, a serial gatekeeper); many variants against
one baseline are Holm-adjusted (``holm_calls``). Both keep the family-wise error at alpha.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.core.stats.common import ALPHA, Floats
from labbook.errors import BadInput


def holm(pvalues: ArrayLike, axis: int = -1) -> Floats:
    """Holm's step-down adjustment along ``axis`` (NaN p-values are left out of the family
    and stay NaN): controls the family-wise error, never less powerful than Bonferroni."""
    p = np.moveaxis(np.asarray(pvalues, dtype=float), axis, -1)
    if p.ndim == 0:
        raise BadInput("p-values must be a list of numbers")
    m = np.sum(~np.isnan(p), axis=-1, keepdims=True)
    order = np.argsort(p, axis=-1, kind="stable")  # NaN last
    ranked = np.take_along_axis(p, order, axis=-1)
    scaled = (m - np.arange(p.shape[-1])) * ranked
    stepped = np.minimum(np.fmax.accumulate(scaled, axis=-1), 1.0)
    stepped = np.where(np.isnan(ranked), np.nan, stepped)
    out = np.empty_like(p)
    np.put_along_axis(out, order, stepped, axis=-1)
    return np.moveaxis(out, -1, axis)


def excludes_zero(low: ArrayLike, high: ArrayLike) -> NDArray[np.bool_]:
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return ~((lo <= 0) & (hi >= 0))


def calls(p_decide: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA) -> NDArray[np.bool_]:
    """The rule for claiming a difference: p < alpha *and* a CI that excludes 0."""
    return (np.asarray(p_decide, dtype=float) < alpha) & excludes_zero(low, high)


def family_calls(
    p: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA
) -> tuple[Floats, NDArray[np.bool_]]:
    """(adjusted p, called) for metrics on the last axis, the first of them primary.

    The rule (a serial gatekeeper, which keeps the family-wise error over *all* the metrics
    at alpha): the primary metric is tested at alpha, as it is. The secondary ones are
    Holm-adjusted among themselves, and each adjusted p is raised to at least the
    primary's: p_adj[j] = max(p[0], holm(p[1:])[j]). A secondary metric is called only
    when the primary is called too, and its own p_adj < alpha with a CI excluding 0.
    Holm alone at alpha over the secondaries plus the primary at alpha would be
    family-wise 2·alpha over the whole table.
    """
    pv = np.asarray(p, dtype=float)
    adjusted = pv.copy()
    if pv.shape[-1] > 1:
        adjusted[..., 1:] = np.maximum(pv[..., :1], holm(pv[..., 1:]))
    called = calls(adjusted, low, high, alpha)
    called[..., 1:] &= called[..., :1]
    return adjusted, called


def holm_calls(
    p: ArrayLike, low: ArrayLike, high: ArrayLike, alpha: float = ALPHA
) -> tuple[Floats, NDArray[np.bool_]]:
    """(Holm-adjusted p, called) for comparisons on the last axis, none of them primary."""
    adjusted = holm(p)
    return adjusted, calls(adjusted, low, high, alpha)


def decide(
    p: ArrayLike, diff: ArrayLike, alpha: float = ALPHA, higher_is_better: bool = True
) -> NDArray[np.str_]:
    """ "better" / "worse" when p < alpha, by the sign of the difference; "none" otherwise."""
    p_, d_ = np.asarray(p, dtype=float), np.asarray(diff, dtype=float)
    good = d_ > 0 if higher_is_better else d_ < 0
    return np.where(p_ < alpha, np.where(good, "better", "worse"), "none")
