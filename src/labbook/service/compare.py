"""Gathering runs for ``lab compare`` and ``lab plot``: sides, variants, values, diffs.

A *side* is what a user names on the command line: run ids (``3,4,5``), a variant
(``lr=1e-3 scale=true``), a tag, a run name, or a ``--where`` expression. Each becomes
one parameterised query (``query.py``), ANDed with the command's own ``--where``. Only
finished runs count by default: smoke runs (tag ``smoke``) and runs that failed, were
killed, crashed or are still running are left out, and how many were is said.

A *variant* is the runs whose parameters differ only in noise keys (``seed`` unless the
user says otherwise): the seeds of one configuration. Values come from the stored metric
summaries (last/min/max/mean), so a comparison reads no series at all unless it pairs on
per-example scores (``examples``). Runs that repeat a configuration *and* its seed (a
``lab rerun``) are one observation: ``repeats.fold`` counts them once, and a warning says so.
Of several metrics the first is primary, the rest secondary (``stats.family_calls``).

The arithmetic is in ``stats.py``; this module only chooses what to feed it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.core import repeats, stats
from labbook.errors import BadInput, QueryError
from labbook.records.runs import FINISHED, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

NOISE = ("seed",)
SMOKE_TAG = "smoke"
AGGS = ("last", "min", "max", "mean")
#: Metric names whose smaller values are better, unless the user says otherwise (--goal).
_LOWER_BETTER = re.compile(r"loss|err|perplexity|ppl|mse|mae|rmse|nll|wer|cer|time|latency|regret|fid", re.I)
_IDS = re.compile(r"\s*\d+(\s*,\s*\d+)*\s*")
_ASSIGN = re.compile(r"([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)=([^=].*|)")
_WORD = re.compile(r"[\w.\-/:+]+")


def lower_is_better(metric: str, goal: str | None = None) -> bool:
    """``goal`` (min/max) when given; else guessed from the name (loss, error, ... are minimised)."""
    if goal is not None:
        return goal == "min"
    return bool(_LOWER_BETTER.search(metric))


# -- sides -----------------------------------------------------------------------------


@dataclass
class Side:
    """The runs one argument names, and those left out of them (by reason)."""

    spec: str
    kind: str  # runs / variant / tag / name / where
    runs: list[RunRecord]
    excluded: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_excluded(self) -> int:
        return sum(len(v) for v in self.excluded.values())

    def excluded_text(self) -> str:
        return ", ".join(f"{len(ids)} {reason}" for reason, ids in sorted(self.excluded.items()))


def _literal(value: Any) -> str:
    """A value as a literal of the --where language."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _variant_where(spec: str) -> str | None:
    """``lr=1e-3 scale=true`` → ``params.lr == 0.001 and params.scale == true``, else None."""
    from labbook.core.config import parse_value

    tokens = spec.split()
    matches = [_ASSIGN.fullmatch(t) for t in tokens]
    if not tokens or not all(matches):
        return None
    return " and ".join(f"params.{m.group(1)} == {_literal(parse_value(m.group(2)))}" for m in matches if m)


def side_query(nb: Notebook, spec: str) -> tuple[str, str]:
    """(kind, --where expression) of one side as the user wrote it."""
    text = spec.strip()
    if not text:
        raise BadInput(
            "an empty side: give run ids (3,4,5), a variant (lr=1e-3), a tag, or a --where expression"
        )
    if _IDS.fullmatch(text):
        return "runs", f"id in ({', '.join(str(int(i)) for i in text.split(','))})"
    variant = _variant_where(text)
    if variant is not None:
        return "variant", variant
    if _WORD.fullmatch(text):
        tag = f"{_literal(text)} in tags"
        if nb.list_runs(where=tag, limit=1)[1]:
            return "tag", tag
        ids = nb.store.find_run_ids(text)
        if ids:
            return "name", f"id in ({', '.join(map(str, ids))})"
    return "where", text


