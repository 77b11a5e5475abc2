"""The metric file format: exact round trips, torn tails, compaction."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from labbook.series import (
    SeriesWriter,
    compact_file,
    encode_block,
    iter_blocks,
    read_series,
)

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
steps = st.integers(min_value=-(2**62), max_value=2**62)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(steps, floats), min_size=1, max_size=200))
def test_round_trip_is_bit_exact(tmp_path_factory, points) -> None:
    d = tmp_path_factory.mktemp("s")
    w = SeriesWriter(d / "w.lbm")
    half = len(points) // 2
    for chunk in (points[:half], points[half:]):
        if chunk:
            s, v = zip(*chunk, strict=True)
            w.append([encode_block("m", list(s), [1_700_000_000_000 + i for i in range(len(s))], list(v))])
    w.close(compact=False)
    got = read_series(d, "m")
    assert got is not None
    want = np.array([p[1] for p in points], dtype="<f8")
    assert got.values.view("<u8").tolist() == want.view("<u8").tolist()  # NaN payloads included
    assert got.steps.tolist() == [p[0] for p in points]


def test_torn_tail_is_ignored_and_earlier_blocks_survive(tmp_path: Path) -> None:
    w = SeriesWriter(tmp_path / "w.lbm")
    w.append([encode_block("loss", [0, 1], [1000, 2000], [0.5, 0.25])])
    w.append([encode_block("loss", [2, 3], [3000, 4000], [0.125, 0.0625])])
    w.close(compact=False)
    data = (tmp_path / "w.lbm").read_bytes()
    (tmp_path / "w.lbm").write_bytes(data[:-3])  # a writer killed mid-write
    got = read_series(tmp_path, "loss")
    assert got is not None and got.values.tolist() == [0.5, 0.25]


def test_corrupted_payload_stops_reading_at_that_block(tmp_path: Path) -> None:
    a = encode_block("x", [0], [0], [1.0])
    b = bytearray(encode_block("x", [1], [0], [2.0]))
    b[-1] ^= 0xFF
    (tmp_path / "w.lbm").write_bytes(a + bytes(b))
    assert [blk.n for blk in iter_blocks((tmp_path / "w.lbm").read_bytes())] == [1]


def test_compaction_merges_blocks_without_changing_points(tmp_path: Path) -> None:
    w = SeriesWriter(tmp_path / "w.lbm")
    rng = np.random.default_rng(0)
    values = rng.normal(size=5000).tolist()
    values[17] = math.nan
    values[99] = -math.inf
    for i in range(0, 5000, 100):
        w.append(
            [
                encode_block(
                    "a", list(range(i, i + 100)), [i * 10 + k for k in range(100)], values[i : i + 100]
                ),
                encode_block("b", [i], [i * 10], [float(i)]),
            ]
        )
    before = read_series(tmp_path, "a")
    w.close(compact=False)
    compact_file(tmp_path / "w.lbm")
    blocks = list(iter_blocks((tmp_path / "w.lbm").read_bytes()))
    assert sorted(b.key for b in blocks) == ["a", "b"]
    after = read_series(tmp_path, "a")
    assert before is not None and after is not None
    assert after.values.view("<u8").tolist() == before.values.view("<u8").tolist()
    assert after.steps.tolist() == list(range(5000))
    assert np.allclose(after.times, before.times)


def test_two_writers_are_merged_in_time_order(tmp_path: Path) -> None:
    SeriesWriter(tmp_path / "a.lbm").append([encode_block("m", [0, 2], [1000, 3000], [0.0, 2.0])])
    SeriesWriter(tmp_path / "b.lbm").append([encode_block("m", [1], [2000], [1.0])])
    got = read_series(tmp_path, "m")
    assert got is not None and got.values.tolist() == [0.0, 1.0, 2.0]


def test_header_layout_is_stable() -> None:
    block = encode_block("k", [5], [7], [1.5])
    magic, n, klen, flags = struct.unpack_from("<4sIHH", block)
    assert (magic, n, klen, flags) == (b"LBM1", 1, 1, 0)
