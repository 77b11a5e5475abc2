"""The ``--where`` / ``--sort`` language: text → a syntax tree of typed references.

    status == 'finished' and acc.max > 0.9
    'baseline' in tags or lr <= 1e-3
    not (status in ('failed', 'crashed')) and name ~ 'resnet'
    created >= '2026-11-01' and duration < 600

A name resolves, in order, to: a run field (``id uid name status created started ended
duration exit_code host note source command``), ``tags``, a metric summary written
``METRIC.AGG`` (AGG one of last min max mean count nan_count last_step), a parameter, or a
user summary value. ``params.X``, ``metrics.X.AGG`` and ``summary.X`` force the kind;
``checks.failed`` (passed, skipped) counts a run's sanity checks (no value for a run that ran none).
Every name is checked against what the notebook holds (``Fields``) and becomes a typed
reference (``RunField``, ``Tags``, ``Metric``, ``Keyed``); values stay values. Each store
compiles the tree into its own query language (``store/sqlite/query.py`` binds every
literal as a parameter), so no user text ever becomes SQL and a second store reuses the
parser whole.

Nesting (``not``, parentheses) is limited to ``MAX_DEPTH`` levels, checked while parsing:
the parser recurses once per level (5000 levels were a RecursionError), and SQLite before
3.46 parses with a fixed 100-entry stack, which the costliest shape of level,
``(a or b and (...))``, fills at 13. Runs of ``and`` / ``or`` are not nesting: they are one
``All`` / ``Any`` node each, which a compiler turns into a balanced tree.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from labbook.core.dates import parse_date
from labbook.errors import QueryError
from labbook.records.runs import Fields

#: Fields of a run itself, by the name a query uses.
RUN_FIELDS = (
    "id",
    "uid",
    "name",
    "status",
    "created",
    "started",
    "ended",
    "duration",
    "exit_code",
    "host",
    "note",
    "source",
    "command",
    "hyp",
    "sweep",
    "job",
    "job_state",
)
TIME_FIELDS = {"created", "started", "ended"}
#: What a metric reference may read of a metric's summary.
AGGS = ("last", "min", "max", "mean", "count", "nan_count", "last_step")
#: ``checks.passed`` / ``failed`` / ``skipped``: what a run's sanity checks counted (records/checks.py).
CHECK_COUNTS = ("passed", "failed", "skipped")
#: Comparison operators as written → as the tree holds them.
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


# -- the tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunField:
    """A field of the run itself (one of ``RUN_FIELDS``)."""

    name: str


@dataclass(frozen=True)
class Metric:
    """One aggregate (one of ``AGGS``) of a metric's summary."""

    key: str
    agg: str


@dataclass(frozen=True)
class Keyed:
    """A parameter or user summary value, read as text or as a number (how it is compared)."""

    table: str  # "params" or "summary"
    key: str
    text: bool = False


@dataclass(frozen=True)
class ExampleField:
    """A field of an example: a column (``id``, ``split``, ``correct``) or a path into its data."""

    name: str


Ref = RunField | Metric | Keyed | ExampleField


@dataclass(frozen=True)
class Compare:
    """``ref OP value``; a ``None`` value tests for null (``=`` null, ``!=`` not null)."""

    ref: Ref
    op: str  # one of COMPARE's values
    value: Any


@dataclass(frozen=True)
class Contains:
    """``ref ~ text``: case-insensitive substring."""

    ref: Ref
    text: str


@dataclass(frozen=True)
class In:
    """``ref in (values)``; negated, a null ref counts as not in."""

    ref: Ref
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True)
class HasTag:
    """The run carries one of ``tags`` (none of them, negated)."""

    tags: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Not:
    """Negation with null as false: ``not x`` holds unless ``x`` is true."""

    inner: Expr


@dataclass(frozen=True)
class All:
    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Any_:
    terms: tuple[Expr, ...]


Expr = Compare | Contains | In | HasTag | Not | All | Any_


@dataclass(frozen=True)
class SortKey:
    ref: Ref
    desc: bool = False


def both(*terms: Expr | None) -> Expr | None:
    """The conjunction of the terms given (``None`` ones left out)."""
    kept = tuple(x for x in terms if x is not None)
    return None if not kept else kept[0] if len(kept) == 1 else All(kept)


