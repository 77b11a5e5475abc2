"""The query tree (``core/query``) → parameterised PostgreSQL, meaning what it means in SQLite.

Every literal and key is a bound parameter; only names this module writes reach the SQL.
PostgreSQL is strictly typed where SQLite converts, so the conversions SQLite would make
are made here, before binding: a number compared with a text column is compared as its
text (SQLite's text affinity), a text that reads as a number compared with a numeric
column as that number, and one that does not matches nothing. Example fields are read
from ``examples.doc`` (the row as ``jsonb``): a number literal compares with numbers
(booleans as 0 and 1, as SQLite's ``json_extract`` gives them), a text literal with
strings, each as ``numeric`` or text so that 9e999 is still infinity and nothing is
rounded. ``~`` folds case with the schema's ``casefold``. Runs are aliased ``r``,
examples ``e``; ``and`` / ``or`` runs compile to balanced trees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labbook.core.query import (
    All,
    Any_,
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

TEXT_RUN_FIELDS = frozenset(
    {"uid", "name", "status", "host", "note", "source", "command", "sweep", "job", "job_state"}
)
_TEXT_EXAMPLE_COLUMNS = frozenset({"id", "split"})
_JSON = "(e.doc #> ?)"
_JSON_NUMBER = (
    "(CASE jsonb_typeof({v}) WHEN 'number' THEN ({v})::numeric"
    " WHEN 'boolean' THEN CASE WHEN ({v})::boolean THEN 1 ELSE 0 END END)"
)
_JSON_STRING = "(CASE WHEN jsonb_typeof({v}) = 'string' THEN ({v} #>> '{{}}') COLLATE \"C\" END)"
_EXACT_INT = "(CASE WHEN x.value ~ '^-{0,1}[0-9]+$' THEN x.value::numeric ELSE x.num::numeric END)"
_DOUBLE_MAX = "1.7976931348623157e308"


def _path(name: str) -> list[str]:
    return name.split(".")


def _is_text(ref: Ref) -> bool:
    if isinstance(ref, RunField):
        return ref.name in TEXT_RUN_FIELDS
    return isinstance(ref, Keyed) and ref.text


def ref_sql(ref: Ref, exact: bool = False) -> SQL:
    """The expression a run reference reads (an example field: its column, or its ``jsonb``)."""
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
    return _JSON, [_path(ref.name)]


def _literal(ref: Ref, value: Any) -> tuple[str, Any] | None:
    """How a literal binds against ``ref`` (a cast and the value), as SQLite would convert it; None: never equal."""
    text = _is_text(ref) or (isinstance(ref, ExampleField) and ref.name in _TEXT_EXAMPLE_COLUMNS)
    if text:
        shown = str(int(value)) if isinstance(value, bool) else str(value)
        return "CAST(? AS text)", text_view(shown)
    if isinstance(value, str):
        try:
            return "CAST(? AS double precision)", float(value)
        except ValueError:
            return None
    if type(value) is int and abs(value) > 2**53:
        return "CAST(? AS numeric)", value
    return "CAST(? AS double precision)", float(value) if isinstance(value, bool) else value


def _json_side(ref: ExampleField, value: Any) -> SQL:
    """The example field as a number or a string, whichever the literal is."""
    form = _JSON_STRING if isinstance(value, str) else _JSON_NUMBER
    path = _path(ref.name)
    return form.format(v=_JSON), [path] * form.count("{v}")


def _compare_one(ref: Ref, op: str, value: Any) -> SQL:
    """``ref op value``; ``value`` None is a test for no value."""
    if isinstance(ref, ExampleField) and ref.name not in EXAMPLE_COLUMNS:
        if value is None:
            test = f"({_JSON} IS NULL OR jsonb_typeof({_JSON}) = 'null')"
            params = [_path(ref.name)] * 2
            return (test if op == "=" else f"(NOT {test})"), params
        side, params = _json_side(ref, value)
        cast = "CAST(? AS text)" if isinstance(value, str) else "CAST(? AS numeric)"
        bound = (
            text_view(value) if isinstance(value, str) else (int(value) if isinstance(value, bool) else value)
        )
        return f"({side} {op} {cast})", [*params, bound]
    expr, params = ref_sql(ref, exact=wide_int([value]))
    if value is None:
        return f"({expr} {'IS NULL' if op == '=' else 'IS NOT NULL'})", params
    literal = _literal(ref, value)
    if literal is None:
        return "(NULL::boolean)", []
    cast, bound = literal
    return f"({expr} {op} {cast})", [*params, bound]


def where_sql(expr: Expr) -> SQL:
    """A condition of the tree as SQL; ``not`` and negated membership read null as false."""
    return _where(expr)


def _where(expr: Expr) -> SQL:
    if isinstance(expr, (All, Any_)):
        return balanced("AND" if isinstance(expr, All) else "OR", [_where(t) for t in expr.terms])
    if isinstance(expr, Not):
        sql, params = _where(expr.inner)
        return f"(({sql}) IS NOT TRUE)", params
    if isinstance(expr, HasTag):
        marks = ", ".join("?" for _ in expr.tags)
        sql = f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag IN ({marks}))"
        return _negated(sql, [text_view(t) for t in expr.tags], expr.negate)
    if isinstance(expr, In):
        if not expr.values:
            return _negated("false", [], expr.negate)
        sql, params = balanced("OR", [_compare_one(expr.ref, "=", v) for v in expr.values])
        return _negated(sql, params, expr.negate)
    if isinstance(expr, Contains):
        value, params = _text_of(expr.ref)
        return f"(strpos(casefold({value}), casefold(CAST(? AS text))) > 0)", [*params, text_view(expr.text)]
    return _compare_one(expr.ref, expr.op, expr.value)


def _text_of(ref: Ref) -> SQL:
    """A reference's value as text, for ``~``."""
    if isinstance(ref, ExampleField) and ref.name not in EXAMPLE_COLUMNS:
        return f"({_JSON} #>> '{{}}')", [_path(ref.name)]
    expr, params = ref_sql(ref)
    return f"CAST({expr} AS text)", params