def select(nb: Notebook, spec: str, where: str | None = None, include_all: bool = False) -> Side:
    """The finished, non-smoke runs ``spec`` names (all of them with ``include_all``)."""
    kind, expr = side_query(nb, spec)
    full = f"({expr}) and ({where})" if where else expr
    try:
        runs, _ = nb.list_runs(where=full, sort="id", limit=0)
    except QueryError as err:
        if kind == "where" and _WORD.fullmatch(spec.strip()):
            raise BadInput(
                f"{spec!r} is not a run id, run name, tag, variant (key=value) or --where expression "
                "of this notebook; `lab ls` lists runs"
            ) from None
        raise QueryError(f"{spec!r}: {err}") from None
    if not runs:
        extra = f" with --where {where!r}" if where else ""
        raise BadInput(f"{spec!r} matches no runs{extra}; `lab ls` lists runs")
    side = Side(spec, kind, [])
    for run in runs:
        reason = None if include_all else _exclusion(run)
        if reason is None:
            side.runs.append(run)
        else:
            side.excluded.setdefault(reason, []).append(run.id)
    if not side.runs:
        raise BadInput(
            f"{spec!r} has no runs left after leaving out {side.excluded_text()} runs; "
            "--all counts them anyway"
        )
    return side


def _exclusion(run: RunRecord) -> str | None:
    if SMOKE_TAG in run.tags:
        return "smoke"
    if run.status != FINISHED:
        return run.status
    return None


# -- variants --------------------------------------------------------------------------


def config_of(run: RunRecord, noise: tuple[str, ...] = NOISE) -> tuple[tuple[str, str], ...]:
    """The run's parameters without the noise keys, as a hashable key."""
    return tuple(sorted((k, repr(v)) for k, v in run.params.items() if k not in noise))


@dataclass
class Variant:
    params: dict[str, Any]
    runs: list[RunRecord]

    def label(self, keys: list[str]) -> str:
        return " ".join(f"{k}={short(self.params.get(k))}" for k in keys) or "all runs"


