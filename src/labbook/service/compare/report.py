"""``lab compare A B``: every metric tested, the family's verdicts, and the report around them.

Of several metrics the first is primary, the rest secondary (``stats.multiple.family_calls``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.core.stats import verdict
from labbook.core.stats.common import ALPHA
from labbook.errors import BadInput
from labbook.records.checks import failed_checks
from labbook.service.compare.budgets import tuning_budget
from labbook.service.compare.diffs import artifact_diff, code_diff, config_diff, environment_diff
from labbook.service.compare.examples import ExampleComparison, example_comparison, per_example
from labbook.service.compare.metrics import AGGS, check_metric, common_metrics, lower_is_better
from labbook.service.compare.sides import Side, select
from labbook.service.compare.values import fold_runs, folded_values, pairable, paired_by_seed
from labbook.service.compare.variants import NOISE, differing_keys, variants
from labbook.service.settings import defaults

if TYPE_CHECKING:
    from labbook.records.artifacts import ArtifactDiff
    from labbook.service.notebook import Notebook


@dataclass
class MetricResult:
    metric: str
    agg: str
    lower_better: bool
    comparison: verdict.Comparison
    dropped: dict[str, list[int]]  # side → runs whose value was NaN
    pairing: str  # "", "seed" (the noise keys), "example id"


@dataclass
class Report:
    a: Side
    b: Side
    config: list[tuple[str, list[Any], list[Any]]]
    code: dict[str, Any]
    environment: dict[str, Any]
    metrics: list[MetricResult]
    warnings: list[str]
    budgets: tuple[int, int]
    examples: ExampleComparison | None = None
    primary: str | None = None  # the metric tested at alpha; the others are secondary
    folded: dict[str, int] = field(default_factory=dict)  # side → repeated runs counted once
    settings_used: list[str] = field(default_factory=list)  # notebook settings that decided something
    artifacts: tuple[ArtifactDiff, ArtifactDiff] | None = None  # (outputs, snapshot files) that differ


def compare(
    nb: Notebook,
    spec_a: str,
    spec_b: str,
    *,
    metrics: list[str] | None = None,
    agg: str = "last",
    where: str | None = None,
    noise: tuple[str, ...] | None = None,
    goal: str | None = None,
    paired: bool = False,
    examples: str | None = None,
    include_all: bool = False,
    alpha: float = ALPHA,
    detect: float | None = None,
    primary: str | None = None,
) -> Report:
    """A against B: configs, code, environment, and every metric with its test and verdict.

    One metric is *primary*: ``primary`` when given (e.g. a hypothesis's metric), else the
    first of ``metrics``, else the first shared metric by name. It is tested at alpha; the
    others are secondary, Holm-adjusted among themselves and called only when the primary
    is (``stats.multiple.family_calls``), so that comparing ten metrics does not find a difference
    in one of them a third of the time. Repeats (same configuration *and* seed) count once.
    What is not given (noise keys, the metric, each metric's goal and --detect) comes from
    the notebook's settings when they say, and ``Report.settings_used`` names each use.
    """
    if agg not in AGGS:
        raise BadInput(f"--agg {agg!r}: use one of {', '.join(AGGS)}")
    if detect is not None and not detect > 0:
        raise BadInput("--detect takes a positive difference, e.g. --detect 0.01")
    a = select(nb, spec_a, where, include_all)
    b = select(nb, spec_b, where, include_all)
    same = {r.id for r in a.runs} & {r.id for r in b.runs}
    if same:
        raise BadInput(
            f"{spec_a!r} and {spec_b!r} share runs ({', '.join(map(str, sorted(same)[:8]))}); "
            "a variant compared with itself tells nothing — name two different sets of runs"
        )
    sides = {"A": a, "B": b}
    warnings: list[str] = []
    d, used = defaults(nb.settings), list[str]()
    if noise is None:
        noise = d.noise or NOISE
        if d.noise:
            used.append(f"noise keys {', '.join(noise)}")
    if not metrics and primary is None and examples is None and d.metric and _logged(d.metric, sides):
        metrics = [d.metric]
        used.append(f"metric {d.metric}")
    chosen = _chosen_metrics(sides, metrics, examples, primary, warnings)
    goals = {m: goal or d.goals.get(m) for m in chosen}
    used += [f"{m}: {'lower' if d.goals[m] == 'min' else 'higher'} is better" for m in chosen
             if goal is None and m in d.goals]  # fmt: skip
    detects = {m: detect if detect is not None else d.detect.get(m) for m in chosen}
    used += [f"{m}: detect {d.detect[m]:g}" for m in chosen if detect is None and m in d.detect]
    folded = {}
    for name, side in sides.items():
        fold = fold_runs(side.runs, noise)[1]
        folded[name] = fold.folded
        note = fold.note(f"on side {name}")
        if note:
            warnings.append(note)
    gathered = []
    for metric in chosen:
        got = _gather(nb, a, b, metric, agg, noise, paired, examples, warnings)
        if got is not None:
            gathered.append((metric, *got))
    if not gathered:
        raise BadInput("no metric could be compared (every value was NaN on a side)")
    if gathered[0][0] != chosen[0]:
        warnings.append(f"the primary metric {chosen[0]} could not be compared; {gathered[0][0]} is primary")
    results = _compare_metrics(gathered, agg, goals, alpha, detects)
    _design_warnings(nb, sides, noise, paired, examples, warnings)
    budgets = (tuning_budget(nb, a.runs, noise), tuning_budget(nb, b.runs, noise))
    if budgets[0] != budgets[1]:
        more, less = ("A", "B") if budgets[0] > budgets[1] else ("B", "A")
        warnings.append(
            f"unequal tuning budget: {more} was picked from {max(budgets)} configurations tried in its sweeps, "
            f"{less} from {min(budgets)}; the comparison favours {more}"
        )
    # with their captures (list_runs leaves them out); the runs were just reaped by list_runs
    full_a = [nb.store.runs.get_run(r.id) or r for r in a.runs]
    full_b = [nb.store.runs.get_run(r.id) or r for r in b.runs]
    return Report(
        a,
        b,
        config_diff(a.runs, b.runs, noise),
        code_diff(nb, full_a, full_b),
        environment_diff(nb, full_a, full_b),
        results,
        warnings,
        budgets,
        example_comparison(nb, a.runs, b.runs),
        results[0].metric,
        folded,
        used,
        artifact_diff(nb, a.runs, b.runs),
    )


def _logged(metric: str, sides: dict[str, Side]) -> bool:
    """Whether every run of both sides logged ``metric`` (a default metric that is not is not used)."""
    return all(metric in r.metrics for s in sides.values() for r in s.runs)


def _chosen_metrics(
    sides: dict[str, Side],
    metrics: list[str] | None,
    examples: str | None,
    primary: str | None,
    warnings: list[str],
) -> list[str]:
    """The metrics to compare, the primary first."""
    if metrics:
        for m in metrics:
            check_metric(m, sides)
        chosen = list(dict.fromkeys(metrics))
    else:
        a, b = sides["A"], sides["B"]
        chosen, partial = common_metrics(a.runs, b.runs)
        if partial:
            warnings.append(
                f"not every run logged {', '.join(partial[:6])}: not compared (name it with --metric)"
            )
        if not chosen and examples is None:
            raise BadInput("the two sides have no metric in common; name one with --metric")
    if examples is not None:  # the per-example metric is compared paired, besides any named with --metric
        for side in sides.values():
            check_metric(examples, {"": side})
        chosen = [m for m in metrics or [] if m != examples] + [examples]
    if primary is not None:
        if primary not in chosen:
            raise BadInput(
                f"the primary metric {primary!r} is not among those compared ({', '.join(chosen)})"
            )
        chosen = [primary] + [m for m in chosen if m != primary]
    return chosen


def _gather(
    nb: Notebook,
    a: Side,
    b: Side,
    metric: str,
    agg: str,
    noise: tuple[str, ...],
    paired: bool,
    examples: str | None,
    warnings: list[str],
) -> tuple[list[float], list[float], dict[str, list[int]], str] | None:
    """(A's values, B's values, runs dropped for NaN by side, pairing) of one metric."""
    dropped: dict[str, list[int]] = {}
    pairing = ""
    if examples is not None and metric == examples:
        ea, eb = per_example(nb, a.runs, metric), per_example(nb, b.runs, metric)
        ids = sorted(set(ea) & set(eb))
        if not ids:
            raise BadInput(f"A and B scored no example id in common in {metric!r}; they cannot be paired")
        if len(ids) < max(len(ea), len(eb)):
            warnings.append(
                f"{metric}: {len(ids)} example ids scored on both sides are paired; "
                f"{len(ea) - len(ids)} of A's and {len(eb) - len(ids)} of B's are left out"
            )
        xs, ys = [ea[i] for i in ids], [eb[i] for i in ids]
        pairing = "example id"
    elif paired:
        xs, ys = paired_by_seed(a.runs, b.runs, metric, agg, noise)
        pairing = "/".join(noise)
    else:
        xs, nan_a = folded_values(a.runs, metric, agg, noise)
        ys, nan_b = folded_values(b.runs, metric, agg, noise)
        dropped = {k: v for k, v in (("A", nan_a), ("B", nan_b)) if v}
    for side_name, ids_ in dropped.items():
        warnings.append(
            f"{metric}: the {agg} value is NaN in run{'s' if len(ids_) > 1 else ''} "
            f"{', '.join(map(str, ids_))} of {side_name}, left out"
        )
    nan_points = [r.id for r in a.runs + b.runs if metric in r.metrics and r.metrics[metric].nan_count]
    if nan_points and not dropped:
        warnings.append(
            f"{metric} has NaN points in run{'s' if len(nan_points) > 1 else ''} {', '.join(map(str, nan_points[:8]))}"
        )
    if not xs or not ys:
        warnings.append(f"{metric}: no finite {agg} value on side {'A' if not xs else 'B'}; not compared")
        return None
    return xs, ys, dropped, pairing


def _compare_metrics(
    gathered: list[tuple[str, list[float], list[float], dict[str, list[int]], str]],
    agg: str,
    goals: dict[str, str | None],
    alpha: float,
    detects: dict[str, float | None],
) -> list[MetricResult]:
    """Each metric tested, then the family's rule: the first primary, the rest secondary.

    A secondary metric's p-value must be able to reach alpha / m (m secondary metrics,
    the first step of Holm's), so its test is chosen for that level.
    """
    import numpy as np

    secondary = len(gathered) - 1
    comparisons = [
        verdict.compare(
            np.asarray(xs),
            np.asarray(ys),
            alpha=alpha,
            higher_is_better=not lower_is_better(metric, goals.get(metric)),
            paired=bool(pairing),
            detect=detects.get(metric),
            reach=alpha if i == 0 else alpha / secondary,
        )
        for i, (metric, xs, ys, _, pairing) in enumerate(gathered)
    ]
    settled = verdict.adjust_family(comparisons, alpha, primary=gathered[0][0])
    return [
        MetricResult(metric, agg, not c.higher_is_better, c, dropped, pairing)
        for (metric, _, _, dropped, pairing), c in zip(gathered, settled, strict=True)
    ]


def _design_warnings(
    nb: Notebook,
    sides: dict[str, Side],
    noise: tuple[str, ...],
    paired: bool,
    examples: str | None,
    warnings: list[str],
) -> None:
    a, b = sides["A"], sides["B"]
    if len(fold_runs(a.runs, noise)[0]) == 1 or len(fold_runs(b.runs, noise)[0]) == 1:
        single = " and ".join(n for n, s in sides.items() if len(fold_runs(s.runs, noise)[0]) == 1)
        warnings.append(f"a single run on {single}: no spread to judge a difference by; run more seeds")
    if not paired and examples is None and pairable(a.runs, b.runs, noise):
        warnings.append(
            f"both sides ran the same {'/'.join(noise)} values, so a paired test was possible "
            "(--paired compares them seed by seed)"
        )
    for name, side in sides.items():
        failed = [r.id for r in side.runs if failed_checks(r)]
        if failed:
            runs = ", ".join(map(str, failed[:8])) + ("…" if len(failed) > 8 else "")
            warnings.append(
                f"{name} has run{'s' if len(failed) > 1 else ''} {runs} that failed a sanity check"
                " (lab show names it): weak evidence until fixed"
            )
    for name, side in sides.items():
        mixed = variants(side.runs, noise)
        if len(mixed) > 1:
            keys = differing_keys(mixed)
            warnings.append(
                f"{name} mixes {len(mixed)} configurations (they differ in {', '.join(keys[:4])}); "
                "name one variant per side"
            )
