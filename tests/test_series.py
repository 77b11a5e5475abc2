"""The metric file format: exact round trips, damage skipped and named, writes that never tear,
compaction that never discards and stays within bounded memory. Real files, real disks."""

from __future__ import annotations

import errno
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labbook.formats import series as series_format
from labbook.formats.series import encode_block
from labbook.store.series import compactor
from labbook.store.series.compact import COMPACTED, FAILED, KEPT_DAMAGED, compact_file
from labbook.store.series.read import (
    Reading,
    count_points,
    intact_length,
    iter_blocks,
    read,
    read_series,
    series_files,
)
from labbook.store.series.scan import DAMAGED, TORN, Damage
from labbook.store.series.write import SeriesWriter

from .conftest import wait_for

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
steps = st.integers(min_value=-(2**62), max_value=2**62)
T0 = 1_700_000_000_000


def run_json(cmd: list[str]) -> dict[str, object]:
    """Run ``cmd`` and parse the JSON line it prints last."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_python(code: str, *args: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter, so that limits it sets or memory it uses are its own."""
    return run_json([sys.executable, "-c", textwrap.dedent(code), *args])


def block(key: str, start: int, n: int, seed: int = 0) -> bytes:
    """``n`` points of ``key`` from step ``start``; random values, so they barely compress."""
    rnd = random.Random(seed * 1_000_003 + start)
    s = list(range(start, start + n))
    return encode_block(key, s, [T0 + 10 * i for i in s], [rnd.random() for _ in s])


def blocks_of(path: Path) -> list[tuple[str, int]]:
    return [(b.key, b.n) for b in iter_blocks(path.read_bytes())]


def as_bits(reading: Reading) -> dict[str, tuple[list[int], list[int], list[int]]]:
    out = {}
    for key, s in reading.series.items():
        out[key] = (s.steps.tolist(), s.times.view("<u8").tolist(), s.values.view("<u8").tolist())
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(steps, floats), min_size=1, max_size=200))
def test_round_trip_is_bit_exact(
    tmp_path_factory: pytest.TempPathFactory, points: list[tuple[int, float]]
) -> None:
    d = tmp_path_factory.mktemp("s")
    w = SeriesWriter(d / "w.lbm")
    half = len(points) // 2
    for chunk in (points[:half], points[half:]):
        if chunk:
            s, v = zip(*chunk, strict=True)
            w.append([encode_block("m", list(s), [T0 + i for i in range(len(s))], list(v))])
    w.close(compact=False)
    got = read_series(d, "m")
    assert got is not None
    want = np.array([p[1] for p in points], dtype="<f8")
    assert got.values.view("<u8").tolist() == want.view("<u8").tolist()  # NaN payloads included
    assert got.steps.tolist() == [p[0] for p in points]
    assert w.points == len(points)


# -- readers skip damage and name it -------------------------------------------------


def test_a_torn_tail_is_named_and_earlier_blocks_survive(tmp_path: Path) -> None:
    w = SeriesWriter(tmp_path / "w.lbm")
    w.append([encode_block("loss", [0, 1], [1000, 2000], [0.5, 0.25])])
    w.append([encode_block("loss", [2, 3], [3000, 4000], [0.125, 0.0625])])
    w.close(compact=False)
    data = (tmp_path / "w.lbm").read_bytes()
    (tmp_path / "w.lbm").write_bytes(data[:-3])  # a writer killed mid-write
    got = read(tmp_path)
    assert got.series["loss"].values.tolist() == [0.5, 0.25]
    tail = len(data) // 2
    assert got.damage == [Damage(tmp_path / "w.lbm", tail, len(data) - 3 - tail, TORN, "loss", 2)]
    assert intact_length(tmp_path / "w.lbm") == tail  # what a backup keeps of a live file


