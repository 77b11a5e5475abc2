"""Sides: what a user names on the command line, turned into runs.

A side is run ids (``3,4,5``), a variant (``lr=1e-3 scale=true``), a tag, a run name,
or a ``--where`` expression. Each becomes one parameterised query (``core/query.py``),
ANDed with the command's own ``--where``. Only finished runs count by default: smoke
runs (tag ``smoke``) and runs that failed, were killed, crashed or are still running
are left out, and how many were is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput, QueryError
from labbook.records.runs import FINISHED, RunRecord

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

SMOKE_TAG = "smoke"
_IDS = re.compile(r"\s*\d+(\s*,\s*\d+)*\s*")
_ASSIGN = re.compile(r"([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)=([^=].*|)")
_WORD = re.compile(r"[\w.\-/:+]+")


@dataclass
class Side:
    """The runs one argument names, and those left out of them (by reason)."""

    spec: str
    kind: str  # runs / variant / tag / name / where
    runs: list[RunRecord]
    excluded: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_excluded(self) -> int:
        return sum(len(v) for v in self.excluded.values())

    def excluded_text(self) -> str:
        return ", ".join(f"{len(ids)} {reason}" for reason, ids in sorted(self.excluded.items()))


def literal(value: Any) -> str:
    """A value as a literal of the --where language."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _variant_where(spec: str) -> str | None:
    """``lr=1e-3 scale=true`` → ``params.lr == 0.001 and params.scale == true``, else None."""
    from labbook.core.config import parse_value

    tokens = spec.split()
    matches = [_ASSIGN.fullmatch(t) for t in tokens]
    if not tokens or not all(matches):
        return None
    return " and ".join(f"params.{m.group(1)} == {literal(parse_value(m.group(2)))}" for m in matches if m)


def side_query(nb: Notebook, spec: str) -> tuple[str, str]:
    """(kind, --where expression) of one side as the user wrote it."""
    text = spec.strip()
    if not text:
        raise BadInput(
            "an empty side: give run ids (3,4,5), a variant (lr=1e-3), a tag, or a --where expression"
        )
    if _IDS.fullmatch(text):
        return "runs", f"id in ({', '.join(str(int(i)) for i in text.split(','))})"
    variant = _variant_where(text)
    if variant is not None:
        return "variant", variant
    if _WORD.fullmatch(text):
        tag = f"{literal(text)} in tags"
        if nb.list_runs(where=tag, limit=1, archived=True)[1]:
            return "tag", tag
        ids = nb.store.runs.find_run_ids(text)
        if ids:
            return "name", f"id in ({', '.join(map(str, ids))})"
    return "where", text


def select(nb: Notebook, spec: str, where: str | None = None, include_all: bool = False) -> Side:
    """The finished, non-smoke runs ``spec`` names (all of them with ``include_all``)."""
    kind, expr = side_query(nb, spec)
    full = f"({expr}) and ({where})" if where else expr
    try:
        runs, _ = nb.list_runs(where=full, sort="id", limit=0, archived=True)
    except QueryError as err:
        if kind == "where" and _WORD.fullmatch(spec.strip()):
            raise BadInput(
                f"{spec!r} is not a run id, run name, tag, variant (key=value) or --where expression "
                "of this notebook; `lab ls` lists runs"
            ) from None
        raise QueryError(f"{spec!r}: {err}") from None
    if not runs:
        extra = f" with --where {where!r}" if where else ""
        raise BadInput(f"{spec!r} matches no runs{extra}; `lab ls` lists runs")
    side = Side(spec, kind, [])
    for run in runs:
        reason = None if include_all else exclusion(run)
        if reason is None:
            side.runs.append(run)
        else:
            side.excluded.setdefault(reason, []).append(run.id)
    if not side.runs:
        raise BadInput(
            f"{spec!r} has no runs left after leaving out {side.excluded_text()} runs; "
            "--all counts them anyway"
        )
    return side


def exclusion(run: RunRecord) -> str | None:
    if run.archived_at is not None:
        return "archived"
    if SMOKE_TAG in run.tags:
        return "smoke"
    if run.status != FINISHED:
        return run.status
    return None
