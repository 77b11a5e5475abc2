"""The columns of a runs table, shared by ``lab ls`` and the web's runs page.

A column is a run field, a parameter, a summary value or ``METRIC.AGG``; the default
set is the fields a reader scans first plus what varies among the runs shown, so two
adapters showing the same runs show the same columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from labbook.errors import BadInput
from labbook.records.runs import Fields, RunRecord
from labbook.views import tables as render

Getter = Callable[[RunRecord], Any]

RUN_COLUMNS: dict[str, Getter] = {
    "id": lambda r: r.id,
    "uid": lambda r: r.uid[:8],
    "name": lambda r: r.name or "",
    "status": lambda r: r.status_line,
    "created": lambda r: render.short_when(r.created_at),
    "started": lambda r: render.short_when(r.started_at),
    "ended": lambda r: render.short_when(r.ended_at),
    "duration": lambda r: render.duration(r.duration),
    "exit_code": lambda r: r.exit_code,
    "host": lambda r: r.host or "",
    "tags": lambda r: ",".join(r.tags),
    "command": lambda r: " ".join(r.command or []),
    "note": lambda r: r.note or "",
    "source": lambda r: r.source,
    "sweep": lambda r: r.sweep_id or "",
    "job": lambda r: r.job_id or "",
    "job_state": lambda r: r.job_state or "",
    "hyp": lambda r: f"H{r.hyp_id}" if r.hyp_id else "",
    "archived": lambda r: "archived" if r.archived_at else "",
}
DEFAULT_COLUMNS = ["id", "name", "status", "started", "duration", "tags"]
AGGS = ("last", "min", "max", "mean", "count", "nan_count", "last_step")
GROUP_AGGS = ("last", "min", "max", "mean")


def column(name: str, runs: list[RunRecord], fields: Fields | None = None) -> Getter:
    """The getter of column ``name``; a name no run has is an error only when there are runs.

    ``fields`` (the whole notebook's names) lets a page of a long list show a column that
    only other pages' runs have.
    """
    if name in RUN_COLUMNS:
        return RUN_COLUMNS[name]
    key, _, agg = name.rpartition(".")
    if key and agg in AGGS and (any(key in r.metrics for r in runs) or (fields and key in fields.metrics)):
        return lambda r: getattr(r.metrics[key], agg) if key in r.metrics else None
    for prefix, attr in (("params.", "params"), ("summary.", "summary"), ("", "params"), ("", "summary")):
        rest = name[len(prefix) :]
        if name.startswith(prefix) and (
            any(rest in getattr(r, attr) for r in runs) or (fields and rest in getattr(fields, attr))
        ):
            return _field(attr, rest)
    if not runs:
        return lambda r: None
    raise BadInput(
        f"unknown column {name!r}; use a run field ({', '.join(RUN_COLUMNS)}), "
        "a parameter, a summary value, or METRIC.last/min/max/mean/count"
    )


def _field(attr: str, key: str) -> Getter:
    """A column of one parameter or summary value (``attr`` names which dict holds it)."""
    return lambda r: getattr(r, attr).get(key)


def parse_columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def varying_params(runs: list[RunRecord]) -> list[str]:
    """Parameters with two or more values among the runs that have them: a parameter only
    some runs have is not varying by that alone, and constants say nothing run to run."""
    values: dict[str, set[str]] = {}
    for r in runs:
        for k, v in r.params.items():
            values.setdefault(k, set()).add(repr(v))
    return sorted(k for k, seen in values.items() if len(seen) > 1)


def common_metrics(runs: list[RunRecord], n: int) -> list[str]:
    """The ``n`` metrics most runs logged (system metrics aside), most common first."""
    counts = Counter(k for r in runs for k in r.metrics if not k.startswith("sys/"))
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def default_columns(runs: list[RunRecord]) -> list[str]:
    cols = list(DEFAULT_COLUMNS)
    if any(r.job_id for r in runs):
        cols.insert(3, "job")
    if any(r.archived_at for r in runs):
        cols.insert(3, "archived")
    cols += varying_params(runs)[:4]
    cols += [f"{k}.last" for k in common_metrics(runs, 4)]
    return cols


def is_numeric(getter: Getter, runs: list[RunRecord]) -> bool:
    values = [getter(r) for r in runs]
    present = [v for v in values if v is not None and v != ""]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def variant_columns(runs: list[RunRecord], columns: str | None) -> list[str]:
    """The METRIC.AGG columns of a grouped table: those asked for, or the three most runs logged."""
    if not columns:
        return [f"{k}.last" for k in common_metrics(runs, 3)]
    names = parse_columns(columns)
    bad = [c for c in names if c.rpartition(".")[2] not in GROUP_AGGS or "." not in c]
    if bad:
        raise BadInput(
            f"with --group-by, columns are METRIC.AGG (AGG last/min/max/mean); not {', '.join(bad)}"
        )
    return names