def test_a_flipped_byte_mid_file_skips_that_block_names_it_and_reads_what_follows(tmp_path: Path) -> None:
    chunks = [block(key, i * 8, 8) for i in range(50) for key in ("loss", "acc")]  # 400 points each
    bad = 2 * 20  # the 21st block of "loss"
    at = sum(map(len, chunks[:bad]))
    data = bytearray(b"".join(chunks))
    data[at + len(chunks[bad]) - 5] ^= 0x10  # one bit of one value
    (tmp_path / "w.lbm").write_bytes(bytes(data))

    got = read(tmp_path)
    want = [s for i in range(50) if i != 20 for s in range(i * 8, i * 8 + 8)]
    assert got.series["loss"].steps.tolist() == want  # the 29 blocks after it are there too
    assert got.series["acc"].steps.tolist() == list(range(400))
    assert got.damage == [Damage(tmp_path / "w.lbm", at, len(chunks[bad]), DAMAGED, "loss", 8)]
    assert str(got.damage[0]).endswith(
        f"damaged, {len(chunks[bad])} bytes at offset {at:,} (8 points of 'loss')"
    )
    assert count_points(tmp_path) == ({"loss": 392, "acc": 400}, got.damage)
    assert intact_length(tmp_path / "w.lbm") == len(data)  # damage is not a tail to trim


def test_garbage_between_blocks_is_skipped_and_its_size_named(tmp_path: Path) -> None:
    a, b = block("x", 0, 30), block("x", 30, 30)
    (tmp_path / "w.lbm").write_bytes(a + b"\x00garbage" * 64 + b)
    got = read(tmp_path)
    assert got.series["x"].steps.tolist() == list(range(60))
    assert got.damage == [Damage(tmp_path / "w.lbm", len(a), 512, DAMAGED, None, None)]  # no header: unknown


def test_a_corrupted_point_count_is_named_not_trusted(tmp_path: Path) -> None:
    a = bytearray(block("x", 0, 100))
    struct.pack_into("<I", a, 4, 99)  # n is outside the checksum; the columns still hold 100
    (tmp_path / "w.lbm").write_bytes(bytes(a) + block("x", 100, 100))
    got = read(tmp_path)
    assert got.series["x"].steps.tolist() == list(range(100, 200))
    assert got.damage == [Damage(tmp_path / "w.lbm", 0, len(a), DAMAGED, "x", None)]
    assert compact_file(tmp_path / "w.lbm").status == KEPT_DAMAGED


def test_reading_one_metric_passes_over_the_others_and_still_names_a_torn_tail(tmp_path: Path) -> None:
    chunks = [c for i in range(6) for c in (block("big", i * 40_000, 40_000), block("lr", i, 1))]
    data = b"".join(chunks[:-1])  # the file ends inside the last block of "big" (~330 KB each)
    (tmp_path / "w.lbm").write_bytes(data[:-1000])
    got = read(tmp_path, "lr")
    assert list(got.series) == ["lr"] and got.series["lr"].steps.tolist() == [0, 1, 2, 3, 4]
    assert [(d.kind, d.key, d.points) for d in got.damage] == [(TORN, "big", 40_000)]


def test_two_writers_are_merged_in_time_order(tmp_path: Path) -> None:
    SeriesWriter(tmp_path / "a.lbm").append([encode_block("m", [0, 2], [1000, 3000], [0.0, 2.0])])
    SeriesWriter(tmp_path / "b.lbm").append([encode_block("m", [1], [2000], [1.0])])
    got = read_series(tmp_path, "m")
    assert got is not None and got.values.tolist() == [0.0, 1.0, 2.0]


def test_header_layout_is_stable() -> None:
    b = encode_block("k", [5], [7], [1.5])
    magic, n, klen, flags = struct.unpack_from("<4sIHH", b)
    assert (magic, n, klen, flags) == (b"LBM1", 1, 1, 0)


# -- writes never tear ---------------------------------------------------------------

_FULL_DISK = """
    import errno, json, random, sys
    from pathlib import Path
    from labbook.formats.series import encode_block
    from labbook.store.series.read import read
    from labbook.store.series.write import SeriesWriter
    d = Path(sys.argv[1])
    (d / "m").mkdir()
    w = SeriesWriter(d / "m" / "w.lbm")
    rnd = random.Random(0)
    def block(i):  # ~8.5 KB: a write that spans pages, so a full disk cuts it short
        s = list(range(i * 1000, (i + 1) * 1000))
        return encode_block("x", s, [1_700_000_000_000 + k for k in s], [rnd.random() for _ in s])
    (d / "filler").write_bytes(bytes(150 * 1024))  # of the 256 KB filesystem
    i, pending = 0, block(0)
    while True:
        size = w.path.stat().st_size
        try:
            w.append([pending])
        except OSError as err:
            failed = err.errno
            break
        i, pending = i + 1, block(i + 1)
    after = read(d / "m")
    state = {"failed": failed, "appended": i, "size_before": size, "size_after": w.path.stat().st_size,
             "points": w.points, "read": len(after.series["x"].values), "damage": len(after.damage)}
    (d / "filler").unlink()  # space comes back: the caller retries its buffered points
    w.append([pending])
    w.close(compact=False)
    again = read(d / "m")
    state.update(points_retried=w.points, read_retried=again.series["x"].steps.tolist() == list(range((i + 1) * 1000)),
                 damage_retried=len(again.damage), files=sorted(p.name for p in (d / "m").iterdir()))
    print(json.dumps(state))
"""


