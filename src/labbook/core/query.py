"""The ``--where`` / ``--sort`` language, compiled to parameterised SQL.

    status == 'finished' and acc.max > 0.9
    'baseline' in tags or lr <= 1e-3
    not (status in ('failed', 'crashed')) and name ~ 'resnet'
    created >= '2026-11-01' and duration < 600

A name resolves, in order, to: a run field (``id uid name status created started ended
duration exit_code host note source command``), ``tags``, a metric summary written
``METRIC.AGG`` (AGG one of last min max mean count nan_count last_step), a parameter, or a
user summary value. ``params.X``, ``metrics.X.AGG`` and ``summary.X`` force the kind.
Values never enter the SQL text: every literal becomes a ``?`` parameter, and every name
is checked against what the notebook holds before it is used as a bound key.

Nesting (``not``, parentheses) is limited to ``MAX_DEPTH`` levels, checked while parsing:
the parser recurses once per level (5000 levels were a RecursionError), and SQLite before
3.46 parses with a fixed 100-entry stack, which the costliest shape of level,
``(a or b and (...))``, fills at 13. Runs of ``and`` / ``or`` are not nesting: they compile
to balanced SQL trees, so thousands of terms stay within SQLite's expression depth (1000).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from labbook.core.dates import parse_date
from labbook.errors import QueryError
from labbook.records.runs import Fields

RUN_FIELDS = {
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
TIME_FIELDS = {"created", "started", "ended"}
AGGS = {
    "last": "m.last",
    "min": "m.min",
    "max": "m.max",
    "mean": "m.sum / NULLIF(m.count - m.nan_count, 0)",
    "count": "m.count",
    "nan_count": "m.nan_count",
    "last_step": "m.last_step",
}
COMPARE = {"==": "=", "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
MAX_DEPTH = 12  # levels of not / parentheses that every shape of query fits in SQLite 3.40's parser
_INT64 = (-(2**63), 2**63 - 1)  # what SQLite binds as an integer; wider literals compare as floats

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))(?![\w.])
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|=|~|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][\w\-/]*(?:\.[\w\-/]+)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


@dataclass(frozen=True)
class Tok:
    kind: str
    value: Any
    pos: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot read {text[pos:].strip()[:20]!r} at position {pos + 1} of the query")
        kind = m.lastgroup or ""
        raw, start = m.group(kind), m.start(kind)
        if kind == "num":
            value: Any = float(raw) if any(c in raw for c in ".eE") else _integer(raw)
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "name" and raw.lower() in _KEYWORDS:
            kind, value = "kw", raw.lower()
        else:
            value = raw
        out.append(Tok(kind, value, start))
        pos = m.end()
    return out


def _integer(raw: str) -> int | float:
    """An integer literal; beyond 64 bits a float (±inf past 1e308), as big stored ints are viewed."""
    if len(raw.lstrip("+-")) <= 19:  # so int() never meets Python's 4300-digit limit
        value = int(raw)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    return float(raw)


@dataclass
class Compiled:
    sql: str
    params: list[Any]


class _Parser:
    def __init__(self, text: str, fields: Fields) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.fields = fields

    # -- token helpers -------------------------------------------------------
    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError(f"the query {self.text!r} ends too early")
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok and tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: Any) -> None:
        if not self.accept(kind, value):
            tok = self.peek()
            got = repr(tok.value) if tok else "the end"
            raise QueryError(f"expected {value!r} but found {got} in the query {self.text!r}")

    # -- grammar -------------------------------------------------------------
    def parse(self) -> Compiled:
        if not self.toks:
            raise QueryError("the --where expression is empty")
        out = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek().value!r} in the query {self.text!r}")  # type: ignore[union-attr]
        return out

    def disjunction(self) -> Compiled:
        terms = [self.conjunction()]
        while self.accept("kw", "or"):
            terms.append(self.conjunction())
        return _balanced("OR", terms)

    def conjunction(self) -> Compiled:
        terms = [self.negation()]
        while self.accept("kw", "and"):
            terms.append(self.negation())
        return _balanced("AND", terms)

    def negation(self) -> Compiled:
        if self.accept("kw", "not"):
            self.enter()
            inner = self.negation()
            self.depth -= 1
            return Compiled(f"({inner.sql} IS NOT 1)", inner.params)  # NOT, with NULL as false
        if self.accept("op", "("):
            self.enter()
            inner = self.disjunction()
            self.expect("op", ")")
            self.depth -= 1
            return inner
        return self.comparison()

    def enter(self) -> None:
        """One more level of not / parentheses; refused past ``MAX_DEPTH`` (see the module docstring)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"--where nests deeper than {MAX_DEPTH} levels of not / parentheses; simplify it"
            )

    def literal(self) -> Any:
        tok = self.take()
        if tok.kind in ("num", "str"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        if tok.kind == "kw" and tok.value == "null":
            return None
        raise QueryError(f"expected a value but found {tok.value!r} in the query {self.text!r}")

    def literal_list(self) -> list[Any]:
        if not (self.accept("op", "(") or self.accept("op", "[")):
            return [self.literal()]
        items = [self.literal()]
        while self.accept("op", ","):
            items.append(self.literal())
        if not (self.accept("op", ")") or self.accept("op", "]")):
            raise QueryError(f"a list in the query {self.text!r} is not closed")
        return items

    TAG_NAMES: tuple[str, ...] = ("tags", "tag")  # names compared as set membership

    def comparison(self) -> Compiled:
        tok = self.peek()
        if tok is not None and tok.kind in ("num", "str"):
            # 'value' in tags / 'value' in FIELD
            value = self.literal()
            negate = self.accept("kw", "not")
            self.expect("kw", "in")
            name = self.take()
            if name.kind != "name":
                raise QueryError(f"expected a field after 'in' in the query {self.text!r}")
            return self.membership(name.value, [value], negate, reverse=True)
        name = self.take()
        if name.kind != "name":
            raise QueryError(f"expected a field name but found {name.value!r} in the query {self.text!r}")
        if self.accept("kw", "not"):
            self.expect("kw", "in")
            return self.membership(name.value, self.literal_list(), True)
        if self.accept("kw", "in"):
            return self.membership(name.value, self.literal_list(), False)
        op = self.take()
        if op.kind != "op" or (op.value not in COMPARE and op.value != "~"):
            raise QueryError(f"expected a comparison after {name.value!r} in the query {self.text!r}")
        value = self.convert(name.value, self.literal())
        if name.value in self.TAG_NAMES:
            if op.value not in ("==", "=", "!="):
                raise QueryError("tags can only be tested with == , != or 'x' in tags")
            return self.membership("tags", [value], op.value == "!=")
        expr, expr_params = self.resolve(name.value, value)
        if op.value == "~":
            return Compiled(f"(instr(lower({expr}), lower(?)) > 0)", [*expr_params, str(value)])
        if value is None:
            null = "IS NULL" if COMPARE[op.value] == "=" else "IS NOT NULL"
            return Compiled(f"({expr} {null})", expr_params)
        return Compiled(f"({expr} {COMPARE[op.value]} ?)", [*expr_params, value])

    def convert(self, name: str, value: Any) -> Any:
        """The value a field is compared with, as stored (dates become timestamps)."""
        return _as_time(value) if name in TIME_FIELDS else value

    def membership(self, name: str, values: list[Any], negate: bool, reverse: bool = False) -> Compiled:
        marks = ", ".join("?" for _ in values)
        if name in ("tags", "tag"):
            sql = f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag IN ({marks}))"
            params = [str(v) for v in values]
        elif reverse:
            raise QueryError(f"'value in {name}' works only for tags; write {name} == 'value'")
        else:
            expr, expr_params = self.resolve(name, values[0] if values else None)
            sql, params = f"{expr} IN ({marks})", [*expr_params, *values]
        return Compiled(f"(NOT coalesce({sql}, 0))" if negate else f"({sql})", params)

    # -- names ---------------------------------------------------------------
    def resolve(self, name: str, example: Any) -> tuple[str, list[Any]]:
        try:
            return resolve_field(name, self.fields, example)
        except QueryError as err:
            raise QueryError(f"{err} (in the query {self.text!r})") from None