def _negated(sql: str, params: list[Any], negate: bool) -> SQL:
    return (f"(NOT coalesce({sql}, false))" if negate else f"({sql})"), params


def order_sql(keys: Sequence[SortKey]) -> SQL:
    """ORDER BY terms: nulls last whichever the direction."""
    return order_terms(keys, ref_sql)


def stratum_sql(field: ExampleField) -> SQL:
    """An example field as a grouping key: JSON values as their JSON text, so 1 and "1" stay apart."""
    if field.name in EXAMPLE_COLUMNS:
        return EXAMPLE_COLUMNS[field.name], []
    return f"coalesce(({_JSON})::text, 'null')", [_path(field.name)]


def field_values_sql(field: ExampleField, kind: str) -> SQL:
    """(ex_id, number) of the examples of a (run, split) whose field is a number, or (kind "text") a text's length."""
    where = "e.run_id = ? AND e.split = ?"
    if field.name in EXAMPLE_COLUMNS:
        column = EXAMPLE_COLUMNS[field.name]
        textual = field.name in _TEXT_EXAMPLE_COLUMNS
        if (kind == "text") != textual:
            return f"SELECT e.ex_id, 0.0 FROM examples e WHERE false AND {where}", []
        value = f"length({column})::double precision" if textual else f"{column}::double precision"
        return f"SELECT e.ex_id, {value} FROM examples e WHERE {where} AND {column} IS NOT NULL", []
    if kind == "text":
        out, keep = "length(j #>> '{}')::double precision", "jsonb_typeof(j) = 'string'"
    else:
        number = (
            f"CASE WHEN j::numeric > {_DOUBLE_MAX} THEN 'Infinity'::double precision"
            f" WHEN j::numeric < -{_DOUBLE_MAX} THEN '-Infinity'::double precision"
            " ELSE j::numeric::double precision END"
        )
        out = f"CASE jsonb_typeof(j) WHEN 'boolean' THEN CASE WHEN j::boolean THEN 1.0 ELSE 0.0 END ELSE {number} END"
        keep = "jsonb_typeof(j) IN ('number', 'boolean')"
    sql = f"SELECT ex_id, {out} FROM (SELECT e.ex_id AS ex_id, e.doc #> ? AS j FROM examples e WHERE {where}) s WHERE {keep}"
    return sql, [_path(field.name)]
