"""Variants: the runs whose parameters differ only in noise keys, and a table of them.

Noise keys are ``seed`` unless the user says otherwise: a variant is the seeds of one
configuration. Grouping by one parameter instead gives ``lab compare --group-by`` and
the legends of ``lab plot``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from labbook.core.stats.intervals import Summary, describe
from labbook.errors import BadInput
from labbook.records.runs import RunRecord
from labbook.service.compare.sides import exclusion
from labbook.service.settings import NOISE_DEFAULT

NOISE = NOISE_DEFAULT


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


def noise_keys(text: str | None) -> tuple[str, ...] | None:
    """``--noise`` as keys; None when not given (the notebook's setting, else ``NOISE``, decides)."""
    if text is None:
        return None
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    return keys


@dataclass
class VariantRow:
    label: str
    runs: list[int]
    summaries: dict[str, Summary | None]  # "metric.agg" → summary of the finite values


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
        reason = None if include_all else exclusion(run)
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
        summaries: dict[str, Summary | None] = {}
        for column in columns:
            metric, _, agg = column.rpartition(".")
            vals = [
                v
                for r in g.runs
                if metric in r.metrics and not math.isnan(v := float(getattr(r.metrics[metric], agg)))
            ]
            summaries[column] = describe(vals) if vals else None
        rows.append(VariantRow(g.label(keys), [r.id for r in g.runs], summaries))
    return rows, excluded
