"""What both query compilers share: the SQL each query name reads, and the shape of long and/or runs.

``RunField`` names map to columns of ``runs r``, a metric's aggregates to columns of
``metrics m``, example columns to ``examples e``. The compilers differ in how they read
keyed values and JSON, and in how they bind literals (``sqlite/query.py``,
``postgres/query.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.core.query import Ref, SortKey

SQL = tuple[str, list[Any]]

RUN_COLUMNS = {
    "id": "r.id",
    "uid": "r.uid",
    "name": "r.name",
    "status": "r.status",
    "created": "r.created_at",
    "started": "r.started_at",
    "ended": "r.ended_at",
    "duration": "(coalesce(r.ended_at, r.heartbeat_at) - r.started_at)",
    "exit_code": "r.exit_code",
    "host": "r.host",
    "note": "r.note",
    "source": "r.source",
    "command": "r.command",
    "hyp": "r.hyp_id",
    "sweep": "r.sweep_id",
    "job": "r.job_id",
    "job_state": "r.job_state",
}
AGGS = {
    "last": "m.last",
    "min": "m.min",
    "max": "m.max",
    "mean": "m.sum / NULLIF(m.count - m.nan_count, 0)",
    "count": "m.count",
    "nan_count": "m.nan_count",
    "last_step": "m.last_step",
}
EXAMPLE_COLUMNS = {"id": "e.ex_id", "split": "e.split", "correct": "e.correct"}


def wide_int(values: Sequence[Any]) -> bool:
    """Whether an int literal lies beyond what a double holds exactly (2**53): a seed, a hash."""
    return any(type(v) is int and abs(v) > 2**53 for v in values)


def balanced(op: str, terms: list[SQL]) -> SQL:
    """``a OP b OP c ...`` as a balanced tree: the parser's depth grows with log2 of the terms, not their number."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    (left, lp), (right, rp) = balanced(op, terms[:half]), balanced(op, terms[half:])
    return f"({left} {op} {right})", lp + rp


def order_terms(keys: Sequence[SortKey], ref_sql: Callable[[Ref], SQL]) -> SQL:
    """ORDER BY terms: nulls last whichever the direction (each compiler reads the keys its own way)."""
    parts, params = [], []
    for key in keys:
        expr, expr_params = ref_sql(key.ref)
        parts.append(f"({expr}) IS NULL, ({expr}) {'DESC' if key.desc else 'ASC'}")
        params += expr_params + expr_params
    return ", ".join(parts), params