@pytest.mark.usefixtures("namespaces")
def test_a_full_disk_leaves_the_file_whole_and_the_retry_lands(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(_FULL_DISK))
    shell = f'mount -t tmpfs -o size=256k tmpfs "$1" && exec "{sys.executable}" "{script}" "$1"'
    state = run_json(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", shell, "sh", str(mnt)])
    assert state["failed"] == errno.ENOSPC and int(state["appended"]) >= 5  # type: ignore[call-overload]
    assert state["size_after"] == state["size_before"]  # the failed append left nothing behind
    assert state["read"] == state["points"] == 1000 * state["appended"]  # type: ignore[operator]
    assert state["damage"] == 0 == state["damage_retried"]
    assert state["read_retried"] is True and state["points_retried"] == 1000 * (state["appended"] + 1)  # type: ignore[operator]
    assert state["files"] == ["w.lbm"]


_FILE_SIZE_LIMIT = """
    import json, resource, signal, sys
    from pathlib import Path
    from labbook.formats.series import encode_block
    from labbook.store.series.read import read
    from labbook.store.series.write import SeriesWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
    d = Path(sys.argv[1])
    w = SeriesWriter(d / "w.lbm")
    w.append([encode_block("x", range(1000), range(1000), [k / 7 for k in range(1000)])])
    size = w.path.stat().st_size
    second = encode_block("x", range(1000, 2000), range(1000, 2000), [k / 7 for k in range(1000)])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + len(second) // 2, hard))  # half of it fits
    try:
        w.append([second])
        failed = None
    except OSError as err:
        failed = err.errno
    state = {"failed": failed, "path": w.path.name, "size_before": size, "size_after": (d / "w.lbm").stat().st_size}
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    w.append([second])
    w.close(compact=False)
    got = read(d)
    state.update(steps=got.series["x"].steps.tolist() == list(range(2000)), points=w.points, path_after=w.path.name,
                 damage=[[x.path.name, x.kind] for x in got.damage], files=sorted(p.name for p in d.glob("*.lbm")))
    print(json.dumps(state))
"""


def test_a_short_write_is_cut_back_so_the_file_is_as_before(tmp_path: Path) -> None:
    state = run_python(_FILE_SIZE_LIMIT, str(tmp_path))
    assert state["failed"] == errno.EFBIG
    assert state["size_after"] == state["size_before"]  # half a block was written, then cut back off
    assert state["steps"] is True and state["points"] == 2000
    assert state["damage"] == [] and state["files"] == ["w.lbm"]


def _append_only(path: Path, on: bool) -> bool:
    flag = "+a" if on else "-a"
    return (
        shutil.which("chattr") is not None
        and subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    )


def test_a_file_that_cannot_be_cut_back_is_left_for_a_fresh_one(tmp_path: Path) -> None:
    SeriesWriter(tmp_path / "w.lbm").close(compact=False)
    if not _append_only(tmp_path / "w.lbm", True):  # ftruncate fails with EPERM on an append-only file
        pytest.fail("this test needs chattr +a (root, on a filesystem with file attributes such as ext4)")
    try:
        state = run_python(_FILE_SIZE_LIMIT, str(tmp_path))
    finally:
        _append_only(tmp_path / "w.lbm", False)
    assert state["failed"] == errno.EFBIG
    assert state["path"] == "w.1.lbm"  # half a block stays in w.lbm, so nothing more goes there
    assert state["steps"] is True and state["points"] == 2000  # the retry landed in the fresh file
    assert state["files"] == ["w.1.lbm", "w.lbm"]
    assert state["damage"] == [["w.lbm", TORN]]


def test_a_writer_never_appends_after_a_torn_tail(tmp_path: Path) -> None:
    whole = block("x", 0, 50)
    (tmp_path / "w.lbm").write_bytes(whole + block("x", 50, 50)[:-9])  # an earlier writer was killed
    w = SeriesWriter(tmp_path / "w.lbm")
    w.append([block("x", 100, 50)])
    w.close(compact=False)
    got = read(tmp_path)
    assert got.series["x"].steps.tolist() == [*range(50), *range(100, 150)]
    assert [(x.path.name, x.kind) for x in got.damage] == [("w.lbm", TORN)]
    assert w.path.name == "w.1.lbm"


# -- compaction never discards ------------------------------------------------------

small_blocks = st.lists(
    st.tuples(st.sampled_from(["a", "b", "loss/train"]), st.integers(0, 70), st.booleans()),
    min_size=1,
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(small_blocks)
def test_compaction_keeps_every_point_bit_for_bit(
    tmp_path_factory: pytest.TempPathFactory, shape: list[tuple[str, int, bool]]
) -> None:
    d = tmp_path_factory.mktemp("c")
    chunks, start = [], 0
    for key, n, special in shape:
        s = list(range(start, start + n))
        values = [math.nan if special and i % 3 == 0 else -math.inf if special else i / 7 for i in s]
        chunks.append(encode_block(key, s, [T0 + 3 * i for i in s], values))
        start += n
    (d / "w.lbm").write_bytes(b"".join(chunks))
    before = as_bits(read(d))
    with pytest.MonkeyPatch.context() as mp:  # small limits, so that a few blocks meet every case
        mp.setattr("labbook.store.series.compact.LARGE", 40)  # copied verbatim
        mp.setattr("labbook.store.series.compact.CHUNK", 100)  # runs are cut
        mp.setattr("labbook.store.series.compact._HELD", 2000)  # merged blocks spill to a temp file
        mp.setattr("labbook.store.series.compact._MIN_SAVED", 0)
        result = compact_file(d / "w.lbm")
    assert result.status == COMPACTED and result.warning is None
    assert as_bits(read(d)) == before
    out = (d / "w.lbm").read_bytes()
    assert all(c in out for c, (_, n, _) in zip(chunks, shape, strict=True) if n >= 40)  # not re-encoded
    keys = [k for k, _ in blocks_of(d / "w.lbm")]
    assert keys == sorted(keys, key=keys.index)  # grouped by key
    assert result.blocks_after == len(keys) and result.blocks_before == len(chunks)
    assert not list(d.glob("*.compacting"))


def test_compaction_merges_small_blocks_into_few(tmp_path: Path) -> None:
    w = SeriesWriter(tmp_path / "w.lbm")
    rng = np.random.default_rng(0)
    values = rng.normal(size=5000).tolist()
    values[17], values[99] = math.nan, -math.inf
    for i in range(0, 5000, 100):
        w.append(
            [
                encode_block(
                    "a", list(range(i, i + 100)), [i * 10 + k for k in range(100)], values[i : i + 100]
                ),
                encode_block("b", [i], [i * 10], [float(i)]),
            ]
        )
    before = as_bits(read(tmp_path))
    result = w.close()
    assert (result.status, result.blocks_before, result.blocks_after) == (COMPACTED, 100, 2)
    assert blocks_of(tmp_path / "w.lbm") == [("a", 5000), ("b", 50)]
    assert as_bits(read(tmp_path)) == before


def _one_block_per_key(path: Path) -> bool:
    keys = [k for k, _ in blocks_of(path)]
    return len(keys) == len(set(keys))


def test_a_long_run_rolls_into_segments_the_background_compacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compactor, "WORTH_BLOCKS", 8)
    monkeypatch.setattr(
        "labbook.store.series.write.JOIN_S", 120.0
    )  # this test is about what gets done, not how fast
    d = tmp_path / "metrics"
    w = SeriesWriter(d / "w.lbm", background=True, segment_bytes=20_000)
    for i in range(0, 3000, 5):
        w.append([block(k, i, 5) for k in "abc"])
    before = as_bits(read(d))
    files = series_files(d)
    assert len(files) > 4  # one writer, several segments, read back as one series
    wait_for(lambda: _one_block_per_key(files[0]), label="the helper to compact the first segment")
    assert as_bits(read(d)) == before
    w.close()
    assert as_bits(read(d)) == before
    assert all(_one_block_per_key(f) for f in series_files(d))
    assert not list(d.glob("*.compacting"))


def test_a_killed_compactor_leaves_its_segment_whole(tmp_path: Path) -> None:
    d = tmp_path / "metrics"
    w = SeriesWriter(d / "w.lbm")
    for i in range(0, 20_000, 5):
        w.append([block(k, i, 5) for k in "abcdefgh"])
    w.close(compact=False)
    before = as_bits(read(d))
    helper = subprocess.Popen([sys.executable, "-m", "labbook.store.series.compactor", str(d / "w.lbm")])
    wait_for(
        lambda: (d / "w.compacting").exists() or helper.poll() is not None,
        label="the helper to start writing",
    )
    helper.kill()
    helper.wait()
    assert as_bits(read(d)) == before  # killed mid-copy or done: every point either way
    assert compact_file(d / "w.lbm").status in (COMPACTED, "unchanged")
    assert as_bits(read(d)) == before
    assert not (d / "w.compacting").exists()


def test_compaction_keeps_the_files_modification_time(tmp_path: Path) -> None:
    """Readers order a run's files by it, so compacting an old segment must not make it the newest."""
    w = SeriesWriter(tmp_path / "w.lbm")
    for i in range(0, 500, 5):
        w.append([block("a", i, 5)])
    w.close(compact=False)
    os.utime(tmp_path / "w.lbm", ns=(T0 * 10**6, T0 * 10**6))
    assert compact_file(tmp_path / "w.lbm").status == COMPACTED
    assert (tmp_path / "w.lbm").stat().st_mtime_ns == T0 * 10**6


def test_a_damaged_or_torn_file_is_never_compacted(tmp_path: Path) -> None:
    data = b"".join(block("x", i * 10, 10) for i in range(40))
    for name, broken, kind in (
        ("flipped.lbm", data[:200] + bytes([data[200] ^ 1]) + data[201:], DAMAGED),
        ("torn.lbm", data[:-20], TORN),
    ):
        (tmp_path / name).write_bytes(broken)
        result = compact_file(tmp_path / name)
        assert result.status == KEPT_DAMAGED and [x.kind for x in result.damage] == [kind]
        assert (tmp_path / name).read_bytes() == broken  # byte for byte
        assert result.warning is not None and "uncompacted" in result.warning and name in result.warning


_COMPACT_OVER_LIMIT = """
    import json, resource, signal, sys
    from pathlib import Path
    from labbook.store.series.compact import compact_file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    path = Path(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    result = compact_file(path)  # the temporary copy cannot be written whole: as on a full disk
    print(json.dumps({"status": result.status, "error": result.error, "warning": result.warning}))
"""


def test_compaction_that_cannot_write_keeps_the_original(tmp_path: Path) -> None:
    data = b"".join(block(k, i * 10, 10) for i in range(300) for k in "ab")
    (tmp_path / "w.lbm").write_bytes(data)
    state = run_python(_COMPACT_OVER_LIMIT, str(tmp_path / "w.lbm"))
    assert state["status"] == FAILED and "kept as it was" in str(state["warning"])
    assert (tmp_path / "w.lbm").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.lbm"]  # the partial copy is gone


_NO_NUMPY = """
    import sys
    sys.modules["numpy"] = None  # any import of numpy fails
    from pathlib import Path
    from labbook.store.series.compact import compact_file
    print('"' + compact_file(Path(sys.argv[1])).status + '"')
"""


def test_small_files_are_compacted_without_numpy_to_the_same_bytes(tmp_path: Path) -> None:
    chunks = [
        block(k, i * n, n, seed=n) for i, n in enumerate([1, 5, 17, 40, 3, 0, 200, 16, 15] * 6) for k in "ab"
    ]
    for name in ("np.lbm", "py.lbm"):
        (tmp_path / name).write_bytes(b"".join(chunks))
    assert compact_file(tmp_path / "np.lbm").status == COMPACTED  # this process has numpy
    assert run_python(_NO_NUMPY, str(tmp_path / "py.lbm")) == COMPACTED  # type: ignore[comparison-overlap]
    assert (tmp_path / "py.lbm").read_bytes() == (tmp_path / "np.lbm").read_bytes()


_COMPACT_MEMORY = """
    import json, sys
    from pathlib import Path
    def peak_mb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
    from labbook.store.series.compact import compact_file
    base = peak_mb()
    result = compact_file(Path(sys.argv[1]))
    print(json.dumps({"growth_mb": peak_mb() - base, "status": result.status, "after": result.blocks_after}))
"""
_BUILD = """
    import json, sys
    import numpy as np
    from pathlib import Path
    from labbook.formats.series import encode_block
    from labbook.store.series.write import SeriesWriter
    w = SeriesWriter(Path(sys.argv[1]))
    rng = np.random.default_rng(0)
    for i in range(0, 1_000_000, 1000):  # two metrics, 1,000 blocks each: 2M points
        s = np.arange(i, i + 1000)
        w.append([encode_block(k, s, 1_700_000_000_000 + 7 * s, rng.normal(size=1000)) for k in ("a", "b")])
    w.close(compact=False)
    print(json.dumps(w.points))
"""


def test_compaction_memory_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "w.lbm"
    assert run_python(_BUILD, str(path)) == 2_000_000  # type: ignore[comparison-overlap]
    state = run_python(_COMPACT_MEMORY, str(path))
    assert state["status"] == COMPACTED and int(state["after"]) <= 12  # type: ignore[call-overload]  # of 2,000
    assert float(state["growth_mb"]) < 64  # type: ignore[arg-type]  # reading it all at once: ~140 MB
    got = read(tmp_path)
    rng = np.random.default_rng(0)
    want = np.stack([rng.normal(size=(2, 1000)) for _ in range(1000)])  # as the builder drew them
    for k, key in enumerate("ab"):
        assert np.array_equal(got.series[key].values, want[:, k].ravel())
        assert got.series[key].steps.tolist() == list(range(1_000_000))
    assert got.damage == []


_COUNT = """
    import json, sys
    sys.modules["numpy"] = None  # lab verify counts without numpy, and without decompressing
    from pathlib import Path
    from labbook.store.series.read import count_points
    counts, damage = count_points(Path(sys.argv[1]))
    print(json.dumps({"counts": counts, "damage": [[d.offset, d.kind, d.key, d.points] for d in damage]}))
"""


def test_counting_names_every_damaged_block_without_numpy(tmp_path: Path) -> None:
    chunks = [block(key, i * 20, n) for i in range(30) for key, n in (("loss", 20), ("lr", 1))]
    data = bytearray(b"".join(chunks))
    bad = sum(map(len, chunks[:10]))
    data[bad + 40] ^= 0x01  # in the 6th block of "loss"
    (tmp_path / "w.lbm").write_bytes(bytes(data[:-7]))  # and the last block of "lr" torn
    state = run_python(_COUNT, str(tmp_path))
    assert state["counts"] == {"loss": 580, "lr": 29}
    assert state["damage"] == [[bad, DAMAGED, "loss", 20], [len(data) - len(chunks[-1]), TORN, "lr", 1]]


def test_a_long_series_reads_back_exactly_into_arrays_the_caller_can_use(tmp_path: Path) -> None:
    """Past 2M points the reader allocates its own pages and decodes on threads."""
    n = series_format._THREADS_FROM + 12_345
    rng = np.random.default_rng(1)
    steps = np.arange(n, dtype=np.int64)
    times = T0 + 3 * steps
    values = rng.normal(size=n)
    values[[5, n - 1]] = [math.nan, math.inf]
    w = SeriesWriter(tmp_path / "w.lbm")
    for start in range(0, n, 250_000):
        end = min(n, start + 250_000)
        w.append([encode_block("loss", steps[start:end], times[start:end], values[start:end])])
    w.close()
    s = read_series(tmp_path, "loss")
    assert s is not None and len(s.values) == n
    assert np.array_equal(s.steps, steps) and np.array_equal(s.times, times / 1000.0)
    assert np.array_equal(s.values.view("<u8"), values.view("<u8"))  # NaN and inf bit for bit
    s.values[:3] = 0.0  # writeable, like any numpy array
    assert s.values[:3].sum() == 0.0
