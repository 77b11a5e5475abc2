"""Per-example rows of failure analysis: samples, their items and the piles linked to hypotheses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SampleRow:
    id: int
    name: str
    run_id: int
    split: str
    where: str | None
    stratify: str | None
    seed: int
    requested: int
    population: int
    cursor: int
    created_at: float
    size: int


@dataclass(frozen=True)
class ItemRow:
    position: int
    ex_id: str
    note: str | None
    piles: tuple[str, ...]
    correct: int | None
    data: dict[str, Any] | None  # None when the run no longer has this example


@dataclass(frozen=True)
class PileLink:
    sample: str
    pile: str
    count: int
    reviewed: int
