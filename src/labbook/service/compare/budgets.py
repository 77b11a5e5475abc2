"""Tuning budgets: a side picked as the best of many configurations is favoured by luck.

The budget is the number of distinct non-noise configurations across the side's sweeps;
``lab compare`` warns when the two sides' budgets differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labbook.records.runs import RunRecord
from labbook.service.compare.sides import SMOKE_TAG, literal
from labbook.service.compare.variants import NOISE, config_of

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


def tuning_budget(nb: Notebook, runs: list[RunRecord], noise: tuple[str, ...] = NOISE) -> int:
    """How many configurations were tried to pick this side: distinct configs across its sweeps."""
    sweeps = sorted({r.sweep_id for r in runs if r.sweep_id})
    configs = {config_of(r, noise) for r in runs}
    if sweeps:
        quoted = ", ".join(literal(s) for s in sweeps)
        members, _ = nb.list_runs(where=f"sweep in ({quoted})", limit=0)
        configs |= {config_of(r, noise) for r in members if SMOKE_TAG not in r.tags}
    return len(configs)
