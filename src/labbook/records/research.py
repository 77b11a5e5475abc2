"""Hypotheses and predictions: their states, kinds and outcomes, and what the store takes to create them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# -- hypotheses and predictions --------------------------------------------------------

OPEN = "open"
TESTING = "testing"
RESOLVED = "resolved"
HYP_OUTCOMES = ("supported", "refuted", "inconclusive")
BINARY = "binary"
NUMERIC = "numeric"
POINT = "point"  # a single guessed number (a paper result), scored by its error
PRED_OUTCOMES = ("true", "false", "ambiguous")


@dataclass(frozen=True)
class Hypothesis:
    id: int
    uid: str
    text: str
    problem: str | None
    author: str | None
    created_at: float
    outcome: str | None
    belief: str | None
    resolved_at: float | None
    tags: tuple[str, ...] = ()
    run_ids: tuple[int, ...] = ()
    problem_id: int | None = None  # the problem record it is linked to, if any

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return RESOLVED
        return TESTING if self.run_ids else OPEN

    @property
    def ref(self) -> str:
        return f"H{self.id}"


@dataclass(frozen=True)
class Resolution:
    outcome: str  # true / false / ambiguous
    value: float | None
    how: str  # auto / manual / import
    detail: dict[str, Any] | None
    resolved_at: float


@dataclass(frozen=True)
class Prediction:
    """A forecast written down before its result; never edited, only revised."""

    id: int
    uid: str
    hyp_id: int | None
    text: str
    kind: str
    p: float | None
    low: float | None
    high: float | None
    level: float | None
    point: float | None
    metric: str | None
    agg: str | None
    reduce: str | None
    op: str | None
    value: float | None
    min_runs: int | None
    author: str | None
    created_at: float
    due_at: float | None
    late: bool
    revision_of: int | None
    source: str
    superseded_by: int | None = None
    resolution: Resolution | None = None
    paper_id: int | None = None
    tags: tuple[str, ...] = ()  # its own tags (e.g. from Fatebook), besides its hypothesis's
    #: What a metric-tied prediction is about, beyond all its hypothesis's runs (``targets.Scope``):
    #: {"where": EXPR}, and/or {"a": EXPR, "b": EXPR, "a_spec": .., "b_spec": ..} with "verdict": WORD.
    scope: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        return f"P{self.id}"

    @property
    def scored(self) -> bool:
        """Counted in scores: the latest revision, made before results, resolved unambiguously."""
        return (
            self.superseded_by is None
            and not self.late
            and self.resolution is not None
            and self.resolution.outcome != "ambiguous"
        )

    def flags(self) -> list[str]:
        """What a reader must know beside the forecast: lateness and revisions."""
        out = []
        if self.late:
            out.append("LATE, not scored")
        if self.superseded_by:
            out.append(f"revised by P{self.superseded_by}")
        if self.revision_of:
            out.append(f"revises P{self.revision_of}")
        return out

    def describe(self) -> str:
        """The forecast in a few words: `p=0.7`, `80% in [0.81, 0.86]`, `val_acc.last mean > 0.9`."""
        parts = []
        if self.metric and not self.agg:  # a paper's reported result, not a run metric
            parts.append(self.metric)
        elif self.metric:
            over = (
                f"{self.reduce} over ≥{self.min_runs} runs"
                if (self.min_runs or 1) > 1
                else f"{self.reduce} over runs"
            )
            scope = self.scope or {}
            if "verdict" in scope:
                target = f"lab compare {scope['a_spec']} vs {scope['b_spec']} on {self.metric}.{self.agg}: {scope['verdict']}"
            elif "a" in scope:
                target = f"{self.metric}.{self.agg} ({over}) of {scope['a_spec']} − {scope['b_spec']}"
            else:
                target = f"{self.metric}.{self.agg} ({over})"
            claim = f"{target} {self.op} {self.value:g}" if self.op else target
            parts.append(claim + (f" where {scope['where']}" if scope.get("where") else ""))
        if self.kind == BINARY and self.p is not None:
            parts.append(f"p={self.p:g}")
        if self.kind == NUMERIC:
            level = f"{self.level * 100:g}%" if self.level is not None else "?"
            parts.append(f"{level} in [{self.low:g}, {self.high:g}]")
            if self.point is not None:
                parts.append(f"guess {self.point:g}")
        if self.kind == POINT and self.point is not None:
            parts.append(f"guess {self.point:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class NewHypothesis:
    uid: str
    text: str
    problem: str | None
    author: str | None
    created_at: float
    tags: tuple[str, ...] = ()
    problem_id: int | None = None  # a problem record (problem then holds its title)
    pile: tuple[int, str, int, int] | None = None  # started from a pile: (sample id, pile, count, reviewed)


@dataclass(frozen=True)
class NewPrediction:
    uid: str
    hyp_id: int | None
    text: str
    kind: str
    p: float | None = None
    low: float | None = None
    high: float | None = None
    level: float | None = None
    point: float | None = None
    metric: str | None = None
    agg: str | None = None
    reduce: str | None = None
    op: str | None = None
    value: float | None = None
    min_runs: int | None = None
    author: str | None = None
    created_at: float = 0.0
    due_at: float | None = None
    revision_of: int | None = None
    source: str = "lab"
    late: bool | None = None  # None: decide from the hypothesis's runs at insert time
    paper_id: int | None = None
    tags: tuple[str, ...] = ()  # a prediction's own tags (imported ones); others use their hypothesis's
    scope: dict[str, Any] | None = None  # what a metric-tied prediction is about (targets.Scope)
