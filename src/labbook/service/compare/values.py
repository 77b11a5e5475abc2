"""One value per (configuration, seed), unpaired or paired by seed.

Runs that repeat a configuration *and* its seed (a ``lab rerun``) are one observation:
``repeats.fold`` counts them once, and a warning says so.
"""

from __future__ import annotations

import math

from labbook.core import repeats
from labbook.errors import BadInput
from labbook.records.runs import RunRecord
from labbook.service.compare.metrics import value
from labbook.service.compare.variants import NOISE


def folded_values(
    runs: list[RunRecord], metric: str, agg: str, noise: tuple[str, ...] = NOISE
) -> tuple[list[float], list[int]]:
    """One value per (configuration, seed): repeats folded to their mean (``repeats.fold``),
    runs whose value is NaN left out (and returned)."""
    pairs, nan_runs = [], []
    for run in runs:
        v = value(run, metric, agg)
        if math.isnan(v):
            nan_runs.append(run.id)
        else:
            pairs.append((run, v))
    return repeats.fold(pairs, noise).values, nan_runs


def fold_runs(
    runs: list[RunRecord], noise: tuple[str, ...] = NOISE
) -> tuple[list[RunRecord], repeats.Folded]:
    """The first run of each (configuration, seed), and the folding behind it."""
    folded = repeats.fold([(r, 0.0) for r in runs], noise)
    by_id = {r.id: r for r in runs}
    return [by_id[ids[0]] for ids in folded.runs], folded


def _noise_value(run: RunRecord, noise: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(repr(run.params.get(k)) for k in noise)


def pairable(a: list[RunRecord], b: list[RunRecord], noise: tuple[str, ...]) -> bool:
    """Both sides ran the same noise values (seeds), each once once repeats are folded:
    a paired design was possible."""
    a, b = fold_runs(a, noise)[0], fold_runs(b, noise)[0]
    ka = [_noise_value(r, noise) for r in a]
    kb = [_noise_value(r, noise) for r in b]
    if len(ka) < 2 or len(set(ka)) != len(ka) or len(set(kb)) != len(kb):
        return False
    if all(all(v == "None" for v in k) for k in ka):
        return False
    return sorted(ka) == sorted(kb)


def _by_noise(
    runs: list[RunRecord], metric: str, agg: str, noise: tuple[str, ...]
) -> dict[tuple[str, ...], float]:
    """Each (configuration, seed)'s folded finite value, by its noise value."""
    by_id = {r.id: r for r in runs}
    pairs = [(r, v) for r in runs if not math.isnan(v := value(r, metric, agg))]
    folded = repeats.fold(pairs, noise)
    return {_noise_value(by_id[ids[0]], noise): v for ids, v in zip(folded.runs, folded.values, strict=True)}


def paired_by_seed(
    a: list[RunRecord], b: list[RunRecord], metric: str, agg: str, noise: tuple[str, ...]
) -> tuple[list[float], list[float]]:
    if not pairable(a, b, noise):
        raise BadInput(
            f"--paired needs each {'/'.join(noise)} value once on both sides; "
            "A and B ran different ones (compare them unpaired)"
        )
    va, vb = _by_noise(a, metric, agg, noise), _by_noise(b, metric, agg, noise)
    keys = [k for k in va if k in vb]  # a seed whose value is NaN on a side drops its pair
    return [va[k] for k in keys], [vb[k] for k in keys]
