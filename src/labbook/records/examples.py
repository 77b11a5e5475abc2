"""Per-example rows and reports of failure analysis: samples, items, piles, diffs, tails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labbook.core.failstats import McNemar

#: One example as the store writes it: its id, whether it was correct (None: not graded), its data as JSON.
ExampleRow = tuple[str, int | None, str]
#: Builds a split's id and outcome arrays (``core.example_sets``) from its (id, correct) rows.
SetBuilder = Callable[[list[tuple[Any, ...]]], tuple[bytes, bytes]]


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
class NewSample:
    """A drawn sample as the store keeps it: how it was drawn, and its examples in review order."""

    name: str
    run_id: int
    split: str
    ex_ids: list[str]
    where: str | None
    stratify: str | None
    seed: int
    requested: int
    population: int
    created_at: float | None = None  # None: now; a sample sent from another notebook keeps its own


def sample_key(run_uid: str, split: str, created_at: float) -> str:
    """What names a sample across notebooks (its name is local: two notebooks both have r1-eval-1)."""
    return f"{run_uid}/{split}/{created_at!r}"


#: A pile membership as it travels between notebooks: (example id, pile, where it came from, when).
PileRow = tuple[str, str, str, float]


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


# -- reports of failure analysis ---------------------------------------------------


@dataclass
class ImportReport:
    run_id: int
    split: str
    taken: int
    new: int
    replaced: int
    total: int  # examples the run now has in this split
    skipped: list[tuple[int, str]] = field(default_factory=list)
    unit: str = "line"  # what a skipped number counts: a line of JSONL/CSV, a row of Parquet


@dataclass(frozen=True)
class SampleResult:
    sample: SampleRow
    available: int  # the failures (or --where matches) the sample was drawn from

    @property
    def short(self) -> bool:
        return self.sample.size < self.sample.requested


@dataclass(frozen=True)
class PileStat:
    pile: str
    count: int
    share: float
    low: float
    high: float
    estimate: float
    est_low: float
    est_high: float


@dataclass(frozen=True)
class PileReport:
    sample: SampleRow
    reviewed: int
    unreviewed: int
    piles: list[PileStat]


@dataclass(frozen=True)
class PileChange:
    pile: str
    in_a: int
    fixed: int
    still_failing: int
    missing: int


@dataclass(frozen=True)
class DiffReport:
    run_a: int
    run_b: int
    split: str
    paired: int  # ids both runs scored with a known outcome
    only_a: int
    only_b: int
    unknown: int  # ids in both whose correctness one run does not say
    fixed: int
    broken: int
    still_right: int
    still_wrong: int
    test: McNemar
    sample: str | None = None
    sample_reviewed: int = 0
    piles: list[PileChange] = field(default_factory=list)

    @property
    def acc_a(self) -> float:
        return (self.still_right + self.broken) / self.paired if self.paired else float("nan")

    @property
    def acc_b(self) -> float:
        return (self.still_right + self.fixed) / self.paired if self.paired else float("nan")


@dataclass(frozen=True)
class TailRow:
    ex_id: str
    value: float
    z: float
    correct: int | None
    preview: str


@dataclass(frozen=True)
class TailReport:
    run_id: int
    split: str
    by: str
    numeric: int
    missing: int
    median: float
    rows: list[TailRow]
