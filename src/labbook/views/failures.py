"""The JSON shapes of ``lab failures``: imports, samples, piles, reviewed items, diffs, tails."""

from __future__ import annotations

import dataclasses
from typing import Any


def sample_dict(s: Any) -> dict[str, Any]:
    return {
        "name": s.name,
        "run": s.run_id,
        "split": s.split,
        "where": s.where,
        "stratify": s.stratify,
        "seed": s.seed,
        "requested": s.requested,
        "size": s.size,
        "population": s.population,
        "created_at": s.created_at,
    }


def import_dict(rep: Any) -> dict[str, Any]:
    """``lab failures import``: how many rows were taken, replaced and skipped (with why)."""
    return dataclasses.asdict(rep)


def drawn_dict(res: Any) -> dict[str, Any]:
    """``lab failures sample``: the sample, and whether fewer examples matched than were asked for."""
    return dict(sample_dict(res.sample), short=res.short)


def samples_list(samples: list[Any], reviewed: dict[str, int]) -> list[dict[str, Any]]:
    """``lab failures ls``: each sample with how many of its examples are in a pile."""
    return [dict(sample_dict(s), reviewed=reviewed[s.name]) for s in samples]


def piles_dict(rep: Any) -> dict[str, Any]:
    return {
        "sample": sample_dict(rep.sample),
        "reviewed": rep.reviewed,
        "unreviewed": rep.unreviewed,
        "piles": [dataclasses.asdict(p) for p in rep.piles],
    }


def items_list(items: list[Any]) -> list[dict[str, Any]]:
    """``lab failures show``: the examples in review order (1-based), ``correct`` as a boolean."""
    return [
        {
            "position": i.position + 1,
            "id": i.ex_id,
            "piles": list(i.piles),
            "note": i.note,
            "correct": None if i.correct is None else bool(i.correct),
            "fields": i.data,
        }
        for i in items
    ]


def diff_dict(d: Any) -> dict[str, Any]:
    """``lab failures diff``: the counts, both accuracies, McNemar's test, then the piles."""
    out = {k: v for k, v in dataclasses.asdict(d).items() if k not in ("test", "piles")}
    out.update(acc_a=d.acc_a, acc_b=d.acc_b, mcnemar=d.test.as_dict())
    out["piles"] = [dataclasses.asdict(p) for p in d.piles]
    return out


def tail_dict(t: Any) -> dict[str, Any]:
    out = dataclasses.asdict(t)
    for row in out["rows"]:
        row["correct"] = None if row["correct"] is None else bool(row["correct"])
    return out
