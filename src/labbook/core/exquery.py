"""The ``--where`` language over per-example fields: the same grammar as ``lab ls --where``.

    correct == false and loss > 2
    lang in ('de', 'fr') or output ~ 'sorry'
    not (meta.source == 'web')

Names are the fields of the examples, which users choose: ``id``, ``split`` and
``correct`` are columns; any other name is a path into the stored row, ``a.b`` reaching
into nested objects. Each name is checked against the fields the examples actually have
and becomes an ``ExampleField``; the store turns it into a bound JSON path, so user text
never becomes SQL.
"""

from __future__ import annotations

import difflib
from typing import Any

from labbook.core.query import ExampleField, Expr, In, _Parser
from labbook.errors import QueryError
from labbook.records.runs import Fields

COLUMNS = ("id", "split", "correct")


def example_field(name: str, known: frozenset[str]) -> ExampleField:
    """The example field ``name`` names; refused with the fields there are when it names none."""
    if name not in COLUMNS and name.split(".")[0] not in known:
        close = difflib.get_close_matches(name, sorted(known | set(COLUMNS)), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        shown = ", ".join(sorted(known)[:12]) or "none"
        raise QueryError(f"the examples have no field {name!r}{hint} (their fields: {shown})")
    return ExampleField(name)


class _ExampleParser(_Parser):
    TAG_NAMES = ()  # examples have no tags: every name is a field

    def __init__(self, text: str, known: frozenset[str]) -> None:
        super().__init__(text, Fields(frozenset(), frozenset(), frozenset()))
        self.known = known

    def convert(self, name: str, value: Any) -> Any:
        return value

    def membership(self, name: str, values: list[Any], negate: bool, reverse: bool = False) -> Expr:
        if reverse:
            raise QueryError(
                f"'value in {name}' is not a test here; write {name} == 'value' (in {self.text!r})"
            )
        return In(self.resolve(name, None), tuple(values), negate)

    def resolve(self, name: str, example: Any) -> ExampleField:
        try:
            return example_field(name, self.known)
        except QueryError as err:
            raise QueryError(f"{err} (in the query {self.text!r})") from None


def parse_example_where(text: str, known: frozenset[str]) -> Expr:
    """Parse a --where over example fields; raises QueryError with a one-line reason."""
    return _ExampleParser(text, known).parse()
