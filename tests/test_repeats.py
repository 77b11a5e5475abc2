"""Repeats of one configuration and seed count once; runs without a recorded seed all count."""

from __future__ import annotations

from labbook.core.repeats import fold
from labbook.records.runs import RunRecord


def run(i: int, **params: object) -> RunRecord:
    return RunRecord(
        i, f"u{i}", None, "finished", 0.0, 0.0, 1.0, 0, None, None, None, None, None, "sdk", params=params
    )


def test_a_rerun_of_the_same_seed_is_folded_at_the_mean() -> None:
    pairs = [(run(1, lr=0.1, seed=0), 0.8), (run(2, lr=0.1, seed=1), 0.7), (run(3, lr=0.1, seed=0), 0.9)]
    f = fold(pairs)
    assert f.values == [(0.8 + 0.9) / 2, 0.7]
    assert f.runs == [[1, 3], [2]] and f.folded == 1
    assert f.note() is not None and "runs 1, 3" in f.note()  # type: ignore[operator]


def test_runs_without_a_seed_are_independent_draws() -> None:
    pairs = [(run(1, lr=0.1), 0.8), (run(2, lr=0.1), 0.7)]
    f = fold(pairs)
    assert f.values == [0.8, 0.7] and f.folded == 0 and f.note() is None


def test_other_noise_keys_count_as_the_seed() -> None:
    pairs = [(run(1, lr=0.1, data_seed=3), 1.0), (run(2, lr=0.1, data_seed=3), 3.0)]
    assert fold(pairs, noise=("data_seed",)).values == [2.0]
    assert fold(pairs, noise=("seed",)).folded == 0  # without the key named as noise, no seed is known
