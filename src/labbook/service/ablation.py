"""``lab ablate``: which component carries the result.

Components are boolean config keys (``a.enabled``). The plan is the full configuration
(every component on) and each leave-one-out (one component off), or with ``factorial``
every on/off combination of at most 4 components, each run for ``seeds`` seeds as one
sweep, so the runs are ordinary runs of the notebook. The analysis reads the sweep back:

- leave-one-out: a component's contribution is the full configuration's mean minus the
  mean without it, with Welch's t CI and p-value (one test, so they always agree);
- factorial: its main effect from a least-squares fit of the metric on the on/off
  indicators (interactions ignored), with the fit's t CI;

signed so that a positive contribution means the component helps (a larger metric, or a
smaller one for a loss). Components are ranked by the size of their contribution; the
one that *carries the result* is the largest whose CI lies above zero.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.core.config import Override, apply, lookup, without_smoke
from labbook.core.stats.common import ALPHA
from labbook.core.stats.intervals import Summary, describe
from labbook.core.stats.tests import welch
from labbook.errors import BadInput, ConfigError
from labbook.records.runs import FINISHED
from labbook.service.compare.metrics import lower_is_better
from labbook.service.compare.sides import SMOKE_TAG
from labbook.service.compare.words import num

if TYPE_CHECKING:
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

MAX_FACTORIAL = 4
SEED_KEY = "seed"


@dataclass(frozen=True)
class Cell:
    """One configuration of the ablation: which components are on."""

    on: tuple[bool, ...]

    def name(self, components: list[str]) -> str:
        off = [c for c, v in zip(components, self.on, strict=True) if not v]
        if not off:
            return "full"
        if len(off) == len(components):
            return "none"
        return "without " + ", ".join(off)

    def slug(self, components: list[str]) -> str:
        off = [c for c, v in zip(components, self.on, strict=True) if not v]
        return "full" if not off else "no-" + "-".join(off)


@dataclass
class Plan:
    components: list[str]
    cells: list[Cell]
    seeds: int
    seed_key: str
    configs: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[list[str]] = field(default_factory=list)
    cell_of_job: list[Cell] = field(default_factory=list)


def parse_components(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise BadInput(
            "--components takes comma-separated config keys, e.g. --components a.enabled,b.enabled"
        )
    if len(set(parts)) != len(parts):
        raise BadInput(f"--components names a key twice ({text}); name each component once")
    return parts


def plan(
    base: dict[str, Any], components: list[str], seeds: int, factorial: bool, seed_key: str = SEED_KEY
) -> Plan:
    """Every run of the ablation, checked against the config before anything starts."""
    if seeds < 1:
        raise BadInput("--seeds must be 1 or more")
    clean = without_smoke(base)
    for key in components:
        try:
            value = lookup(clean, key)
        except KeyError:
            raise ConfigError(
                f"component {key} is not in the config; --components names boolean keys of it"
            ) from None
        if not isinstance(value, bool):
            raise BadInput(f"component {key} is {value!r} in the config; a component must be true or false")
    if factorial and len(components) > MAX_FACTORIAL:
        raise BadInput(
            f"--factorial with {len(components)} components is {2 ** len(components)} configurations; "
            f"use at most {MAX_FACTORIAL}, or leave-one-out (without --factorial)"
        )
    k = len(components)
    if factorial:
        cells = [Cell(tuple(bits)) for bits in itertools.product((True, False), repeat=k)]
    else:
        cells = [Cell((True,) * k)] + [Cell(tuple(j != i for j in range(k))) for i in range(k)]
    p = Plan(components, cells, seeds, seed_key)
    for cell in cells:
        for seed in range(seeds):
            texts = [f"{c}={'true' if on else 'false'}" for c, on in zip(components, cell.on, strict=True)]
            texts.append(f"{seed_key}={seed}")
            overrides = [
                Override("set", c, (on,), t) for c, on, t in zip(components, cell.on, texts[:-1], strict=True)
            ]
            overrides.append(Override("force", seed_key, (seed,), f"{seed_key}={seed}"))
            p.configs.append(apply(clean, overrides))
            p.overrides.append(texts)
            p.cell_of_job.append(cell)
    return p


# -- analysis --------------------------------------------------------------------------


@dataclass
class Effect:
    component: str
    contribution: float  # > 0: the component helps
    low: float
    high: float
    p: float
    detail: str  # how it was estimated


@dataclass
class Analysis:
    metric: str
    agg: str
    lower_better: bool
    factorial: bool
    cells: list[tuple[str, Summary | None]]
    effects: list[Effect]
    carrier: str | None
    sentence: str
    missing: list[str]  # cells with no finished run
    excluded: dict[str, list[int]]


def _cell_of(run: RunRecord, components: list[str]) -> Cell | None:
    values = [run.params.get(c) for c in components]
    if not all(isinstance(v, bool) for v in values):
        return None
    return Cell(tuple(values))  # type: ignore[arg-type]


def analyse(
    nb: Notebook,
    sweep_id: str,
    components: list[str],
    metric: str,
    *,
    agg: str = "last",
    factorial: bool = False,
    goal: str | None = None,
) -> Analysis:
    """Each component's contribution to ``metric`` in the runs of the ablation sweep."""
    import numpy as np

    runs, _ = nb.list_runs(where=f"sweep == '{sweep_id}'", limit=0)
    excluded: dict[str, list[int]] = {}
    by_cell: dict[Cell, list[float]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        reason = "smoke" if SMOKE_TAG in run.tags else None if run.status == FINISHED else run.status
        if reason is None and metric not in run.metrics:
            reason = f"without {metric}"
        cell = _cell_of(run, components)
        if reason is None and cell is not None:
            v = float(getattr(run.metrics[metric], agg))
            if math.isnan(v):
                reason = f"NaN {metric}"
            else:
                by_cell.setdefault(cell, []).append(v)
                continue
        excluded.setdefault(reason or "not a cell", []).append(run.id)
    if not by_cell:
        raise BadInput(
            f"no finished run of the ablation logged {metric!r}; check `lab ls --where \"sweep == '{sweep_id}'\"`"
        )
    k = len(components)
    cells = (
        [Cell(tuple(b)) for b in itertools.product((True, False), repeat=k)]
        if factorial
        else [Cell((True,) * k)] + [Cell(tuple(j != i for j in range(k))) for i in range(k)]
    )
    low_better = lower_is_better(metric, goal)
    sign = -1.0 if low_better else 1.0
    summaries = [(c.name(components), describe(by_cell[c]) if c in by_cell else None) for c in cells]
    missing = [c.name(components) for c in cells if c not in by_cell]
    effects: list[Effect] = []
    if factorial:
        effects = _main_effects(by_cell, components, sign, np)
    else:
        full = by_cell.get(cells[0])
        if full is None:
            raise BadInput(
                f"the full configuration has no finished run with {metric!r}; nothing to ablate against"
            )
        for i, comp in enumerate(components):
            without = by_cell.get(cells[i + 1])
            if without is None:
                continue
            if len(full) < 2 or len(without) < 2:
                d = sign * (float(np.mean(full)) - float(np.mean(without)))
                effects.append(Effect(comp, d, math.nan, math.nan, math.nan, "single seed: no CI"))
                continue
            w = welch(np.asarray(full), np.asarray(without))  # the CI and the p-value of one test
            lo, hi = sorted((sign * float(w.low), sign * float(w.high)))
            p = float(w.p) if math.isfinite(float(w.p)) else (1.0 if w.diff == 0 else 0.0)
            effects.append(Effect(comp, sign * float(w.diff), lo, hi, p, "full − without, Welch's t"))
    effects.sort(key=lambda e: -abs(e.contribution) if math.isfinite(e.contribution) else 0.0)
    carrier, sentence = _carrier(effects, metric, by_cell, cells[0])
    return Analysis(
        metric, agg, low_better, factorial, summaries, effects, carrier, sentence, missing, excluded
    )


def _main_effects(
    by_cell: dict[Cell, list[float]], components: list[str], sign: float, np: Any
) -> list[Effect]:
    """Least-squares main effects of a 2^k design (intercept + one indicator per component)."""
    from scipy import special

    rows, ys = [], []
    for cell, values in by_cell.items():
        for v in values:
            rows.append([1.0, *(1.0 if on else 0.0 for on in cell.on)])
            ys.append(v)
    x, y = np.asarray(rows), np.asarray(ys)
    k = len(components)
    if np.linalg.matrix_rank(x) < k + 1:
        raise BadInput("the finished runs do not cover enough configurations to separate the components")
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - (k + 1)
    out = []
    if df < 1:
        for i, comp in enumerate(components):
            out.append(
                Effect(comp, sign * float(beta[i + 1]), math.nan, math.nan, math.nan, "no residual df: no CI")
            )
        return out
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / df
    cov = sigma2 * np.linalg.inv(x.T @ x)
    t_crit = float(special.stdtrit(df, 0.975))
    for i, comp in enumerate(components):
        b, se = float(beta[i + 1]), math.sqrt(max(float(cov[i + 1, i + 1]), 0.0))
        p = float(2 * special.stdtr(df, -abs(b) / se)) if se > 0 else (0.0 if b else 1.0)
        lo, hi = sorted((sign * (b - t_crit * se), sign * (b + t_crit * se)))
        out.append(
            Effect(comp, sign * b, lo, hi, p, f"main effect, least squares over {len(y)} runs (df {df})")
        )
    return out


def _carrier(
    effects: list[Effect], metric: str, by_cell: dict[Cell, list[float]], full: Cell
) -> tuple[str | None, str]:
    helping = [e for e in effects if math.isfinite(e.low) and e.low > 0 and e.p < ALPHA]
    if helping:
        top = helping[0]
        text = (
            f"{top.component} carries the result: it adds {num(top.contribution)} to {metric} "
            f"(95% CI {num(top.low)} to {num(top.high)})"
        )
        others = [e.component for e in helping[1:]]
        if others:
            text += f"; {', '.join(others)} also help{'s' if len(others) == 1 else ''} detectably"
        return top.component, text
    n = len(by_cell.get(full, []))
    if effects and all(not math.isfinite(e.low) for e in effects):
        return (
            None,
            f"no component's effect can be judged with {n} seed{'s' if n != 1 else ''} per configuration; run more seeds",
        )
    return None, f"no component has a detectable positive effect on {metric} with {n} seeds per configuration"
