"""The query tree (``core/query``) → parameterised SQLite.

Every literal and every key becomes a ``?`` parameter; only the names this module writes
reach the SQL text. ``~`` folds case with Python's ``str.casefold`` (registered on each
connection as ``casefold``), since SQLite's ``lower`` knows only A-Z. Runs are aliased ``r``, examples ``e``. ``and`` / ``or`` runs compile
to balanced trees, so SQLite's expression depth grows with the log of their length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labbook.core.query import (
    All,
    Any_,
    Compare,
    Contains,
    ExampleField,
    Expr,
    HasTag,
    In,
    Keyed,
    Metric,
    Not,
    Ref,
    RunField,
    SortKey,
)
from labbook.store.sql.columns import AGGS, EXAMPLE_COLUMNS, RUN_COLUMNS, SQL, balanced, order_terms, wide_int
from labbook.store.sql.db import text_view


def json_path(name: str) -> str:
    """``meta.lang`` → ``$."meta"."lang"`` (quoted, so any characters are allowed)."""
    parts = name.split(".")
    return "$" + "".join('."' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


_EXACT_INT = "CASE WHEN json_type(x.value) = 'integer' THEN json_extract(x.value, '$') ELSE x.num END"


def ref_sql(ref: Ref, exact: bool = False) -> SQL:
    """The expression a reference reads, and its parameters.

    A keyed value is compared through its numeric view, a double; ``exact`` reads an
    integer as the integer it was (SQLite's 64-bit ints), for literals a double would round.
    """
    if isinstance(ref, RunField):
        return RUN_COLUMNS[ref.name], []
    if isinstance(ref, Metric):
        return f"(SELECT {AGGS[ref.agg]} FROM metrics m WHERE m.run_id = r.id AND m.key = ?)", [ref.key]
    if isinstance(ref, Keyed):
        view = "x.text" if ref.text else _EXACT_INT if exact else "x.num"
        table = {"params": "params", "summary": "summary"}[ref.table]
        return f"(SELECT {view} FROM {table} x WHERE x.run_id = r.id AND x.key = ?)", [ref.key]
    if ref.name in EXAMPLE_COLUMNS:
        return EXAMPLE_COLUMNS[ref.name], []
    return "json_extract(e.data, ?)", [json_path(ref.name)]


def where_sql(expr: Expr) -> SQL:
    """A condition of the tree as SQL; ``not`` and negated membership read null as false."""
    sql, params = _where(expr)
    return sql, [text_view(p) if isinstance(p, str) else p for p in params]


def _where(expr: Expr) -> SQL:
    if isinstance(expr, (All, Any_)):
        return balanced("AND" if isinstance(expr, All) else "OR", [_where(t) for t in expr.terms])
    if isinstance(expr, Not):
        sql, params = _where(expr.inner)
        return f"({sql} IS NOT 1)", params
    if isinstance(expr, HasTag):
        marks = ", ".join("?" for _ in expr.tags)
        sql = f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag IN ({marks}))"
        return _negated(sql, list(expr.tags), expr.negate)
    literals = expr.values if isinstance(expr, In) else (expr.value,) if isinstance(expr, Compare) else ()
    value, params = ref_sql(expr.ref, exact=wide_int(literals))
    if isinstance(expr, In):
        sql = f"{value} IN ({', '.join('?' for _ in expr.values)})"
        return _negated(sql, [*params, *expr.values], expr.negate)
    if isinstance(expr, Contains):
        return f"(instr(casefold({value}), casefold(?)) > 0)", [*params, expr.text]
    return _compare(value, params, expr)


def _compare(value: str, params: list[Any], expr: Compare) -> SQL:
    if expr.value is None:
        return f"({value} {'IS NULL' if expr.op == '=' else 'IS NOT NULL'})", params
    return f"({value} {expr.op} ?)", [*params, expr.value]


def _negated(sql: str, params: list[Any], negate: bool) -> SQL:
    return (f"(NOT coalesce({sql}, 0))" if negate else f"({sql})"), params


def order_sql(keys: Sequence[SortKey]) -> SQL:
    """ORDER BY terms: nulls last whichever the direction."""
    return order_terms(keys, ref_sql)


def field_values_sql(field: ExampleField, kind: str) -> SQL:
    """(ex_id, number) of the examples of a (run, split) whose field is a number, or (kind "text") a text's length."""
    keep, out = ("= 'text'", "length(v)") if kind == "text" else ("IN ('integer', 'real')", "v")
    value, params = ref_sql(field)
    sql = (
        f"SELECT ex_id, {out} FROM (SELECT e.ex_id AS ex_id, {value} AS v FROM examples e"
        f" WHERE e.run_id = ? AND e.split = ?) WHERE typeof(v) {keep}"
    )
    return sql, params


def stratum_sql(field: ExampleField) -> SQL:
    """An example field as a grouping key: JSON values quoted, so 1 and "1" stay apart."""
    expr, params = ref_sql(field)
    return (f"json_quote({expr})" if expr.startswith("json_extract") else expr), params