# -- the parser ---------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens; names are resolved by ``resolve`` / ``membership``."""

    TAG_NAMES: tuple[str, ...] = ("tags", "tag")  # names compared as set membership

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
    def parse(self) -> Expr:
        if not self.toks:
            raise QueryError("the --where expression is empty")
        out = self.disjunction()
        tok = self.peek()
        if tok is not None:
            raise QueryError(f"unexpected {tok.value!r} in the query {self.text!r}")
        return out

    def disjunction(self) -> Expr:
        terms = [self.conjunction()]
        while self.accept("kw", "or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Any_(tuple(terms))

    def conjunction(self) -> Expr:
        terms = [self.negation()]
        while self.accept("kw", "and"):
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else All(tuple(terms))

    def negation(self) -> Expr:
        if self.accept("kw", "not"):
            self.enter()
            inner = self.negation()
            self.depth -= 1
            return Not(inner)
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

    def comparison(self) -> Expr:
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
        ref = self.resolve(name.value, value)
        if op.value == "~":
            return Contains(ref, str(value))
        return Compare(ref, COMPARE[op.value], value)

    def convert(self, name: str, value: Any) -> Any:
        """The value a field is compared with, as stored (dates become timestamps)."""
        return _as_time(value) if name in TIME_FIELDS else value

    def membership(self, name: str, values: list[Any], negate: bool, reverse: bool = False) -> Expr:
        if name in ("tags", "tag"):
            return HasTag(tuple(str(v) for v in values), negate)
        if reverse:
            raise QueryError(f"'value in {name}' works only for tags; write {name} == 'value'")
        return In(self.resolve(name, values[0] if values else None), tuple(values), negate)

    # -- names ---------------------------------------------------------------
    def resolve(self, name: str, example: Any) -> Ref:
        try:
            return resolve_field(name, self.fields, example)
        except QueryError as err:
            raise QueryError(f"{err} (in the query {self.text!r})") from None


def _as_time(value: Any) -> Any:
    return parse_date(value, "the value", QueryError) if isinstance(value, str) else value


def resolve_field(name: str, fields: Fields, example: Any = 0.0) -> Ref:
    """The reference a field name stands for; compared with a string, keyed values are read as text."""
    kind, _, rest = name.partition(".")
    if name in RUN_FIELDS:
        return RunField(name)
    text = isinstance(example, str)
    if kind == "params" and rest:
        return _keyed("params", rest, fields.params, text, "parameter")
    if kind == "summary" and rest:
        return _keyed("summary", rest, fields.summary, text, "summary value")
    if kind == "checks" and rest in CHECK_COUNTS:  # known before any run ran checks
        return Keyed("summary", name)
    if kind == "metrics" and rest:
        forced = _metric(rest, fields, strict=True)  # strict: raises rather than return None
        if forced is not None:
            return forced
    metric = _metric(name, fields, strict=False)
    if metric is not None:
        return metric
    if name in fields.params:
        return _keyed("params", name, fields.params, text, "parameter")
    if name in fields.summary:
        return _keyed("summary", name, fields.summary, text, "summary value")
    raise QueryError(_unknown(name, fields))


def _keyed(table: str, key: str, known: frozenset[str], text: bool, what: str) -> Keyed:
    if key not in known:
        raise QueryError(f"no {what} named {key!r} in this notebook")
    return Keyed(table, key, text)


def _metric(name: str, fields: Fields, strict: bool) -> Metric | None:
    key, _, agg = name.rpartition(".")
    if not key or agg not in AGGS:
        if strict:
            raise QueryError(f"write a metric as METRIC.AGG with AGG one of {', '.join(AGGS)}")
        return None
    if key not in fields.metrics:
        if strict:
            raise QueryError(f"no metric named {key!r} in this notebook")
        return None
    return Metric(key, agg)


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


def parse_where(text: str, fields: Fields) -> Expr:
    """Parse a --where expression against the names the notebook holds; raises QueryError with a one-line reason."""
    return _Parser(text, fields).parse()


def parse_sort(spec: str, fields: Fields) -> list[SortKey]:
    """``-acc.max,name`` → sort keys, most significant first."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("-+")
        if name in ("tags", "tag"):
            raise QueryError("cannot sort by tags; sort by a field, parameter or METRIC.AGG")
        out.append(SortKey(resolve_field(name, fields), desc))
    if not out:
        raise QueryError("--sort needs a field name, e.g. --sort -acc.max")
    return out