def short(value: Any) -> str:
    """A parameter value as a user would type it (``true``, ``0.001``, ``adam``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def variants(runs: list[RunRecord], noise: tuple[str, ...] = NOISE) -> list[Variant]:
    """Group runs into variants (same parameters but for the noise keys), in order of first run."""
    groups: dict[tuple[tuple[str, str], ...], Variant] = {}
    for run in runs:
        key = config_of(run, noise)
        if key not in groups:
            groups[key] = Variant({k: v for k, v in run.params.items() if k not in noise}, [])
        groups[key].runs.append(run)
    return list(groups.values())


def group_by(runs: list[RunRecord], key: str) -> list[Variant]:
    """Group runs by the value of one parameter (runs without it form their own group)."""
    groups: dict[str, Variant] = {}
    for run in runs:
        value = run.params.get(key)
        groups.setdefault(repr(value), Variant({key: value}, [])).runs.append(run)
    return sorted(groups.values(), key=lambda v: _sortable(v.params[key]))


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (0, str(value))
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def differing_keys(groups: list[Variant]) -> list[str]:
    """The parameters whose value is not the same in every group (what a legend must name)."""
    keys = sorted({k for g in groups for k in g.params})
    return [k for k in keys if len({repr(g.params.get(k)) for g in groups}) > 1]


def noise_keys(text: str | None) -> tuple[str, ...]:
    if text is None:
        return NOISE
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    return keys


# -- values ----------------------------------------------------------------------------


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


# -- the report ------------------------------------------------------------------------


@dataclass
class MetricResult:
    metric: str
    agg: str
    lower_better: bool
    comparison: stats.Comparison
    dropped: dict[str, list[int]]  # side → runs whose value was NaN
    pairing: str  # "", "seed" (the noise keys), "example id"


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


def _values(
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


def _paired_by_seed(
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


def _per_example(nb: Notebook, runs: list[RunRecord], key: str) -> dict[int, float]:
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

    if not a or not b or any("correct" not in nb.store.example_fields(r.id, split) for r in a + b):
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
    low, high = (float(v) for v in stats.t_interval(d))
    acc_a, acc_b, n = float(xa.mean()), float(xb.mean()), int(d.size)
    if len(a) == 1 and len(b) == 1:
        a_only, b_only = int(np.sum(d > 0)), int(np.sum(d < 0))
        test = failstats.mcnemar(b_only, a_only)
        exact = a_only + b_only < stats.EXACT_MCNEMAR
        name = "McNemar exact" if exact else "McNemar chi-square"
        p = test.p_exact if exact else test.p_asymptotic
        return ExampleComparison(
            split, n, acc_a, acc_b, float(d.mean()), low, high, p, name, a_only=a_only, b_only=b_only
        )
    return ExampleComparison(
        split, n, acc_a, acc_b, float(d.mean()), low, high, stats.paired_t_p(d), "paired t over examples"
    )


def compare(
    nb: Notebook,
    spec_a: str,
    spec_b: str,
    *,
    metrics: list[str] | None = None,
    agg: str = "last",
    where: str | None = None,
    noise: tuple[str, ...] = NOISE,
    goal: str | None = None,
    paired: bool = False,
    examples: str | None = None,
    include_all: bool = False,
    alpha: float = stats.ALPHA,
    detect: float | None = None,
    primary: str | None = None,
) -> Report:
    """A against B: configs, code, environment, and every metric with its test and verdict.

    One metric is *primary*: ``primary`` when given (e.g. a hypothesis's metric), else the
    first of ``metrics``, else the first shared metric by name. It is tested at alpha; the
    others are secondary, Holm-adjusted among themselves and called only when the primary
    is (``stats.family_calls``), so that comparing ten metrics does not find a difference
    in one of them a third of the time. Repeats (same configuration *and* seed) count once.
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
    chosen = _chosen_metrics(sides, metrics, examples, primary, warnings)
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
    results = _compare_metrics(gathered, agg, goal, alpha, detect)
    _design_warnings(nb, sides, noise, paired, examples, warnings)
    budgets = (tuning_budget(nb, a.runs, noise), tuning_budget(nb, b.runs, noise))
    if budgets[0] != budgets[1]:
        more, less = ("A", "B") if budgets[0] > budgets[1] else ("B", "A")
        warnings.append(
            f"unequal tuning budget: {more} was picked from {max(budgets)} configurations tried in its sweeps, "
            f"{less} from {min(budgets)}; the comparison favours {more}"
        )
    # with their captures (list_runs leaves them out); the runs were just reaped by list_runs
    full_a = [nb.store.get_run(r.id) or r for r in a.runs]
    full_b = [nb.store.get_run(r.id) or r for r in b.runs]
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
    )


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
        ea, eb = _per_example(nb, a.runs, metric), _per_example(nb, b.runs, metric)
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
        xs, ys = _paired_by_seed(a.runs, b.runs, metric, agg, noise)
        pairing = "/".join(noise)
    else:
        xs, nan_a = _values(a.runs, metric, agg, noise)
        ys, nan_b = _values(b.runs, metric, agg, noise)
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
    goal: str | None,
    alpha: float,
    detect: float | None,
) -> list[MetricResult]:
    """Each metric tested, then the family's rule: the first primary, the rest secondary.

    A secondary metric's p-value must be able to reach alpha / m (m secondary metrics,
    the first step of Holm's), so its test is chosen for that level.
    """
    import numpy as np

    secondary = len(gathered) - 1
    comparisons = [
        stats.compare(
            np.asarray(xs),
            np.asarray(ys),
            alpha=alpha,
            higher_is_better=not lower_is_better(metric, goal),
            paired=bool(pairing),
            detect=detect,
            reach=alpha if i == 0 else alpha / secondary,
        )
        for i, (metric, xs, ys, _, pairing) in enumerate(gathered)
    ]
    settled = stats.adjust_family(comparisons, alpha, primary=gathered[0][0])
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
        mixed = variants(side.runs, noise)
        if len(mixed) > 1:
            keys = differing_keys(mixed)
            warnings.append(
                f"{name} mixes {len(mixed)} configurations (they differ in {', '.join(keys[:4])}); "
                "name one variant per side"
            )


# -- diffs -----------------------------------------------------------------------------


def _values_of(runs: list[RunRecord], key: str) -> list[Any]:
    seen: dict[str, Any] = {}
    for r in runs:
        v = r.params.get(key)
        seen.setdefault(repr(v), v)
    return list(seen.values())