def _balanced(op: str, terms: list[Compiled]) -> Compiled:
    """``a OP b OP c ...`` as a balanced tree: SQLite's depth grows with log2 of the terms, not their number."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    left, right = _balanced(op, terms[:half]), _balanced(op, terms[half:])
    return Compiled(f"({left.sql} {op} {right.sql})", left.params + right.params)


def _as_time(value: Any) -> Any:
    return parse_date(value, "the value", QueryError) if isinstance(value, str) else value


def resolve_field(name: str, fields: Fields, example: Any = 0.0) -> tuple[str, list[Any]]:
    """SQL expression (over alias ``r``) and its parameters for a field name."""
    kind, _, rest = name.partition(".")
    if name in RUN_FIELDS:
        return RUN_FIELDS[name], []
    view = "text" if isinstance(example, str) else "num"
    if kind == "params" and rest:
        return _keyed("params", rest, fields.params, view, "parameter")
    if kind == "summary" and rest:
        return _keyed("summary", rest, fields.summary, view, "summary value")
    if kind == "metrics" and rest:
        forced = _metric(rest, fields, strict=True)  # strict: raises rather than return None
        if forced is not None:
            return forced
    metric = _metric(name, fields, strict=False)
    if metric is not None:
        return metric
    if name in fields.params:
        return _keyed("params", name, fields.params, view, "parameter")
    if name in fields.summary:
        return _keyed("summary", name, fields.summary, view, "summary value")
    raise QueryError(_unknown(name, fields))


def _keyed(table: str, key: str, known: frozenset[str], view: str, what: str) -> tuple[str, list[Any]]:
    if key not in known:
        raise QueryError(f"no {what} named {key!r} in this notebook")
    return f"(SELECT x.{view} FROM {table} x WHERE x.run_id = r.id AND x.key = ?)", [key]


def _metric(name: str, fields: Fields, strict: bool) -> tuple[str, list[Any]] | None:
    key, _, agg = name.rpartition(".")
    if not key or agg not in AGGS:
        if strict:
            raise QueryError(f"write a metric as METRIC.AGG with AGG one of {', '.join(AGGS)}")
        return None
    if key not in fields.metrics:
        if strict:
            raise QueryError(f"no metric named {key!r} in this notebook")
        return None
    return f"(SELECT {AGGS[agg]} FROM metrics m WHERE m.run_id = r.id AND m.key = ?)", [key]


def _unknown(name: str, fields: Fields) -> str:
    candidates = [*RUN_FIELDS, "tags", *fields.params, *fields.summary]
    candidates += [f"{m}.{a}" for m in fields.metrics for a in ("last", "min", "max")]
    close = difflib.get_close_matches(name, candidates, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"unknown field {name!r}{hint} "
        "(fields: run fields like status/name/duration, tags, params, METRIC.last/min/max)"
    )


def widened(text: str, fields: Fields) -> Fields:
    """``fields`` plus the names ``text`` gives a kind explicitly (``params.lr``, ``summary.x``,
    ``metrics.loss.last``, ``test_loss.min``): a prediction may name what no run has logged yet.
    A bare name (``lr``) must still be known, so a typo is not taken for the future."""
    params, metrics, summary = set(fields.params), set(fields.metrics), set(fields.summary)
    for m in _TOKEN.finditer(text):
        name = m.group("name")
        if not name or name in RUN_FIELDS:
            continue
        kind, _, rest = name.partition(".")
        key, _, agg = (rest if kind == "metrics" else name).rpartition(".")
        if kind == "params" and rest:
            params.add(rest)
        elif kind == "summary" and rest:
            summary.add(rest)
        elif key and agg in AGGS:
            metrics.add(key)
    return Fields(frozenset(params), frozenset(metrics), frozenset(summary))


def compile_where(text: str, fields: Fields) -> Compiled:
    """Compile a --where expression; raises QueryError with a one-line reason."""
    return _Parser(text, fields).parse()


def compile_sort(spec: str, fields: Fields) -> list[tuple[str, list[Any], bool]]:
    """``-acc.max,name`` → ORDER BY parts (expression, parameters, descending)."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("-+")
        if name in ("tags", "tag"):
            raise QueryError("cannot sort by tags; sort by a field, parameter or METRIC.AGG")
        expr, params = resolve_field(name, fields)
        out.append((expr, params, desc))
    if not out:
        raise QueryError("--sort needs a field name, e.g. --sort -acc.max")
    return out
