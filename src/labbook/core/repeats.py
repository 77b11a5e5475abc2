"""Repeats: runs of one configuration *and* seed are one observation, not several seeds.

``lab rerun``, or the same command launched twice with the same seed, measures the same
(configuration, seed) again. Counting it as one more seed would shrink every interval and
inflate every test, so comparisons, variants and predictions fold repeats first.

The rule: runs are repeats when all their parameters are equal, noise keys (``seed``)
included, and at least one noise key is set. Without a recorded seed two runs of one
configuration are different random draws, and both count. A group of repeats counts once,
at the **mean** of its runs' values (rather than the latest: a rerun measures the same
thing again, so their average estimates it better; a rerun of changed code with changed
parameters is a new configuration anyway). Callers say how many runs were folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labbook.records.runs import RunRecord


@dataclass(frozen=True)
class Folded:
    """One value per (configuration, seed), the runs behind each, and how many were folded in."""

    values: list[float]
    runs: list[list[int]]
    folded: int  # runs that repeated an earlier one

    @property
    def run_ids(self) -> list[int]:
        return [i for ids in self.runs for i in ids]

    def note(self, what: str = "") -> str | None:
        """``2 repeated runs (same config and seed) folded into their first: ...``, or None."""
        if not self.folded:
            return None
        groups = [ids for ids in self.runs if len(ids) > 1]
        shown = "; ".join("runs " + ", ".join(map(str, ids)) for ids in groups[:4])
        more = f" and {len(groups) - 4} more" if len(groups) > 4 else ""
        where = f" {what}" if what else ""
        return (
            f"{self.folded} repeated run{'s' if self.folded != 1 else ''}{where} (same configuration and seed) "
            f"counted once, at the mean of each group: {shown}{more}"
        )


def repeat_key(run: RunRecord, noise: Sequence[str]) -> object:
    """What makes two runs the same observation; a run without a recorded seed is its own."""
    if not any(run.params.get(k) is not None for k in noise):
        return ("run", run.id)
    return tuple(sorted((k, repr(v)) for k, v in run.params.items()))


def fold(pairs: Sequence[tuple[RunRecord, float]], noise: Sequence[str] = ("seed",)) -> Folded:
    """Fold (run, value) pairs, in order of each group's first run."""
    groups: dict[object, tuple[list[int], list[float]]] = {}
    for run, value in pairs:
        ids, values = groups.setdefault(repeat_key(run, noise), ([], []))
        ids.append(run.id)
        values.append(value)
    out = [(ids, sum(vals) / len(vals)) for ids, vals in groups.values()]
    return Folded([v for _, v in out], [ids for ids, _ in out], len(pairs) - len(out))