def config_diff(
    a: list[RunRecord], b: list[RunRecord], noise: tuple[str, ...] = NOISE
) -> list[tuple[str, list[Any], list[Any]]]:
    """(key, A's values, B's values) for every parameter that differs, noise keys aside."""
    keys = sorted({k for r in a + b for k in r.params} - set(noise))
    out = []
    for key in keys:
        va, vb = _values_of(a, key), _values_of(b, key)
        if sorted(map(repr, va)) != sorted(map(repr, vb)):
            out.append((key, va, vb))
    return out


def tuning_budget(nb: Notebook, runs: list[RunRecord], noise: tuple[str, ...] = NOISE) -> int:
    """How many configurations were tried to pick this side: distinct configs across its sweeps."""
    sweeps = sorted({r.sweep_id for r in runs if r.sweep_id})
    configs = {config_of(r, noise) for r in runs}
    if sweeps:
        quoted = ", ".join(_literal(s) for s in sweeps)
        members, _ = nb.list_runs(where=f"sweep in ({quoted})", limit=0)
        configs |= {config_of(r, noise) for r in members if SMOKE_TAG not in r.tags}
    return len(configs)


def _side_code(nb: Notebook, runs: list[RunRecord]) -> dict[str, Any]:
    commits: dict[str, int] = defaultdict(int)
    patches: dict[str, str] = {}
    for r in runs:
        git = r.capture.get("git") or {}
        commits[(git.get("commit") or "none")[:10]] += 1
        ref = r.capture.get("patch")
        digest = ref.get("blob") if isinstance(ref, dict) else None
        if git.get("dirty") and digest and digest not in patches:
            patches[digest] = nb.blob(ref) or ""
    return {"commits": dict(commits), "patches": patches}


def code_diff(nb: Notebook, a: list[RunRecord], b: list[RunRecord]) -> dict[str, Any]:
    """Commits per side, and the uncommitted patches (with their diff) when they differ."""
    ca, cb = _side_code(nb, a), _side_code(nb, b)
    same_commits = set(ca["commits"]) == set(cb["commits"])
    same_patches = set(ca["patches"]) == set(cb["patches"])
    out: dict[str, Any] = {
        "a_commits": ca["commits"],
        "b_commits": cb["commits"],
        "same_commits": same_commits,
        "same_patches": same_patches,
        "patch_diff": "",
    }
    if not same_patches:
        pa = next(iter(ca["patches"].values()), "")
        pb = next(iter(cb["patches"].values()), "")
        out["a_patch"], out["b_patch"] = pa, pb
        out["patch_diff"] = "".join(
            difflib.unified_diff(
                pa.splitlines(keepends=True), pb.splitlines(keepends=True), "A's patch", "B's patch"
            )
        )
    return out


