"""The ``--where`` language over per-example fields, compiled to parameterised SQL.

    correct == false and loss > 2
    lang in ('de', 'fr') or output ~ 'sorry'
    not (meta.source == 'web')

The same grammar as ``lab ls --where`` (``query.py``), but names are the fields of the
examples, which users choose: ``id``, ``split`` and ``correct`` are columns; any other
name is read with ``json_extract`` from the stored row, ``a.b`` reaching into nested
objects. The JSON path is a bound parameter like every value, and each name is checked
against the fields the examples actually have, so user text never becomes SQL.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from labbook.core.query import Compiled, _Parser
from labbook.errors import QueryError

COLUMNS = {"id": "e.ex_id", "split": "e.split", "correct": "e.correct"}


def json_path(name: str) -> str:
    """``meta.lang`` → ``$."meta"."lang"`` (quoted, so any characters are allowed)."""
    parts = name.split(".")
    return "$" + "".join('."' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


def field_sql(name: str, known: frozenset[str]) -> tuple[str, list[Any]]:
    """SQL expression (over alias ``e``) and its parameters for an example field."""
    if name in COLUMNS:
        return COLUMNS[name], []
    if name.split(".")[0] not in known:
        close = difflib.get_close_matches(name, sorted(known | set(COLUMNS)), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        shown = ", ".join(sorted(known)[:12]) or "none"
        raise QueryError(f"the examples have no field {name!r}{hint} (their fields: {shown})")
    return "json_extract(e.data, ?)", [json_path(name)]


@dataclass(frozen=True)
class _Names:
    """What ``_Parser`` keeps as ``fields``: here, the examples' top-level field names."""

    known: frozenset[str]


class _ExampleParser(_Parser):
    def __init__(self, text: str, known: frozenset[str]) -> None:
        super().__init__(text, _Names(known))  # type: ignore[arg-type]

    TAG_NAMES = ()  # examples have no tags: every name is a field

    def convert(self, name: str, value: Any) -> Any:
        return value

    def membership(self, name: str, values: list[Any], negate: bool, reverse: bool = False) -> Compiled:
        if reverse:
            raise QueryError(
                f"'value in {name}' is not a test here; write {name} == 'value' (in {self.text!r})"
            )
        expr, params = self.resolve(name, None)
        sql = f"{expr} IN ({', '.join('?' for _ in values)})"
        return Compiled(f"(NOT coalesce({sql}, 0))" if negate else f"({sql})", [*params, *values])

    def resolve(self, name: str, example: Any) -> tuple[str, list[Any]]:
        try:
            return field_sql(name, self.fields.known)  # type: ignore[attr-defined]
        except QueryError as err:
            raise QueryError(f"{err} (in the query {self.text!r})") from None


def compile_example_where(text: str, known: frozenset[str]) -> Compiled:
    """Compile a --where over example fields; raises QueryError with a one-line reason."""
    return _ExampleParser(text, known).parse()