def _packages(nb: Notebook, runs: list[RunRecord]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    for r in runs:
        ref = r.capture.get("packages")
        digest = ref.get("blob") if isinstance(ref, dict) else None
        if digest is None or digest in seen:
            continue
        seen.add(digest)
        for line in (nb.blob(ref) or "").splitlines():
            name, sep, version = line.partition("==")
            if sep:
                out[name.lower()].add(version)
            elif line.strip():
                out[line.split(" @ ")[0].removeprefix("-e ").strip().lower()].add(line.strip())
    return out


def _gpu(r: RunRecord) -> str:
    gpus = (r.capture.get("system") or {}).get("gpus") or []
    return ", ".join(g.get("name", "?") for g in gpus) or "none"


def environment_diff(nb: Notebook, a: list[RunRecord], b: list[RunRecord]) -> dict[str, Any]:
    """Packages whose versions differ, and Python, host and GPU when they differ."""
    pa, pb = _packages(nb, a), _packages(nb, b)
    packages = [
        (name, sorted(pa.get(name, {"-"})), sorted(pb.get(name, {"-"})))
        for name in sorted(set(pa) | set(pb))
        if pa.get(name) != pb.get(name) and (pa and pb)
    ]
    out: dict[str, Any] = {"packages": packages}
    for label, get in (
        ("python", lambda r: (r.capture.get("python") or {}).get("version") or "?"),
        ("host", lambda r: r.host or "?"),
        ("gpu", _gpu),
    ):
        va, vb = sorted({get(r) for r in a}), sorted({get(r) for r in b})
        out[label] = (va, vb, va != vb)
    return out


# -- many variants against a baseline ---------------------------------------------------


@dataclass
class GroupRow:
    value: Any
    summary: stats.Summary
    comparison: stats.Comparison | None  # None for the baseline
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
    alpha: float = stats.ALPHA,
    noise: tuple[str, ...] = NOISE,
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
    low_better = lower_is_better(metric, goal)
    warnings: list[str] = []
    values: list[tuple[Variant, list[float]]] = []
    for g in groups:
        vals, nan_ids = _values(g.runs, metric, agg, noise)
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
            comp = stats.compare(
                np.asarray(vals),
                np.asarray(base_vals),
                alpha=alpha,
                higher_is_better=not low_better,
                reach=alpha / m,
            )
        rows.append(GroupRow(g.params[key], stats.describe(vals), comp, None, [r.id for r in g.runs]))
    compared = [r for r in rows if r.comparison is not None]
    settled = stats.adjust_holm([r.comparison for r in compared if r.comparison is not None], alpha)
    for row, c in zip(compared, settled, strict=True):
        row.comparison = c
        row.p_holm = c.p_adjusted if math.isfinite(c.p_adjusted) else None
        row.verdict = c.verdict
    if any(len(fold_runs(g.runs, noise)[0]) == 1 for g in groups):
        warnings.append("some values have a single run: no spread to judge them by")
    return rows, side, warnings


# -- words -----------------------------------------------------------------------------


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


def seeds_text(c: stats.Comparison) -> str:
    """How many seeds would detect the difference that matters, or how to ask for it."""
    unit = "pairs (seeds run on both sides)" if c.paired else "seeds per side"
    if c.seeds_for is None or c.detect is None:
        if c.detect is not None:
            why = "McNemar's test has none" if c.test.startswith("McNemar") else "the values do not vary"
            return f"no seeds-needed estimate for {num(c.detect, 2)}: {why}"
        return "give --detect D (the smallest difference that matters) for a seeds-needed estimate"
    what = num(c.detect, 2) if c.seeds_for == "detect" else f"the observed difference {num(c.detect, 2)}"
    if c.seeds_range is None:
        return f"more than {stats.SEEDS_CAP:,} {unit} would be needed to detect {what} at 80% power"
    low, high = c.seeds_range
    count = (
        f"{low:,}"
        if high == low
        else f"{low:,}–{high:,}"
        if high is not None
        else f"{low:,} to over {stats.SEEDS_CAP:,}"
    )
    return (
        f"about {count} {unit} would be needed to detect {what} at 80% power "
        "(SD estimate to its 80% upper bound)"
    )


# -- a table of variants ---------------------------------------------------------------


@dataclass
class VariantRow:
    label: str
    runs: list[int]
    summaries: dict[str, stats.Summary | None]  # "metric.agg" → summary of the finite values


def variant_table(
    runs: list[RunRecord],
    columns: list[str],
    *,
    group: str = "variant",
    noise: tuple[str, ...] = NOISE,
    include_all: bool = False,
) -> tuple[list[VariantRow], dict[str, list[int]]]:
    """Runs grouped into variants (or by one parameter), each ``METRIC.AGG`` summarised.

    Returns the rows and the runs left out (smoke, unfinished) by reason.
    """
    excluded: dict[str, list[int]] = {}
    kept = []
    for run in runs:
        reason = None if include_all else _exclusion(run)
        if reason is None:
            kept.append(run)
        else:
            excluded.setdefault(reason, []).append(run.id)
    if group != "variant" and runs and not any(group in r.params for r in runs):
        raise BadInput(f"no run has a parameter {group!r}; --group-by takes variant or a parameter name")
    groups = variants(kept, noise) if group == "variant" else group_by(kept, group)
    keys = differing_keys(groups) if group == "variant" else [group]
    rows = []
    for g in groups:
        summaries: dict[str, stats.Summary | None] = {}
        for column in columns:
            metric, _, agg = column.rpartition(".")
            vals = [
                v
                for r in g.runs
                if metric in r.metrics and not math.isnan(v := float(getattr(r.metrics[metric], agg)))
            ]
            summaries[column] = stats.describe(vals) if vals else None
        rows.append(VariantRow(g.label(keys), [r.id for r in g.runs], summaries))
    return rows, excluded
