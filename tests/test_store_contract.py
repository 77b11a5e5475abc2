"""The store contract: what every ``Store`` (protocols.py) must do, tested through its protocols only.

Each test runs against every implementation in ``STORES``; a new store adds one line there
and must pass the whole file. Nothing here reads SQL or a store's internals: expected values
are worked out in the test from the data it wrote, never taken from what the store returns.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from labbook.core import query as qt
from labbook.errors import BadInput
from labbook.records.artifacts import Artifact
from labbook.records.examples import ItemRow, NewSample, PileLink
from labbook.records.imports import NewImport
from labbook.records.journal import NewNote
from labbook.records.research import NewHypothesis, NewPrediction, Resolution
from labbook.records.runs import BatchSummary, NewRun, Owner
from labbook.store import protocols
from labbook.store.protocols import Store
from labbook.store.sqlite.store import SQLiteStore


class Impl(NamedTuple):
    """How to open a fresh store (in an empty directory, or the test's own database), and a backup of it."""

    fresh: Callable[[Path, pytest.FixtureRequest], Store]
    open_backup: Callable[[Path], Store]


def _postgres(tmp: Path, request: pytest.FixtureRequest) -> Store:
    from labbook.store.postgres.store import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_server").fresh_database())


STORES: dict[str, Impl] = {
    "sqlite": Impl(lambda tmp, _: SQLiteStore(tmp / "labbook.db"), SQLiteStore),
    "postgres": Impl(_postgres, SQLiteStore),  # a backup of the team's notebook is a SQLite notebook
}


@pytest.fixture(params=sorted(STORES))
def impl(request: pytest.FixtureRequest) -> Impl:
    return STORES[request.param]


@pytest.fixture
def store(impl: Impl, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    s = impl.fresh(tmp_path, request)
    yield s
    s.close()


# -- helpers -----------------------------------------------------------------------

OWNER = Owner("node-1", 4242, 1700.0, "boot-1")
_UIDS = itertools.count(1)
NAN = math.nan


def new_run(store: Store, name: str | None = "run", at: float = 1000.0, **kw: Any) -> int:
    """A run created as ``lab run`` creates one (running, owned by OWNER) unless ``kw`` says otherwise."""
    return store.runs.create_run(
        NewRun(
            uid=kw.pop("uid", f"{next(_UIDS):032x}"),
            name=name,
            created_at=at,
            note=kw.pop("note", None),
            command=kw.pop("command", ["python", "train.py"]),
            cwd=kw.pop("cwd", "/work"),
            source=kw.pop("source", "cli"),
            owner=kw.pop("owner", OWNER),
            **kw,
        )
    )


def batch(key: str, points: list[float], first_step: int = 0, lost: int = 0) -> BatchSummary:
    """What a writer flushes for ``points`` logged at consecutive steps from ``first_step``."""
    kept = [p for p in points if not math.isnan(p)]
    return BatchSummary(
        key,
        len(points),
        len(points) - len(kept),
        points[-1] if points else NAN,
        first_step + len(points) - 1 if points else None,
        min(kept) if kept else None,
        max(kept) if kept else None,
        float(sum(kept)),
        lost,
    )


def ids_of(
    store: Store, where: qt.Expr | None, order: tuple[qt.SortKey, ...] = (), limit: int | None = None
) -> list[int]:
    runs, _ = store.runs.query_runs(where, list(order), limit)
    return [r.id for r in runs]


def hypothesis(store: Store, text: str = "warmup helps", at: float = 10.0, **kw: Any) -> int:
    return store.research.create_hypothesis(
        NewHypothesis(
            kw.pop("uid", f"h{next(_UIDS)}"), text, kw.pop("problem", None), kw.pop("author", "ada"), at, **kw
        )
    )


def prediction(store: Store, hyp_id: int | None, text: str = "acc rises", **kw: Any) -> int:
    kw.setdefault("kind", "binary")
    return store.research.create_prediction(
        NewPrediction(kw.pop("uid", f"p{next(_UIDS)}"), hyp_id, text, **kw)
    )


def paper(title: str, **kw: Any) -> dict[str, Any]:
    """A new paper as the papers service hands it to ``save_papers``."""
    values: dict[str, Any] = dict.fromkeys(
        ("year", "venue", "doi", "arxiv", "url", "abstract", "citekey", "entry_type")
    )
    values.update(
        uid=f"paper{next(_UIDS)}",
        title=title,
        norm_title=" ".join(title.lower().split()),
        authors=[],
        source="bibtex",
        added_at=5.0,
    )
    values.update(kw)
    return values


def example_rows(data: dict[str, dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    """(id, correct, JSON) rows as the examples importer makes them."""
    out = []
    for ex_id, fields in data.items():
        correct = fields.get("correct")
        out.append((ex_id, None if correct is None else int(correct), json.dumps({"id": ex_id, **fields})))
    return out


def build_keys(rows: list[tuple[Any, ...]]) -> tuple[bytes, bytes]:
    """A stand-in for the service's id/outcome arrays: sorted ids and their outcomes, as bytes."""
    ordered = sorted(rows, key=lambda r: r[0])
    return "|".join(r[0] for r in ordered).encode(), bytes(2 if r[1] is None else r[1] for r in ordered)


def write(store: Store, run_id: int, split: str, data: dict[str, dict[str, Any]]) -> tuple[int, int]:
    fields = {"id"} | {k for row in data.values() for k in row}
    return store.failures.write_examples(run_id, split, example_rows(data), fields, build_keys)


def sample(store: Store, name: str, run_id: int, ex_ids: list[str], split: str = "eval") -> int:
    return store.failures.create_sample(
        NewSample(name, run_id, split, ex_ids, None, None, 0, len(ex_ids), len(ex_ids))
    )


# == the store as a whole ============================================================


def test_every_protocol_method_is_implemented(store: Store) -> None:
    """Each area object has every method of its protocol (a store that forgets one fails here, not in use)."""
    areas = {
        "runs": protocols.RunStore,
        "research": protocols.ResearchStore,
        "journal": protocols.JournalStore,
        "papers": protocols.PapersStore,
        "problems": protocols.ProblemsStore,
        "failures": protocols.FailuresStore,
    }
    missing = []
    for area, proto in areas.items():
        names = [n for n, v in vars(proto).items() if inspect.isfunction(v) and not n.startswith("_")]
        assert len(names) > 3
        missing += [f"{area}.{n}" for n in names if not callable(getattr(getattr(store, area), n, None))]
    assert missing == []
    for name in ("close", "backup", "integrity"):
        assert callable(getattr(store, name))


def test_fresh_store_is_writable_sound_and_empty(store: Store) -> None:
    """A new store is not read-only, passes its integrity check and holds nothing."""
    assert store.read_only is False
    assert store.integrity() == []
    assert store.runs.query_runs(None, [], None) == ([], 0)
    assert store.research.list_hypotheses() == []
    assert store.research.list_predictions() == []
    assert store.journal.notes() == []
    assert store.journal.timeline(None) == []
    assert store.papers.list_papers() == [] and store.papers.count_papers() == {}
    assert store.problems.list_problems() == [] and store.problems.list_ideas() == []
    assert store.problems.list_tasks() == []
    assert store.failures.list_samples() == [] and store.failures.pile_names() == []
    assert store.runs.fields().params == frozenset()


def test_a_run_is_found_by_its_exact_uid_even_one_of_digits(store: Store) -> None:
    """``run_id_of_uid`` matches whole uids only, trashed runs too, however the uid looks."""
    digits = new_run(store, "digits", uid="0" * 31 + "7")
    hexed = new_run(store, "hexed", uid="ab" * 16)
    store.runs.set_trashed([hexed], 5.0, 5.0)
    assert store.runs.run_id_of_uid("0" * 31 + "7") == digits
    assert store.runs.run_id_of_uid("ab" * 16) == hexed
    assert store.runs.run_id_of_uid("ab" * 8) is None  # a prefix is not a uid
    assert store.runs.run_id_of_uid("f" * 32) is None


def test_atomic_writes_all_or_none(store: Store) -> None:
    """Writes inside ``atomic`` are one: an error part way leaves none of them; without one, all stay."""
    with pytest.raises(BadInput), store.atomic():
        store.research.create_hypothesis(NewHypothesis("h-gone", "never kept", None, "me", 1.0))
        new_run(store, "also gone")
        raise BadInput("the third record was wrong")
    assert store.research.list_hypotheses() == [] and store.runs.query_runs(None, [], None)[0] == []
    with store.atomic():
        store.research.create_hypothesis(NewHypothesis("h-kept", "kept", None, "me", 1.0))
        with pytest.raises(BadInput), store.atomic():  # an inner one undone alone
            new_run(store, "inner")
            raise BadInput("inner")
        new_run(store, "kept")
    assert [h.uid for h in store.research.list_hypotheses()] == ["h-kept"]
    assert [r.name for r in store.runs.query_runs(None, [], None)[0]] == ["kept"]


def test_unknown_ids_read_as_none(store: Store) -> None:
    """Reading a record that does not exist gives None, never an error."""
    assert store.runs.get_run(77) is None
    assert store.runs.blob("sha256:" + "0" * 64) is None
    assert store.research.get_hypothesis(77) is None
    assert store.research.get_prediction(77) is None
    assert store.research.first_result_at(77) is None
    assert store.papers.get_paper(77) is None
    assert store.papers.paper_setting("weekly_target") is None
    assert store.problems.get_problem(77) is None
    assert store.problems.problem_of(77) is None
    assert store.problems.get_idea(77) is None
    assert store.problems.get_task(77) is None
    assert store.failures.get_sample("nope") is None
    assert store.failures.sample_by_id(77) is None


def test_backup_reads_the_same_runs_and_research(store: Store, impl: Impl, tmp_path: Path) -> None:
    """``backup(path)`` writes a store that, opened, reads the same runs and hypotheses."""
    h = hypothesis(store, "bigger batches help")
    a = new_run(store, "a", params={"lr": 0.1, "big": 10**30}, tags=("x",), hyp_id=h)
    store.runs.merge_metrics(a, [batch("loss", [3.0, 2.0, 1.0])])
    store.runs.end_run(a, "finished", 1100.0, 0)
    new_run(store, "b", at=1001.0)
    before = store.runs.query_runs(None, [], None)

    target = tmp_path / "copy" / "labbook.db"
    target.parent.mkdir()
    store.backup(target)
    copy = impl.open_backup(target)
    try:
        assert copy.runs.query_runs(None, [], None) == before
        assert copy.runs.get_run(a) == store.runs.get_run(a)
        assert [x.text for x in copy.research.list_hypotheses()] == ["bigger batches help"]
        assert copy.integrity() == []
    finally:
        copy.close()


# == runs =============================================================================


def test_create_run_round_trip(store: Store) -> None:
    """Every field of a new run reads back; a running run starts (and beats) at its creation time; ids increase."""
    h = hypothesis(store)
    run_id = new_run(
        store,
        "baseline",
        at=1234.5,
        uid="ab" * 16,
        note="first try",
        command=["python", "train.py", "--lr", "0.1"],
        cwd="/proj",
        source="sdk",
        tags=("zeta", "alpha", "zeta"),
        hyp_id=h,
        sweep_id="sw1",
    )
    r = store.runs.get_run(run_id)
    assert r is not None
    assert (r.id, r.uid, r.name, r.note, r.source, r.cwd) == (
        run_id,
        "ab" * 16,
        "baseline",
        "first try",
        "sdk",
        "/proj",
    )
    assert r.command == ["python", "train.py", "--lr", "0.1"]
    assert (r.status, r.created_at, r.started_at, r.heartbeat_at) == ("running", 1234.5, 1234.5, 1234.5)
    assert (r.ended_at, r.exit_code, r.job_id, r.job_state) == (None, None, None, None)
    assert (r.host, r.pid) == ("node-1", 4242)
    assert r.tags == ("alpha", "zeta")
    assert (r.hyp_id, r.sweep_id) == (h, "sw1")
    assert (r.params, r.metrics, r.summary, r.capture) == ({}, {}, {}, {})

    ids = [new_run(store, f"r{i}", at=1000.0 + i) for i in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [store.runs.get_run(i).name for i in ids] == ["r0", "r1", "r2", "r3"]


def test_params_keep_nested_values_and_big_ints_faithfully(store: Store) -> None:
    """Params written with the run read back exactly: ints beyond 64 bits, nesting, text, NaN, inf."""
    params = {
        "huge": 10**400,
        "wide": -(2**70) - 3,
        "i64": 2**63 - 1,
        "nested": {"layers": [64, 128, {"act": "gelu", "p": 0.1}], "empty": {}, "none": None},
        "flag": False,
        "text": "naïve ✓",
        "escape": "\udc80bytes",
        "inf": math.inf,
        "nan": NAN,
    }
    r = store.runs.get_run(new_run(store, params=params))
    got = dict(r.params)
    assert math.isnan(got.pop("nan"))
    expected = {k: v for k, v in params.items() if k != "nan"}
    assert got == expected
    assert type(got["huge"]) is int and got["huge"] == 10**400
    assert got["wide"] == -(2**70) - 3 and got["i64"] == 2**63 - 1


def test_create_run_refuses_unstorable_params_and_writes_nothing(store: Store) -> None:
    """The row, its tags and its params are one transaction: a bad param leaves no run behind."""
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(BadInput, match="'bad'"):
        new_run(store, "doomed", uid="cd" * 16, tags=("t",), params={"good": 1, "bad": loop})
    assert store.runs.query_runs(None, [], None) == ([], 0)
    assert store.runs.find_run_ids("doomed") == []
    assert store.runs.fields().params == frozenset()


def test_set_params_upserts_and_checks_every_value_first(store: Store) -> None:
    """set_params overwrites by key and adds new keys; one bad value writes none of them."""
    run_id = new_run(store, params={"lr": 0.1, "opt": "adam"})
    store.runs.set_params(run_id, {"lr": 0.2, "depth": 12})
    assert store.runs.get_run(run_id).params == {"lr": 0.2, "opt": "adam", "depth": 12}
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(BadInput):
        store.runs.set_params(run_id, {"lr": 0.5, "bad": loop})
    assert store.runs.get_run(run_id).params == {"lr": 0.2, "opt": "adam", "depth": 12}


def test_summary_tags_and_fill_in(store: Store) -> None:
    """set_summary upserts; add_tags is idempotent; fill_in only fills a missing name or note."""
    run_id = new_run(store, None, note=None)
    store.runs.set_summary(run_id, {"best": 0.9, "big": 2**80, "verdict": "good"})
    store.runs.set_summary(run_id, {"best": 0.95})
    assert store.runs.get_run(run_id).summary == {"best": 0.95, "big": 2**80, "verdict": "good"}

    store.runs.add_tags(run_id, ("b", "a"))
    store.runs.add_tags(run_id, ("a", "c"))
    assert store.runs.get_run(run_id).tags == ("a", "b", "c")

    store.runs.fill_in(run_id, "named-later", "noted later")
    store.runs.fill_in(run_id, "renamed", "renoted")
    r = store.runs.get_run(run_id)
    assert (r.name, r.note) == ("named-later", "noted later")
    other = new_run(store, "kept", note=None)
    store.runs.fill_in(other, None, "only the note")
    assert (store.runs.get_run(other).name, store.runs.get_run(other).note) == ("kept", "only the note")


def test_capture_merges_and_keeps_bulky_fields_as_shared_blobs(store: Store) -> None:
    """Capture keys merge; ``packages``/``patch`` text is kept once by content and read back by blob."""
    a, b = new_run(store), new_run(store)
    freeze = "numpy==2.0.0\nclick==8.1.7\n"
    store.runs.set_capture(a, {"git": {"commit": "abc"}, "packages": freeze})
    store.runs.set_capture(a, {"env": {"LANG": "C"}, "patch": "diff --git a b"})
    store.runs.set_capture(b, {"packages": freeze})
    cap_a, cap_b = store.runs.get_run(a).capture, store.runs.get_run(b).capture
    assert cap_a["git"] == {"commit": "abc"} and cap_a["env"] == {"LANG": "C"}
    assert set(cap_a) == {"git", "env", "packages", "patch"}
    assert store.runs.blob(cap_a["packages"]["blob"]) == freeze
    assert store.runs.blob(cap_a["patch"]["blob"]) == "diff --git a b"
    assert cap_b["packages"] == cap_a["packages"]  # same text, same blob
    assert cap_a["patch"]["blob"] != cap_a["packages"]["blob"]


def test_merge_metrics_across_batches(store: Store) -> None:
    """Batches add up: count, nan_count, sum (so mean), min/max ignoring NaN, last point and step, lost.

    A metric of only NaN points has NaN last, min, max and mean; infinities survive.
    """
    run_id = new_run(store)
    first, second, third = [0.5, NAN, 2.0], [0.25, 1.5], [NAN]
    store.runs.merge_metrics(run_id, [batch("loss", first), batch("acc", [0.1])])
    store.runs.merge_metrics(run_id, [batch("loss", second, first_step=3, lost=2)])
    store.runs.merge_metrics(run_id, [batch("loss", third, first_step=5)])
    m = store.runs.get_run(run_id).metrics["loss"]
    points = first + second + third
    kept = [p for p in points if not math.isnan(p)]
    assert (m.count, m.nan_count, m.last_step, m.lost) == (6, 2, 5, 2)
    assert (m.min, m.max) == (min(kept), max(kept)) == (0.25, 2.0)
    assert m.sum == pytest.approx(sum(kept)) and m.mean == pytest.approx(sum(kept) / 4)
    assert math.isnan(m.last)  # the last point was NaN, and it says so
    assert set(store.runs.get_run(run_id).metrics) == {"loss", "acc"}

    store.runs.merge_metrics(run_id, [batch("loss", [0.75], first_step=6)])
    store.runs.merge_metrics(run_id, [BatchSummary("loss", 0, 0, NAN, None, None, None, 0.0, lost=5)])
    m = store.runs.get_run(run_id).metrics["loss"]
    assert (m.last, m.last_step, m.count, m.lost) == (0.75, 6, 7, 7)  # only-lost batch keeps last

    run_id = new_run(store)
    store.runs.merge_metrics(run_id, [batch("x", [NAN, NAN]), batch("y", [math.inf, -math.inf, 1.0])])
    x, y = store.runs.get_run(run_id).metrics["x"], store.runs.get_run(run_id).metrics["y"]
    assert (x.count, x.nan_count) == (2, 2)
    assert all(math.isnan(v) for v in (x.last, x.min, x.max, x.mean))
    assert (y.min, y.max, y.last) == (-math.inf, math.inf, 1.0)


def test_replace_metrics_sets_summaries_outright_keeping_lost_and_first_result(store: Store) -> None:
    """replace_metrics overwrites a summary (rebuilt from files), keeps ``lost`` and when results began."""
    h = hypothesis(store)
    run_id = new_run(store, hyp_id=h)
    store.runs.merge_metrics(run_id, [batch("loss", [9.0, 8.0], lost=4)])
    began = store.research.first_result_at(h)
    store.runs.replace_metrics(run_id, [batch("loss", [5.0, 4.0, 3.0]), batch("acc", [0.5])])
    m = store.runs.get_run(run_id).metrics
    assert (m["loss"].count, m["loss"].min, m["loss"].max, m["loss"].last, m["loss"].last_step) == (
        3,
        3.0,
        5.0,
        3.0,
        2,
    )
    assert m["loss"].sum == 12.0 and m["loss"].lost == 4
    assert (m["acc"].count, m["acc"].last, m["acc"].lost) == (1, 0.5, 0)
    assert store.research.first_result_at(h) == began


def test_heartbeat_moves_only_live_runs_and_revives_a_crashed_one(store: Store) -> None:
    """A heartbeat updates a running run, brings a crashed one back, and never touches a settled run."""
    live, crashed, done = new_run(store), new_run(store), new_run(store)
    store.runs.heartbeat(live, 1500.0)
    assert store.runs.get_run(live).heartbeat_at == 1500.0
    store.runs.mark_crashed([crashed], 2000.0)
    assert store.runs.get_run(crashed).status == "crashed"
    store.runs.heartbeat(crashed, 2100.0)
    r = store.runs.get_run(crashed)
    assert (r.status, r.ended_at, r.heartbeat_at) == ("running", None, 2100.0)
    store.runs.end_run(done, "finished", 1200.0, 0)
    store.runs.heartbeat(done, 3000.0)
    r = store.runs.get_run(done)
    assert (r.status, r.heartbeat_at, r.ended_at) == ("finished", 1200.0, 1200.0)


def test_end_run_settles_once(store: Store) -> None:
    """The first end_run settles status, end time and exit code; a second returns False and changes nothing.

    A run taken for crashed may still end; a pending run may be cancelled before it starts.
    """
    run_id = new_run(store, at=1000.0)
    assert store.runs.end_run(run_id, "failed", 1100.0, 3) is True
    assert store.runs.end_run(run_id, "finished", 1200.0, 0) is False
    r = store.runs.get_run(run_id)
    assert (r.status, r.ended_at, r.exit_code, r.duration) == ("failed", 1100.0, 3, 100.0)

    crashed, pending = new_run(store), new_run(store, pending=True)
    store.runs.mark_crashed([crashed], 5000.0)
    assert store.runs.end_run(crashed, "finished", 1300.0, 0) is True
    assert store.runs.get_run(crashed).status == "finished"
    assert store.runs.end_run(pending, "cancelled", 1400.0, None) is True
    r = store.runs.get_run(pending)
    assert (r.status, r.started_at, r.ended_at) == ("cancelled", None, 1400.0)


def test_pending_run_is_adopted_once(store: Store) -> None:
    """A pending run has not started; adopt_run starts it under its new owner, and only once."""
    run_id = new_run(store, pending=True, at=1000.0, cwd=None)
    r = store.runs.get_run(run_id)
    assert (r.status, r.started_at) == ("pending", None)
    assert store.runs.live_runs() == []
    node = Owner("gpu-7", 99, 1800.0, "boot-7")
    assert store.runs.adopt_run(run_id, node, 1050.0, "/scratch/job") is True
    assert store.runs.adopt_run(run_id, Owner("other", 1, 1.0, "b"), 1060.0, "/elsewhere") is False
    r = store.runs.get_run(run_id)
    assert (r.status, r.started_at, r.heartbeat_at, r.cwd, r.host, r.pid) == (
        "running", 1050.0, 1050.0, "/scratch/job", "gpu-7", 99
    )  # fmt: skip
    assert [(x.id, x.owner) for x in store.runs.live_runs()] == [(run_id, node)]
    running = new_run(store)
    assert store.runs.adopt_run(running, node, 1.0, "/x") is False


def test_mark_crashed_and_live_runs(store: Store) -> None:
    """live_runs lists running runs with their owner; mark_crashed ends them at their last heartbeat."""
    a, b = new_run(store, at=1000.0), new_run(store, at=1001.0)
    pending, done = new_run(store, pending=True), new_run(store)
    store.runs.end_run(done, "finished", 1002.0, 0)
    store.runs.heartbeat(a, 1010.0)
    live = sorted((x.id, x.owner, x.heartbeat_at) for x in store.runs.live_runs())
    assert live == [(a, OWNER, 1010.0), (b, OWNER, 1001.0)]
    store.runs.mark_crashed([a, pending, done], 9999.0)
    ra = store.runs.get_run(a)
    assert (ra.status, ra.ended_at) == ("crashed", 1010.0)
    assert store.runs.get_run(pending).status == "pending"
    assert store.runs.get_run(done).status == "finished"
    assert [x.id for x in store.runs.live_runs()] == [b]
    store.runs.mark_crashed([], 1.0)  # nothing to do is fine


def test_cluster_jobs(store: Store) -> None:
    """set_job keeps a value it is not given; unfinished_jobs lists pending/running runs with a job."""
    queued, started, plain, done = (
        new_run(store, pending=True),
        new_run(store),
        new_run(store),
        new_run(store),
    )
    store.runs.set_job(queued, "101", "PENDING")
    store.runs.set_job(started, "102_3", None)
    store.runs.set_job(started, None, "RUNNING")
    store.runs.set_job(done, "103", "COMPLETED")
    store.runs.end_run(done, "finished", 1.0, 0)
    r = store.runs.get_run(started)
    assert (r.job_id, r.job_state) == ("102_3", "RUNNING")
    assert sorted(store.runs.unfinished_jobs()) == [(queued, "101", "pending"), (started, "102_3", "running")]
    assert store.runs.get_run(plain).job_id is None


def test_delete_pending_deletes_only_pending_runs(store: Store) -> None:
    """delete_pending forgets queued runs (with their tags and params) and leaves any other run alone."""
    p1 = new_run(store, "q1", pending=True, tags=("t",), params={"lr": 1})
    p2 = new_run(store, "q2", pending=True)
    live = new_run(store, "live")
    store.runs.delete_pending([p1, live, 999])
    assert store.runs.get_run(p1) is None
    assert store.runs.get_run(live).status == "running"
    assert sorted(ids_of(store, None)) == [p2, live]
    assert store.runs.find_run_ids("q1") == []


def test_tags_edited_after_the_fact_are_journaled_once_each(store: Store) -> None:
    """edit_tags reports only real changes, and each change is one run event."""
    r = new_run(store, "base", tags=("old",))
    assert store.runs.edit_tags(r, ["new", "new", "old"], ["old", "never"], 5.0) == (["new"], ["old"])
    assert store.runs.get_run(r).tags == ("new",)
    assert store.runs.edit_tags(r, ["new"], [], 6.0) == ([], [])
    events = store.runs.run_events(None)
    assert [(e.run_id, e.kind, e.detail["tag"]) for e in events] == [(r, "tag", "new"), (r, "untag", "old")]
    assert store.runs.run_events(5.5) == []


def test_rename_returns_the_old_name_and_is_found_by_the_new(store: Store) -> None:
    r = new_run(store, None)
    assert store.runs.rename_run(r, "wide", 1.0) is None
    assert store.runs.rename_run(r, "wider", 2.0) == "wide"
    assert store.runs.rename_run(r, "wider", 3.0) == "wider"  # the same name: no event
    assert store.runs.find_run_ids("wider") == [r] and store.runs.find_run_ids("wide") == []
    assert [(e.kind, e.detail["old"], e.detail["new"]) for e in store.runs.run_events(None)] == [
        ("rename", None, "wide"),
        ("rename", "wide", "wider"),
    ]
    assert [x.ref for x in store.journal.search("wider", 5)] == [r]


def test_trashed_runs_are_hidden_from_reads_until_restored(store: Store) -> None:
    """Trashed runs leave query_runs, find_run_ids, hypotheses' runs and search; last_trashed is one batch."""
    h = hypothesis(store, "depth helps")
    a, b, c = new_run(store, "alpha", hyp_id=h), new_run(store, "beta", hyp_id=h), new_run(store, "gamma")
    assert store.runs.set_trashed([a], 10.0, 10.0) == [a]
    assert store.runs.set_trashed([b, c, a], 20.0, 20.0) == [b, c]  # a is in already: no change
    assert ids_of(store, None) == []
    assert store.runs.find_run_ids("beta") == [] and store.runs.find_run_ids("beta", in_trash=True) == [b]
    assert store.runs.find_run_ids(str(a)) == [] and store.runs.find_run_ids(str(a), in_trash=True) == [a]
    assert store.research.get_hypothesis(h).run_ids == ()
    assert store.journal.search("gamma", 5) == []
    assert [r.id for r in store.runs.trashed_runs()] == [b, c, a]
    assert store.runs.last_trashed() == [b, c]
    assert store.runs.get_run(b).trashed_at == 20.0  # by id, for the trash's own commands
    assert store.runs.set_trashed([b, c], None, 30.0) == [b, c]
    assert sorted(ids_of(store, None)) == [b, c]
    assert store.research.get_hypothesis(h).run_ids == (b,)
    assert [e.kind for e in store.runs.run_events(None)] == ["trash", "trash", "trash", "restore", "restore"]


def test_archived_runs_are_listed_only_when_asked(store: Store) -> None:
    a, b = new_run(store, "a"), new_run(store, "b")
    assert store.runs.set_archived([a], 5.0, 5.0) == [a]
    assert store.runs.query_runs(None, [], None, archived=False)[0][0].id == b
    assert store.runs.query_runs(None, [], None, archived=False)[1] == 1
    assert sorted(r.id for r in store.runs.query_runs(None, [], None)[0]) == [a, b]
    assert store.runs.get_run(a).archived_at == 5.0 and store.runs.find_run_ids("a") == [a]
    assert store.runs.set_archived([a, b], None, 6.0) == [a]


def test_purge_deletes_trashed_runs_only_keeps_their_notes_and_never_reuses_an_id(store: Store) -> None:
    keep, gone = new_run(store, "keep"), new_run(store, "gone", tags=("t",), params={"lr": 1})
    store.runs.merge_metrics(gone, [batch("acc", [0.5])])
    note = store.journal.add_note(NewNote("n-gone", "odd curve", None, gone, False, "ada", 3.0))
    assert store.runs.purge([keep, gone], 4.0) == 0  # neither is in the trash
    store.runs.set_trashed([gone], 5.0, 5.0)
    assert store.runs.purge([keep, gone], 6.0) == 1
    assert store.runs.get_run(gone) is None and store.runs.get_run(keep) is not None
    (kept,) = [n for n in store.journal.notes() if n.id == note]
    assert kept.text == "odd curve" and kept.run_id is None
    assert [e.kind for e in store.runs.run_events(None)] == ["trash", "delete"]
    assert new_run(store, "next") == gone + 1  # the journal still names run `gone`


def test_artifact_rows_round_trip_replace_by_name_and_answer_the_collector(store: Store) -> None:
    """A run names each content once; a name saved again takes the new content; purge drops its rows."""
    a, b = new_run(store, "a"), new_run(store, "b")
    h1, h2, h3 = "1" * 64, "2" * 64, "3" * 64
    store.artifacts.put_artifacts(
        [
            Artifact(a, "ckpt/last.pt", "checkpoint", h1, 10, "/x/last.pt", 1.0),
            Artifact(a, "model.onnx", None, h2, 20, None, 1.0),
            Artifact(b, "model.onnx", None, h2, 20, None, 2.0),
        ]
    )
    assert [x.name for x in store.artifacts.artifacts(a)] == ["ckpt/last.pt", "model.onnx"]
    store.artifacts.put_artifacts([Artifact(a, "ckpt/last.pt", "checkpoint", h3, 30, "/x/last.pt", 3.0)])
    assert store.artifacts.get_artifact(a, "ckpt/last.pt") == Artifact(
        a, "ckpt/last.pt", "checkpoint", h3, 30, "/x/last.pt", 3.0
    )
    assert store.artifacts.get_artifact(a, "nothing") is None
    assert [(x.run_id, x.name) for x in store.artifacts.artifacts_of([b, a, a])] == [
        (a, "ckpt/last.pt"),
        (a, "model.onnx"),
        (b, "model.onnx"),
    ]
    assert store.artifacts.referenced([h1, h2, h3]) == {h2, h3}  # h1 was replaced
    store.runs.set_trashed([a, b], 4.0, 4.0)
    store.runs.purge([a, b], 5.0)
    assert store.artifacts.artifacts_of([a, b]) == [] and store.artifacts.referenced([h2, h3]) == set()


def test_find_run_ids_by_id_name_and_uid_prefix(store: Store) -> None:
    """A ref is a short id, else a name (every run of it, oldest first), else a uid prefix of 4+ hex digits."""
    a = new_run(store, "resnet", uid="abcd1234" + "0" * 24)
    b = new_run(store, "resnet", uid="abce5678" + "0" * 24)
    c = new_run(store, "vit", uid="ffff0000" + "0" * 24)
    assert store.runs.find_run_ids(str(c)) == [c]
    assert store.runs.find_run_ids("resnet") == [a, b]
    assert store.runs.find_run_ids("abcd") == [a]
    assert store.runs.find_run_ids("ABCD12") == [a]
    assert store.runs.find_run_ids("abc") == []  # too short to be a prefix
    assert store.runs.find_run_ids("9" * 30) == []  # beyond any id
    assert store.runs.find_run_ids("nothing") == []
    assert store.runs.find_run_ids("abc%") == []


def test_fields_names_every_param_metric_and_summary_key(store: Store) -> None:
    """fields() is the union of keys over all runs, per kind."""
    a, b = new_run(store, params={"lr": 1, "model.depth": 3}), new_run(store, params={"opt": "sgd"})
    store.runs.merge_metrics(a, [batch("loss", [1.0])])
    store.runs.merge_metrics(b, [batch("val/acc", [1.0])])
    store.runs.set_summary(b, {"best": 1})
    f = store.runs.fields()
    assert f.params == {"lr", "model.depth", "opt"}
    assert f.metrics == {"loss", "val/acc"}
    assert f.summary == {"best"}


def imported(uid: str = "i" * 32, **kw: Any) -> NewImport:
    fields: dict[str, Any] = {
        "uid": uid,
        "source": "mlflow",
        "name": "from mlflow",
        "status": "failed",
        "created_at": 100.0,
        "started_at": 100.0,
        "ended_at": 160.0,
        "heartbeat_at": None,
        "params": {"lr": 0.1, "opt": "adam"},
        "tags": ("experiment=base",),
        "summary": {"best": 0.9},
        "metrics": [batch("loss", [3.0, 2.0, 1.0])],
        "capture": {"import": {"source": "mlflow", "id": "abc"}},
    }
    fields.update(kw)
    return NewImport(**fields)


def test_an_imported_run_is_written_whole_and_updated_in_place(store: Store) -> None:
    """Found again by its uid, it keeps its id and tags it had; what came from the source is replaced."""
    run_id, created = store.runs.save_imported(imported())
    assert created
    run = store.runs.get_run(run_id)
    assert (run.name, run.status, run.source, run.started_at, run.ended_at) == (
        "from mlflow",
        "failed",
        "mlflow",
        100.0,
        160.0,
    )
    assert run.params == {"lr": 0.1, "opt": "adam"} and run.summary == {"best": 0.9}
    assert run.tags == ("experiment=base",) and run.metrics["loss"].count == 3
    assert run.capture["import"] == {"source": "mlflow", "id": "abc"}
    store.runs.add_tags(run_id, ("mine",))
    again, created = store.runs.save_imported(
        imported(status="finished", params={"lr": 0.2}, summary={}, metrics=[batch("acc", [0.5])])
    )
    assert (again, created) == (run_id, False)
    run = store.runs.get_run(run_id)
    assert run.status == "finished" and run.params == {"lr": 0.2} and run.summary == {}
    assert set(run.metrics) == {"acc"} and set(run.tags) == {"experiment=base", "mine"}


def test_a_bad_imported_value_writes_nothing(store: Store) -> None:
    with pytest.raises(BadInput, match="parameter"):
        store.runs.save_imported(imported(params={"bad\ud800": 1}))
    assert store.runs.query_runs(None, [], None)[1] == 0


# == settings ===========================================================================


def test_settings_round_trip_by_key_and_prefix(store: Store) -> None:
    assert store.settings.get_setting("parse.loss") is None
    store.settings.set_setting("parse.loss", r"loss (?P<loss>\S+)")
    store.settings.set_setting("parse.acc", "acc")
    store.settings.set_setting("goal.val_loss", {"lower": True})
    store.settings.set_setting("parse.acc", "acc2")  # set again: replaced
    assert store.settings.get_setting("goal.val_loss") == {"lower": True}
    assert store.settings.settings("parse.") == {"parse.acc": "acc2", "parse.loss": r"loss (?P<loss>\S+)"}
    assert list(store.settings.settings()) == ["goal.val_loss", "parse.acc", "parse.loss"]
    assert store.settings.settings("parse_") == {}  # a prefix, not a pattern
    assert store.settings.unset_setting("parse.acc") and not store.settings.unset_setting("parse.acc")


# -- query_runs ------------------------------------------------------------------------

# A population of runs; each test states its expectation as a predicate over these specs.
SPECS: list[dict[str, Any]] = [
    dict(name="baseline", end=("finished", 0, 1100.0), lr=0.1, opt="adam", tags=("base",),
         acc=[0.2, 0.5, 0.6], best=0.6, note="First Try", at=1000.0),
    dict(name="baseline-wide", end=("finished", 0, 1050.0), lr=0.01, opt="sgd", tags=("base", "wide"),
         acc=[0.3, 0.7, NAN], best=None, note=None, at=1010.0),
    dict(name="sweep_a", end=("failed", 1, 1400.0), lr=0.001, opt="adam", tags=("sweep",),
         acc=[0.1], best=0.95, note="diverged at 100%", at=1020.0),
    dict(name="sweep_b", end=("killed", -9, 1031.0), lr=None, opt="sgd", tags=(),
         acc=None, best=None, note="killed by user", at=1030.0),
    dict(name=None, end=None, lr=0.05, opt=None, tags=("sweep", "wide"),
         acc=[0.9, 0.8], best=None, note=None, at=1040.0),
    dict(name="pending-one", end="pending", lr=0.3, opt=None, tags=("sweep",),
         acc=None, best=None, note=None, at=1050.0),
    dict(name="BIG", end=("finished", 0, 1070.0), lr=1.0, opt="lamb", tags=("x y",),
         acc=[NAN, NAN], best=0.1, note=None, at=1060.0),
]  # fmt: skip


@pytest.fixture
def population(store: Store) -> list[int]:
    """The runs of SPECS, in order; returns their ids."""
    ids = []
    for s in SPECS:
        params = {k: s[k] for k in ("lr", "opt") if s[k] is not None}
        run_id = new_run(
            store,
            s["name"],
            at=s["at"],
            note=s["note"],
            tags=s["tags"],
            params=params,
            pending=s["end"] == "pending",
        )
        if s["acc"]:
            store.runs.merge_metrics(run_id, [batch("acc", s["acc"])])
        if s["best"] is not None:
            store.runs.set_summary(run_id, {"best": s["best"]})
        if isinstance(s["end"], tuple):
            status, code, at = s["end"]
            store.runs.end_run(run_id, status, at, code)
        elif s["end"] is None:
            store.runs.heartbeat(run_id, s["at"] + 50.0)  # running: heartbeats 50 s after it started
        ids.append(run_id)
    return ids


def expect(ids: list[int], pred: Callable[[dict[str, Any]], bool]) -> list[int]:
    """The ids whose spec satisfies ``pred``, newest first (the default order)."""
    return [ids[i] for i in reversed(range(len(SPECS))) if pred(SPECS[i])]


def _agg(s: dict[str, Any], agg: str) -> float | None:
    """A metric aggregate of a spec as a query sees it: None where missing or NaN."""
    pts = s["acc"]
    if not pts:
        return None
    kept = [p for p in pts if not math.isnan(p)]
    value = {
        "last": pts[-1],
        "max": max(kept) if kept else None,
        "min": min(kept) if kept else None,
        "mean": sum(kept) / len(kept) if kept else None,
        "count": len(pts),
        "nan_count": len(pts) - len(kept),
        "last_step": len(pts) - 1,
    }[agg]
    return None if value is None or math.isnan(value) else value


def _duration(s: dict[str, Any]) -> float | None:
    if s["end"] == "pending":
        return None
    return (s["end"][2] if s["end"] else s["at"] + 50.0) - s["at"]


def _status(s: dict[str, Any]) -> str:
    return s["end"] if s["end"] == "pending" else s["end"][0] if s["end"] else "running"


def test_query_compares_run_fields(store: Store, population: list[int]) -> None:
    """Compare on status, name, exit code, creation time and duration (end or last heartbeat minus start)."""
    assert ids_of(store, qt.Compare(qt.RunField("status"), "=", "finished")) == expect(
        population, lambda s: _status(s) == "finished"
    )
    assert ids_of(store, qt.Compare(qt.RunField("status"), "!=", "finished")) == expect(
        population, lambda s: _status(s) != "finished"
    )
    assert ids_of(store, qt.Compare(qt.RunField("created"), ">=", 1030.0)) == expect(
        population, lambda s: s["at"] >= 1030
    )
    assert ids_of(store, qt.Compare(qt.RunField("exit_code"), "<", 0)) == expect(
        population, lambda s: isinstance(s["end"], tuple) and s["end"][1] < 0
    )
    assert ids_of(store, qt.Compare(qt.RunField("name"), "=", "sweep_a")) == [population[2]]
    assert ids_of(store, qt.Compare(qt.RunField("duration"), ">", 60)) == expect(
        population, lambda s: (_duration(s) or 0) > 60
    )
    assert ids_of(store, qt.Compare(qt.RunField("duration"), "<=", 50)) == expect(
        population, lambda s: _duration(s) is not None and _duration(s) <= 50
    )
    assert ids_of(store, qt.Compare(qt.RunField("id"), "=", population[3])) == [population[3]]


def test_query_params_by_number_and_by_text(store: Store, population: list[int]) -> None:
    """A param or user summary value is compared as a number (numeric view) or as text (text view)."""
    assert ids_of(store, qt.Compare(qt.Keyed("params", "lr"), "<", 0.02)) == expect(
        population, lambda s: s["lr"] is not None and s["lr"] < 0.02
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "lr"), ">=", 0.3)) == expect(
        population, lambda s: s["lr"] is not None and s["lr"] >= 0.3
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "opt", text=True), "=", "sgd")) == expect(
        population, lambda s: s["opt"] == "sgd"
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "opt", text=True), ">", "b")) == expect(
        population, lambda s: s["opt"] is not None and s["opt"] > "b"
    )
    assert ids_of(store, qt.Compare(qt.Keyed("summary", "best"), ">", 0.5)) == expect(
        population, lambda s: s["best"] is not None and s["best"] > 0.5
    )


def test_query_metric_aggregates(store: Store, population: list[int]) -> None:
    """Metric references read last/min/max/mean/count/nan_count/last_step; NaN or missing compares false."""
    cases = [("max", ">", 0.65), ("last", ">=", 0.0), ("mean", ">", 0.45), ("min", "<", 0.25),
             ("count", "=", 2), ("nan_count", ">=", 1), ("last_step", "=", 2)]  # fmt: skip
    ops: dict[str, Callable[[float, float], bool]] = {
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "=": lambda a, b: a == b
    }  # fmt: skip
    for agg, op, value in cases:
        want = expect(
            population,
            lambda s, agg=agg, op=op, value=value: _agg(s, agg) is not None and ops[op](_agg(s, agg), value),
        )
        assert ids_of(store, qt.Compare(qt.Metric("acc", agg), op, value)) == want, (agg, op, value)
    assert ids_of(store, qt.Compare(qt.Metric("acc", "last"), ">=", 0.0)) == [
        population[4],
        population[2],
        population[0],
    ]


def test_query_null_tests(store: Store, population: list[int]) -> None:
    """``= None`` finds what is missing (no such param, no metric, NaN-only min, unnamed); ``!= None`` the rest.

    ``!=`` a value does not match runs that lack the field: null compares false.
    """
    assert ids_of(store, qt.Compare(qt.Keyed("params", "lr"), "=", None)) == expect(
        population, lambda s: s["lr"] is None
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "opt", text=True), "!=", None)) == expect(
        population, lambda s: s["opt"] is not None
    )
    assert ids_of(store, qt.Compare(qt.Metric("acc", "min"), "=", None)) == expect(
        population, lambda s: _agg(s, "min") is None
    )
    assert ids_of(store, qt.Compare(qt.RunField("name"), "=", None)) == [population[4]]
    assert ids_of(store, qt.Compare(qt.RunField("ended"), "=", None)) == expect(
        population, lambda s: not s["end"] or s["end"] == "pending"
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "opt", text=True), "!=", "sgd")) == expect(
        population, lambda s: s["opt"] is not None and s["opt"] != "sgd"
    )


def test_query_contains_is_a_case_insensitive_literal_substring(store: Store, population: list[int]) -> None:
    """``~`` matches a substring ignoring case; ``%`` and ``_`` are plain characters."""
    assert ids_of(store, qt.Contains(qt.RunField("note"), "first")) == [population[0]]
    assert ids_of(store, qt.Contains(qt.RunField("name"), "SWEEP")) == [population[3], population[2]]
    assert ids_of(store, qt.Contains(qt.RunField("name"), "big")) == [population[6]]
    assert ids_of(store, qt.Contains(qt.RunField("note"), "100%")) == [population[2]]
    assert ids_of(store, qt.Contains(qt.RunField("name"), "_")) == [population[3], population[2]]
    assert ids_of(store, qt.Contains(qt.RunField("name"), "%")) == []
    assert ids_of(store, qt.Contains(qt.Keyed("params", "opt", text=True), "AD")) == expect(
        population, lambda s: s["opt"] == "adam"
    )
    assert ids_of(store, qt.Contains(qt.RunField("command"), "train.py")) == sorted(population, reverse=True)


def test_query_contains_ignores_case_beyond_ascii(store: Store) -> None:
    """``~`` is case-insensitive for every letter, not only A-Z (É/é, Ü/ü, Σ/σ)."""
    upper, lower, plain = new_run(store, "ÉCOLE-ÜBER"), new_run(store, "école-über"), new_run(store, "ecole")
    assert ids_of(store, qt.Contains(qt.RunField("name"), "école")) == [lower, upper]
    assert ids_of(store, qt.Contains(qt.RunField("name"), "ÜBER")) == [lower, upper]
    assert plain not in ids_of(store, qt.Contains(qt.RunField("name"), "é"))


def test_query_in_and_not_in(store: Store, population: list[int]) -> None:
    """``in`` matches any listed value; negated, a missing value counts as not in."""
    names = ("adam", "lamb")
    assert ids_of(store, qt.In(qt.Keyed("params", "opt", text=True), names)) == expect(
        population, lambda s: s["opt"] in names
    )
    assert ids_of(store, qt.In(qt.Keyed("params", "opt", text=True), names, negate=True)) == expect(
        population, lambda s: s["opt"] not in names
    )
    assert ids_of(store, qt.In(qt.Keyed("params", "lr"), (0.1, 1.0))) == [population[6], population[0]]
    assert ids_of(store, qt.In(qt.RunField("status"), ("failed", "killed"))) == [population[3], population[2]]


def test_query_tags(store: Store, population: list[int]) -> None:
    """HasTag matches runs with any of the tags; negated, runs with none of them."""
    assert ids_of(store, qt.HasTag(("wide",))) == expect(population, lambda s: "wide" in s["tags"])
    assert ids_of(store, qt.HasTag(("base", "x y"))) == expect(
        population, lambda s: {"base", "x y"} & set(s["tags"])
    )
    assert ids_of(store, qt.HasTag(("sweep",), negate=True)) == expect(
        population, lambda s: "sweep" not in s["tags"]
    )
    assert ids_of(store, qt.HasTag(("nosuch",))) == []


def test_query_not_reads_null_as_false(store: Store, population: list[int]) -> None:
    """``not x`` holds unless x is true: runs where x is null (missing, NaN) are included."""
    assert ids_of(store, qt.Not(qt.Compare(qt.Keyed("params", "lr"), ">", 0.05))) == expect(
        population, lambda s: not (s["lr"] is not None and s["lr"] > 0.05)
    )
    last = qt.Compare(qt.Metric("acc", "last"), ">=", 0.5)
    assert ids_of(store, qt.Not(last)) == expect(population, lambda s: not ((_agg(s, "last") or -1) >= 0.5))
    assert ids_of(store, qt.Not(qt.Not(qt.HasTag(("base",))))) == expect(
        population, lambda s: "base" in s["tags"]
    )


def test_query_all_and_any_combine(store: Store, population: list[int]) -> None:
    """All is a conjunction and Any_ a disjunction of their terms, in any mix."""
    tree = qt.Any_(
        (
            qt.All((qt.HasTag(("sweep",)), qt.Compare(qt.Keyed("params", "lr"), "<", 0.01))),
            qt.All((qt.Compare(qt.RunField("status"), "=", "finished"), qt.Not(qt.HasTag(("base",))))),
        )
    )
    assert ids_of(store, tree) == expect(
        population,
        lambda s: (
            ("sweep" in s["tags"] and s["lr"] is not None and s["lr"] < 0.01)
            or (_status(s) == "finished" and "base" not in s["tags"])
        ),
    )


def test_query_with_a_thousand_terms_and_more(store: Store, population: list[int]) -> None:
    """Long runs of and/or (a list of ids, a long --where) compile flat: over a thousand terms run."""
    wanted = {0.01, 1.0}
    values = [round(0.0001 * k, 6) for k in range(1, 1200)] + sorted(wanted)
    any_tree = qt.Any_(tuple(qt.Compare(qt.Keyed("params", "lr"), "=", v) for v in values))
    assert ids_of(store, any_tree) == expect(population, lambda s: s["lr"] in set(values))
    all_tree = qt.All((*(qt.Not(qt.HasTag((f"t{k}",))) for k in range(1500)), qt.HasTag(("sweep",))))
    assert ids_of(store, all_tree) == expect(population, lambda s: "sweep" in s["tags"])
    assert ids_of(store, qt.Not(any_tree)) == expect(population, lambda s: s["lr"] not in set(values))


def test_query_as_deep_as_the_parser_allows(store: Store, population: list[int]) -> None:
    """Twelve levels (the parser's limit) of the costliest shape, ``(a or b and (...))``, still run."""
    tree: qt.Expr = qt.HasTag(("wide",))
    for _ in range(12):
        tree = qt.Any_(
            (
                qt.Compare(qt.RunField("status"), "=", "nope"),
                qt.All((qt.Compare(qt.RunField("id"), ">", 0), tree)),
            )
        )
    assert ids_of(store, tree) == expect(population, lambda s: "wide" in s["tags"])
    assert ids_of(store, qt.Not(tree)) == expect(population, lambda s: "wide" not in s["tags"])


def test_query_sorts_with_nulls_last_both_ways(store: Store, population: list[int]) -> None:
    """Sort keys apply in order; runs missing a key come last ascending and descending alike."""
    by_id = qt.SortKey(qt.RunField("id"))
    has = [i for i, s in enumerate(SPECS) if _agg(s, "max") is not None]
    missing = [population[i] for i, s in enumerate(SPECS) if _agg(s, "max") is None]
    up = [population[i] for i in sorted(has, key=lambda i: _agg(SPECS[i], "max"))]
    assert ids_of(store, None, (qt.SortKey(qt.Metric("acc", "max")), by_id)) == up + missing
    assert ids_of(store, None, (qt.SortKey(qt.Metric("acc", "max"), desc=True), by_id)) == up[::-1] + missing

    newest = qt.SortKey(qt.RunField("id"), desc=True)
    got = ids_of(store, None, (qt.SortKey(qt.Keyed("params", "opt", text=True)), newest))
    want = sorted(range(len(SPECS)), key=lambda i: (SPECS[i]["opt"] is None, SPECS[i]["opt"] or "", -i))
    assert got == [population[i] for i in want]
    got = ids_of(store, None, (qt.SortKey(qt.Keyed("params", "lr"), desc=True),))
    want = sorted((i for i in range(len(SPECS)) if SPECS[i]["lr"] is not None), key=lambda i: -SPECS[i]["lr"])
    assert got == [population[i] for i in want] + [population[3]]


def test_query_limit_keeps_the_total(store: Store, population: list[int]) -> None:
    """A limit cuts the list after sorting; the count is of every match. No sort keys: newest first."""
    runs, total = store.runs.query_runs(qt.HasTag(("sweep",)), [qt.SortKey(qt.RunField("created"))], 2)
    assert [r.id for r in runs] == [population[2], population[4]]
    assert total == sum("sweep" in s["tags"] for s in SPECS)
    runs, total = store.runs.query_runs(None, [], None)
    assert [r.id for r in runs] == sorted(population, reverse=True) and total == len(SPECS)


def test_query_pages_cover_the_order_once(store: Store, population: list[int]) -> None:
    """Pages (limit + offset) of one order, ties included, are disjoint and together the whole list."""
    opt = [qt.SortKey(qt.RunField("status"))]  # many ties: the id breaks them, newest first
    whole, total = store.runs.query_runs(None, opt, None)
    pages = [store.runs.query_runs(None, opt, 3, offset=o) for o in range(0, total + 3, 3)]
    assert [r.id for page, _ in pages for r in page] == [r.id for r in whole]
    assert all(t == total for _, t in pages) and pages[-1][0] == []
    tail, _ = store.runs.query_runs(None, [], None, offset=total - 2)  # an offset without a limit
    assert [r.id for r in tail] == sorted(population)[:2][::-1]


def test_query_returns_whole_records(store: Store, population: list[int]) -> None:
    """Runs from a query carry their tags, params, metrics and summary, as get_run does (capture aside)."""
    runs, _ = store.runs.query_runs(qt.Compare(qt.RunField("id"), "=", population[0]), [], None)
    (r,) = runs
    full = store.runs.get_run(population[0])
    assert (r.tags, r.params, r.summary, r.metrics) == (full.tags, full.params, full.summary, full.metrics)
    assert r.params == {"lr": 0.1, "opt": "adam"} and r.metrics["acc"].count == 3


def test_query_big_ints_keep_their_order(store: Store) -> None:
    """Ints beyond a double's range still sort and compare above or below every finite bound."""
    huge, small, neg = (
        new_run(store, params={"n": 10**400}),
        new_run(store, params={"n": 5}),
        new_run(store, params={"n": -(10**400)}),
    )
    assert ids_of(store, qt.Compare(qt.Keyed("params", "n"), ">", 1e300)) == [huge]
    assert ids_of(store, qt.Compare(qt.Keyed("params", "n"), "<", -1e300)) == [neg]
    assert ids_of(store, None, (qt.SortKey(qt.Keyed("params", "n")),)) == [neg, small, huge]


def test_query_finds_64_bit_int_params_exactly(store: Store) -> None:
    """An int param that fits 64 bits (a seed, a hash) is found by ``==``, ``>=`` and ``in`` with itself."""
    seed = 2**60 + 1
    target = new_run(store, params={"seed": seed})
    new_run(store, params={"seed": seed - 1})
    assert ids_of(store, qt.Compare(qt.Keyed("params", "seed"), "=", seed)) == [target]
    assert ids_of(store, qt.Compare(qt.Keyed("params", "seed"), ">=", seed)) == [target]
    assert ids_of(store, qt.In(qt.Keyed("params", "seed"), (seed,))) == [target]


def test_query_text_that_utf8_cannot_encode(store: Store) -> None:
    """A param holding a lone surrogate (undecodable bytes from argv) is found by a literal of the same text."""
    odd = "run-\udcff"
    target = new_run(store, params={"tag": odd})
    new_run(store, params={"tag": "run-x"})
    assert ids_of(store, qt.Compare(qt.Keyed("params", "tag", text=True), "=", odd)) == [target]
    assert ids_of(store, qt.Contains(qt.Keyed("params", "tag", text=True), "\udcff")) == [target]


# == research ===========================================================================


def test_hypothesis_round_trip_and_list_order(store: Store) -> None:
    """A hypothesis reads back with its tags and problem text; list_hypotheses is in creation order."""
    a = hypothesis(
        store, "warmup helps", at=10.0, uid="hyp-a", problem="Training stability", tags=("opt", "lr")
    )
    b = hypothesis(store, "depth hurts", at=20.0, author=None)
    h = store.research.get_hypothesis(a)
    assert (h.id, h.uid, h.text, h.problem, h.author, h.created_at) == (
        a, "hyp-a", "warmup helps", "Training stability", "ada", 10.0
    )  # fmt: skip
    assert (h.outcome, h.belief, h.resolved_at, h.tags, h.run_ids, h.status) == (
        None, None, None, ("lr", "opt"), (), "open"
    )  # fmt: skip
    assert [x.id for x in store.research.list_hypotheses()] == [a, b]
    assert store.research.get_hypothesis(b).author is None


def test_runs_linked_to_a_hypothesis(store: Store) -> None:
    """Runs join a hypothesis when created for it or by link_run; it is then being tested."""
    h, other = hypothesis(store), hypothesis(store, "other")
    r1 = new_run(store, hyp_id=h)
    r2 = new_run(store)
    new_run(store, hyp_id=other)
    store.research.link_run(r2, h)
    got = store.research.get_hypothesis(h)
    assert (got.run_ids, got.status) == ((r1, r2), "testing")
    assert store.runs.get_run(r2).hyp_id == h
    assert ids_of(store, qt.Compare(qt.RunField("hyp"), "=", h)) == [r2, r1]


def test_first_result_at_is_when_the_first_metric_arrived(store: Store) -> None:
    """first_result_at: None until a linked run logs a metric, then that moment, never moved later."""
    h = hypothesis(store)
    run_id = new_run(store, hyp_id=h)
    assert store.research.first_result_at(h) is None
    before = time.time()
    store.runs.merge_metrics(run_id, [batch("loss", [1.0])])
    after = time.time()
    first = store.research.first_result_at(h)
    assert first is not None and before - 1 <= first <= after + 1
    time.sleep(0.01)
    store.runs.merge_metrics(run_id, [batch("loss", [0.5], first_step=1), batch("acc", [0.1])])
    store.runs.merge_metrics(new_run(store, hyp_id=h), [batch("loss", [2.0])])
    assert store.research.first_result_at(h) == first


def test_prediction_round_trip(store: Store) -> None:
    """Every field of a prediction reads back, including its own tags and a nested scope."""
    h = hypothesis(store)
    scope = {"a": "lr < 0.1", "b": "lr >= 0.1", "a_spec": "lr<0.1", "b_spec": "lr>=0.1", "verdict": "better",
             "nested": {"ids": [1, 2, 3], "none": None}}  # fmt: skip
    pid = prediction(
        store, h, "val acc above 0.9", kind="numeric", low=0.8, high=0.95, level=0.9, point=0.9,
        metric="val_acc", agg="last", reduce="mean", op=">", value=0.9, min_runs=3, author="ada",
        created_at=30.0, due_at=99.0, source="fatebook", tags=("imported", "q3"), scope=scope, uid="pred-1",
    )  # fmt: skip
    p = store.research.get_prediction(pid)
    assert (p.id, p.uid, p.hyp_id, p.text, p.kind) == (pid, "pred-1", h, "val acc above 0.9", "numeric")
    assert (p.p, p.low, p.high, p.level, p.point) == (None, 0.8, 0.95, 0.9, 0.9)
    assert (p.metric, p.agg, p.reduce, p.op, p.value, p.min_runs) == ("val_acc", "last", "mean", ">", 0.9, 3)
    assert (p.author, p.created_at, p.due_at, p.source) == ("ada", 30.0, 99.0, "fatebook")
    assert (p.late, p.revision_of, p.superseded_by, p.resolution, p.paper_id) == (
        False,
        None,
        None,
        None,
        None,
    )
    assert p.tags == ("imported", "q3") and p.scope == scope
    binary = store.research.get_prediction(prediction(store, None, "it rains", p=0.7))
    assert (binary.kind, binary.p, binary.hyp_id, binary.scope, binary.tags) == (
        "binary",
        0.7,
        None,
        None,
        (),
    )


def test_list_predictions_all_or_by_hypothesis(store: Store) -> None:
    """list_predictions lists all in creation order, or only one hypothesis's."""
    h1, h2 = hypothesis(store), hypothesis(store, "b")
    a, b, c = prediction(store, h1), prediction(store, h2), prediction(store, h1)
    loose = prediction(store, None)
    assert [p.id for p in store.research.list_predictions()] == [a, b, c, loose]
    assert [p.id for p in store.research.list_predictions(h1)] == [a, c]
    assert [p.id for p in store.research.list_predictions(h2)] == [b]


def test_a_revision_is_a_new_row_and_the_old_knows_its_successor(store: Store) -> None:
    """Revising never edits: the revision is a new prediction; each revised one names the one after it."""
    h = hypothesis(store)
    first = prediction(store, h, "p=0.6", p=0.6)
    second = prediction(store, h, "p=0.7", p=0.7, revision_of=first)
    third = prediction(store, h, "p=0.8", p=0.8, revision_of=second)
    one, two, three = (store.research.get_prediction(i) for i in (first, second, third))
    assert (one.p, one.text, one.revision_of, one.superseded_by) == (0.6, "p=0.6", None, second)
    assert (two.revision_of, two.superseded_by) == (first, third)
    assert (three.revision_of, three.superseded_by) == (second, None)
    assert len(store.research.list_predictions(h)) == 3


def test_resolve_prediction_is_written_once(store: Store) -> None:
    """A resolution is final: the second attempt raises BadInput and the first stays, detail and all."""
    pid = prediction(store, hypothesis(store))
    detail = {"runs": [1, 2], "values": [0.91, 0.93], "reduced": 0.92}
    store.research.resolve_prediction(pid, Resolution("true", 0.92, "auto", detail, 50.0))
    with pytest.raises(BadInput, match="already resolved"):
        store.research.resolve_prediction(pid, Resolution("false", 0.1, "manual", None, 60.0))
    res = store.research.get_prediction(pid).resolution
    assert (res.outcome, res.value, res.how, res.detail, res.resolved_at) == (
        "true",
        0.92,
        "auto",
        detail,
        50.0,
    )
    other = prediction(store, None)
    store.research.resolve_prediction(other, Resolution("ambiguous", None, "manual", None, 70.0))
    res = store.research.get_prediction(other).resolution
    assert (res.outcome, res.value, res.detail) == ("ambiguous", None, None)


def test_resolve_hypothesis_once(store: Store) -> None:
    """A hypothesis resolves once; a second resolution returns False and changes nothing."""
    h = hypothesis(store)
    assert store.research.resolve_hypothesis(h, "supported", "warmup matters below 1k steps", 40.0) is True
    assert store.research.resolve_hypothesis(h, "refuted", None, 50.0) is False
    got = store.research.get_hypothesis(h)
    assert (got.outcome, got.belief, got.resolved_at, got.status) == (
        "supported", "warmup matters below 1k steps", 40.0, "resolved"
    )  # fmt: skip


def test_late_flag_is_decided_by_results_already_in(store: Store) -> None:
    """A prediction made after a linked run logged a metric is late; before, it is not; given, it stays."""
    h = hypothesis(store)
    run_id = new_run(store, hyp_id=h)
    early = prediction(store, h)
    store.runs.merge_metrics(run_id, [batch("acc", [0.5])])
    late = prediction(store, h)
    forced = prediction(store, h, late=False)
    loose = prediction(store, None)
    fresh = prediction(store, hypothesis(store, "untested"))
    flags = {i: store.research.get_prediction(i).late for i in (early, late, forced, loose, fresh)}
    assert flags == {early: False, late: True, forced: False, loose: False, fresh: False}


def test_paper_predictions(store: Store) -> None:
    """A paper's predictions (guesses of its reported results) are listed by paper."""
    p1, p2 = store.papers.save_papers([paper("Scaling laws"), paper("Attention")], {})
    a = prediction(store, None, "reports 71.2", kind="point", point=71.2, metric="MMLU", paper_id=p1)
    prediction(store, None, "other", kind="point", point=1.0, paper_id=p2)
    b = prediction(store, None, "reports 3.1", kind="point", point=3.1, paper_id=p1)
    got = store.research.paper_predictions(p1)
    assert [(p.id, p.paper_id, p.point) for p in got] == [(a, p1, 71.2), (b, p1, 3.1)]
    assert store.research.paper_predictions(999) == []


# == journal ============================================================================


def test_notes_round_trip_with_evidence_against_first(store: Store) -> None:
    """Notes read back; filtered by hypothesis or run; evidence against comes first, then oldest first."""
    h, other = hypothesis(store), hypothesis(store, "other")
    run_id = new_run(store)
    n1 = store.journal.add_note(NewNote("n1", "looks promising", h, None, False, "ada", 30.0))
    n2 = store.journal.add_note(NewNote("n2", "but seed 3 diverged", h, run_id, True, "bob", 40.0))
    n3 = store.journal.add_note(NewNote("n3", "early note", h, None, False, "ada", 20.0))
    n4 = store.journal.add_note(NewNote("n4", "unrelated", other, None, False, "ada", 10.0))
    notes = store.journal.notes(hyp_id=h)
    assert [n.id for n in notes] == [n2, n3, n1]
    got = notes[0]
    assert (got.text, got.hyp_id, got.run_id, got.against, got.author, got.created_at) == (
        "but seed 3 diverged", h, run_id, True, "bob", 40.0
    )  # fmt: skip
    assert [n.id for n in store.journal.notes(run_id=run_id)] == [n2]
    assert [n.id for n in store.journal.notes()] == [n2, n4, n3, n1]


@pytest.fixture
def okapis(store: Store) -> dict[str, int]:
    """One record of every searchable kind, each mentioning 'okapi'."""
    h = hypothesis(store, "okapi hypothesis")
    out = {
        "hypothesis": h,
        "prediction": prediction(store, h, "okapi prediction"),
        "note": store.journal.add_note(NewNote("n", "an okapi note", h, None, False, "ada", 1.0)),
        "run": new_run(store, "okapi-run"),
        "paper": store.papers.save_papers([paper("On Okapi Things")], {})[0],
        "problem": store.problems.create_problem("q", "Okapi problem", "why", None, 1.0, []),
        "idea": store.problems.create_idea("i", "okapi idea", None, "ada", 1.0),
    }
    new_run(store, "giraffe-run", note="nothing to see")
    return out


def test_search_covers_every_kind(store: Store, okapis: dict[str, int]) -> None:
    """Search finds hypotheses, predictions, notes, runs, papers, problems and ideas by their text."""
    hits = store.journal.search("okapi", 50)
    assert sorted((h.kind, h.ref) for h in hits) == sorted(okapis.items())
    assert all("okapi" in h.snippet.lower() for h in hits)
    assert [(h.kind, h.title) for h in store.journal.search("giraffe", 5)] == [("run", "giraffe-run")]


def test_search_words_prefixes_odd_characters_and_limit(store: Store, okapis: dict[str, int]) -> None:
    """Every word is required, ``word*`` is a prefix, quotes cannot break a query, and limit holds."""
    assert [(h.kind, h.ref) for h in store.journal.search("okapi idea", 10)] == [("idea", okapis["idea"])]
    assert len(store.journal.search("oka*", 50)) == len(okapis)
    assert len(store.journal.search('"okapi', 50)) == len(okapis)
    assert store.journal.search("okapi AND OR NOT ( :", 50) == []
    assert len(store.journal.search("okapi", 3)) == 3
    assert store.journal.search("zebra", 10) == []
    with pytest.raises(BadInput):
        store.journal.search("   ", 10)


def test_search_ranks_the_better_match_first(store: Store) -> None:
    """Hits come best first: a short note about a word before a long one that mentions it in passing."""
    filler = " ".join(f"word{k}" for k in range(60))
    weak = store.journal.add_note(
        NewNote("w", f"{filler} calibration {filler}", None, None, False, "ada", 1.0)
    )
    strong = store.journal.add_note(NewNote("s", "calibration calibration", None, None, False, "ada", 2.0))
    assert [h.ref for h in store.journal.search("calibration", 10)] == [strong, weak]


def test_search_sees_later_changes(store: Store) -> None:
    """What changes after creation is searchable: a run named later, a belief, a paper's filled abstract."""
    run_id = new_run(store, None)
    store.runs.fill_in(run_id, "zebrafish", None)
    h = hypothesis(store, "plain text")
    store.research.resolve_hypothesis(h, "supported", "quokka effect", 5.0)
    (pid,) = store.papers.save_papers([paper("Untitled work")], {})
    store.papers.save_papers([], {pid: {"abstract": "we study the narwhal"}})
    q = store.problems.create_problem("q", "Loose ends", "why", None, 1.0, [])
    store.problems.edit_problem(q, {"attack": "use the pangolin trick"}, None)
    assert [(x.kind, x.ref) for x in store.journal.search("zebrafish", 5)] == [("run", run_id)]
    assert [(x.kind, x.ref) for x in store.journal.search("quokka", 5)] == [("hypothesis", h)]
    assert [(x.kind, x.ref) for x in store.journal.search("narwhal", 5)] == [("paper", pid)]
    assert [(x.kind, x.ref) for x in store.journal.search("pangolin", 5)] == [("problem", q)]


def test_deleted_pending_runs_leave_search(store: Store) -> None:
    """A run forgotten by delete_pending is no longer found, nor does a later run inherit its hit."""
    new_run(store, "keeper")
    gone = new_run(store, "zebra", pending=True)
    store.runs.delete_pending([gone])
    assert store.journal.search("zebra", 5) == []
    later = new_run(store, "okapi")
    assert store.journal.search("zebra", 5) == []
    assert [(x.kind, x.ref) for x in store.journal.search("okapi", 5)] == [("run", later)]


def test_timeline_since(store: Store) -> None:
    """The timeline lists what happened at or after ``since``, oldest first, each with its kind and ref."""
    h = hypothesis(store, "warmup helps", at=10.0)
    p = prediction(store, h, "acc > 0.9", created_at=20.0)
    n = store.journal.add_note(NewNote("n1", "looks good", h, None, False, "ada", 30.0))
    against = store.journal.add_note(NewNote("n2", "seed 3 diverged", h, None, True, "ada", 40.0))
    run_id = new_run(store, "base", at=50.0, command=["python", "t.py"], hyp_id=h)
    store.runs.merge_metrics(run_id, [batch("acc", [0.95])])
    store.runs.end_run(run_id, "finished", 60.0, 0)
    store.research.resolve_prediction(p, Resolution("true", None, "manual", None, 70.0))
    store.research.resolve_hypothesis(h, "supported", "it does", 80.0)
    late = prediction(store, h, "loss < 1", created_at=90.0)
    events = [(e.at, e.kind, e.ref, e.hyp_id) for e in store.journal.timeline(None)]
    assert events == [
        (10.0, "hypothesis", f"H{h}", h),
        (20.0, "prediction", f"P{p}", h),
        (30.0, "note", f"N{n}", h),
        (40.0, "evidence-against", f"N{against}", h),
        (50.0, "run-started", f"run {run_id}", h),
        (60.0, "run-finished", f"run {run_id}", h),
        (70.0, "resolution", f"P{p}", h),
        (80.0, "hypothesis-resolved", f"H{h}", h),
        (90.0, "late-prediction", f"P{late}", h),
    ]
    texts = {e.kind: e.text for e in store.journal.timeline(50.0)}
    assert texts == {
        "run-started": "base python t.py",
        "run-finished": "base (exit 0)",
        "resolution": "true (manual): acc > 0.9",
        "hypothesis-resolved": "supported: it does",
        "late-prediction": "loss < 1",
    }
    assert [e.at for e in store.journal.timeline(80.0)] == [80.0, 90.0]
    assert store.journal.timeline(91.0) == []


# == papers =============================================================================


def test_save_and_get_paper_round_trip(store: Store) -> None:
    """A saved paper reads back field for field, untriaged; paper_keys gives its duplicate keys."""
    values = paper(
        "Attention Is All You Need", authors=["Vaswani, A.", "Shazeer, N."], year=2017, venue="NeurIPS",
        doi="10.5555/3295222", arxiv="1706.03762", url="https://arxiv.org/abs/1706.03762",
        abstract="The dominant sequence transduction models...", citekey="vaswani2017", entry_type="inproceedings",
        uid="paper-att", added_at=123.0,
    )  # fmt: skip
    (pid,) = store.papers.save_papers([values], {})
    p = store.papers.get_paper(pid)
    assert (p.id, p.uid, p.title, p.authors, p.year, p.venue) == (
        pid, "paper-att", "Attention Is All You Need", ("Vaswani, A.", "Shazeer, N."), 2017, "NeurIPS"
    )  # fmt: skip
    assert (p.doi, p.arxiv, p.url, p.citekey, p.entry_type, p.source, p.added_at) == (
        "10.5555/3295222", "1706.03762", "https://arxiv.org/abs/1706.03762", "vaswani2017", "inproceedings",
        "bibtex", 123.0,
    )  # fmt: skip
    assert p.abstract == "The dominant sequence transduction models..."
    assert (p.decision, p.output_kind, p.changes, p.triaged_at, p.status) == (
        None,
        None,
        None,
        None,
        "untriaged",
    )
    (bare,) = store.papers.save_papers([paper("Bare")], {})
    assert store.papers.paper_keys() == [
        (pid, "10.5555/3295222", "1706.03762", "attention is all you need"),
        (bare, None, None, "bare"),
    ]


def test_save_papers_fills_only_what_is_missing(store: Store) -> None:
    """Fills complete a paper's empty fields and never overwrite one it has; new papers get fresh ids."""
    (pid,) = store.papers.save_papers([paper("Known", year=2020, authors=[])], {})
    new_ids = store.papers.save_papers(
        [paper("Fresh one"), paper("Fresh two")],
        {pid: {"year": 1999, "venue": "ICML", "authors": ["Lovelace, A."], "doi": "10.1/x"}},
    )
    assert len(new_ids) == 2 and len(set(new_ids) | {pid}) == 3
    p = store.papers.get_paper(pid)
    assert (p.year, p.venue, p.authors, p.doi) == (2020, "ICML", ("Lovelace, A.",), "10.1/x")
    store.papers.save_papers([], {pid: {"authors": ["Someone Else"], "venue": "NeurIPS"}})
    p = store.papers.get_paper(pid)
    assert (p.authors, p.venue) == (("Lovelace, A.",), "ICML")


def test_find_papers_by_citekey_doi_or_arxiv(store: Store) -> None:
    """find_papers names papers by citation key, DOI (any case) or arXiv id."""
    a, b = store.papers.save_papers(
        [paper("A", citekey="smith2020", doi="10.1000/abc"), paper("B", arxiv="2101.00001")], {}
    )
    assert store.papers.find_papers("smith2020") == [a]
    assert store.papers.find_papers("10.1000/ABC") == [a]
    assert store.papers.find_papers("2101.00001") == [b]
    assert store.papers.find_papers("A") == []


def test_triage_list_and_count_papers(store: Store) -> None:
    """Triage records a decision; list_papers filters by status or triage time; count_papers counts by status.

    count_triaged counts triage times in [since, until).
    """
    ids = store.papers.save_papers([paper(f"Paper {k}") for k in range(5)], {})
    store.papers.triage_paper(ids[3], "read", "recipe", "yes", 300.0)
    store.papers.triage_paper(ids[0], "drop", None, None, 100.0)
    store.papers.triage_paper(ids[1], "read", "benchmark", "no", 200.0)
    p = store.papers.get_paper(ids[3])
    assert (p.decision, p.output_kind, p.changes, p.triaged_at, p.status) == (
        "read",
        "recipe",
        "yes",
        300.0,
        "read",
    )
    assert [x.id for x in store.papers.list_papers()] == ids
    assert [x.id for x in store.papers.list_papers(status="untriaged")] == [ids[2], ids[4]]
    assert [x.id for x in store.papers.list_papers(status="read")] == [ids[1], ids[3]]
    assert [x.id for x in store.papers.list_papers(triaged_since=150.0)] == [ids[1], ids[3]]  # by triage time
    assert [x.id for x in store.papers.list_papers(triaged_since=0.0, limit=2)] == [ids[0], ids[1]]
    assert [x.id for x in store.papers.list_papers(limit=3)] == ids[:3]
    assert store.papers.count_papers() == {"untriaged": 2, "read": 2, "drop": 1}

    more = store.papers.save_papers([paper(f"P{k}") for k in range(4)], {})
    for pid, at in zip(more, (1100.0, 1150.0, 1200.0, 1250.0), strict=True):
        store.papers.triage_paper(pid, "skim", None, None, at)
    assert store.papers.count_triaged(1100.0, 1200.0) == 2
    assert store.papers.count_triaged(1100.0, 1250.1) == 4
    assert store.papers.count_triaged(100.0, 300.0) == 2
    assert store.papers.count_triaged(0.0, 1e9) == 7
    assert store.papers.count_triaged(1300.0, 1400.0) == 0


def test_a_paper_imported_under_several_keys_is_found_by_each(store: Store) -> None:
    """save_papers keeps a new paper's key and the keys it is imported again under; find_papers reads them all."""
    (pid,) = store.papers.save_papers([paper("CLIP", citekey="radford2021")], {})
    (other,) = store.papers.save_papers([paper("ViT", citekey="dosovitskiy2021")], {})
    store.papers.save_papers([], {}, {pid: ["clip", "radford2021"]})
    assert store.papers.find_papers("clip") == [pid] and store.papers.find_papers("radford2021") == [pid]
    assert store.papers.paper_citekeys(pid)[0] == "radford2021"
    assert set(store.papers.paper_citekeys(pid)) == {"radford2021", "clip"}
    assert store.papers.paper_citekeys(other) == ["dosovitskiy2021"]
    assert store.papers.find_papers("nothing") == []


def test_paper_settings(store: Store) -> None:
    """A setting reads None until set, then the latest value."""
    assert store.papers.paper_setting("weekly_target") is None
    store.papers.set_paper_setting("weekly_target", "5")
    store.papers.set_paper_setting("weekly_target", "7")
    store.papers.set_paper_setting("other", "x")
    assert (store.papers.paper_setting("weekly_target"), store.papers.paper_setting("other")) == ("7", "x")


# == problems, ideas, tasks ===============================================================


def test_problem_round_trip_adopting_hypotheses(store: Store) -> None:
    """A new problem reads back and links the hypotheses it adopts, which take its title as their problem."""
    h1, h2, h3 = (
        hypothesis(store, "a", problem="tokenizer speed"),
        hypothesis(store, "b"),
        hypothesis(store, "c"),
    )
    q = store.problems.create_problem("q-1", "Tokenizer speed", "it blocks training", None, 5.0, [h2, h1])
    p = store.problems.get_problem(q)
    assert (p.id, p.uid, p.title, p.why, p.attack, p.notes, p.created_at) == (
        q, "q-1", "Tokenizer speed", "it blocks training", None, "", 5.0
    )  # fmt: skip
    assert (p.retired_at, p.retired_why, p.hyp_ids, p.status) == (None, None, (h1, h2), "no attack yet")
    assert store.research.get_hypothesis(h1).problem == "Tokenizer speed"
    assert store.research.get_hypothesis(h2).problem_id == q
    assert store.problems.problem_of(h1) == q and store.problems.problem_of(h3) is None
    q2 = store.problems.create_problem("q-2", "Eval noise", "seeds vary", "more seeds", 6.0, [])
    assert [x.id for x in store.problems.list_problems()] == [q, q2]
    assert store.problems.get_problem(q2).status == "workable"


def test_problems_by_title_and_unlinked_hypotheses_naming_one(store: Store) -> None:
    """Titles match ignoring case and outer spaces; so do the free-text problems of unlinked hypotheses."""
    q = store.problems.create_problem("q", "Tokenizer Speed", "why", None, 1.0, [])
    loose = hypothesis(store, "a", problem="  tokenizer speed ")
    hypothesis(store, "b", problem="tokenizer")
    linked = hypothesis(store, "c", problem="Tokenizer Speed", problem_id=q)
    assert store.problems.find_problems_by_title(" tokenizer speed") == [q]
    assert store.problems.find_problems_by_title("tokenizer") == []
    assert store.problems.unlinked_hypotheses_named("TOKENIZER SPEED") == [loose]
    assert store.problems.problem_of(linked) == q


def test_edit_and_retire_problem(store: Store) -> None:
    """edit_problem sets fields, appends notes line by line, and keeps linked hypotheses' problem in step.

    A problem retires once; the second call returns False and keeps the first reason.
    """
    h = hypothesis(store)
    q = store.problems.create_problem("q", "Old title", "why", None, 1.0, [h])
    store.problems.edit_problem(q, {"attack": "profile first"}, "first note")
    store.problems.edit_problem(q, {"title": "New title", "why": "better why"}, "second note")
    store.problems.edit_problem(q, {}, None)
    p = store.problems.get_problem(q)
    assert (p.title, p.why, p.attack, p.notes) == (
        "New title",
        "better why",
        "profile first",
        "first note\nsecond note",
    )
    assert store.research.get_hypothesis(h).problem == "New title"

    assert store.problems.retire_problem(q, "solved upstream", 9.0) is True
    assert store.problems.retire_problem(q, "again", 10.0) is False
    p = store.problems.get_problem(q)
    assert (p.retired_at, p.retired_why, p.active, p.status) == (9.0, "solved upstream", False, "retired")


def test_link_problem_links_and_relinks(store: Store) -> None:
    """link_problem links a hypothesis to one problem at a time, moving it when linked again."""
    h = hypothesis(store)
    a = store.problems.create_problem("a", "A", "why", None, 1.0, [])
    b = store.problems.create_problem("b", "B", "why", None, 1.0, [])
    store.problems.link_problem(h, a, "A")
    assert (store.problems.problem_of(h), store.research.get_hypothesis(h).problem) == (a, "A")
    store.problems.link_problem(h, b, "B")
    assert (store.problems.problem_of(h), store.research.get_hypothesis(h).problem) == (b, "B")
    assert (store.problems.get_problem(a).hyp_ids, store.problems.get_problem(b).hyp_ids) == ((), (h,))


def test_match_problems_ranks_active_problems_and_records_the_match(store: Store) -> None:
    """Matching ranks active problems by their title, text and linked work, best first, and is recorded."""
    q1 = store.problems.create_problem(
        "q1", "Tokenizer throughput", "the slow tokenizer blocks training", None, 1.0, []
    )
    store.problems.create_problem("q2", "Data loading", "shards load slowly from disk", "prefetch", 1.0, [])
    h = hypothesis(store, "the tokenizer changes eval scores")
    q3 = store.problems.create_problem("q3", "Evaluation noise", "scores vary between seeds", None, 1.0, [h])
    store.journal.add_note(NewNote("n", "quantization shifts the scores", h, None, False, "ada", 1.0))
    gone = store.problems.create_problem("q4", "Tokenizer bugs", "tokenizer tokenizer", None, 1.0, [])
    store.problems.retire_problem(gone, None, 2.0)

    m1, ranked = store.problems.match_problems(["tokenizer"], "tokenizer", 10.0, 10)
    assert [pid for pid, _ in ranked] == [q1, q3]
    assert ranked[0][1] > ranked[1][1] > 0
    m2, ranked = store.problems.match_problems(["quantization", "seeds"], "quantization seeds", 20.0, 10)
    assert [pid for pid, _ in ranked] == [q3]
    m3, ranked = store.problems.match_problems(["tokenizer"], "tokenizer again", 30.0, 1)
    assert [pid for pid, _ in ranked] == [q1]
    assert m1 < m2 < m3
    assert store.problems.matches_of(q3) == [(m2, "quantization seeds", 20.0, 1), (m1, "tokenizer", 10.0, 2)]
    assert store.problems.matches_of(q1) == [(m3, "tokenizer again", 30.0, 1), (m1, "tokenizer", 10.0, 1)]
    assert store.problems.matches_of(gone) == []


def test_ideas_round_trip(store: Store) -> None:
    """Ideas read back in creation order; find_ideas_by_text ignores case and outer spaces."""
    q = store.problems.create_problem("q", "T", "why", None, 1.0, [])
    a = store.problems.create_idea("i-a", "Try Muon", q, "ada", 3.0)
    b = store.problems.create_idea("i-b", "bigger batch", None, "bob", 4.0)
    i = store.problems.get_idea(a)
    assert (i.id, i.uid, i.text, i.problem_id, i.author, i.created_at, i.outcome, i.outcome_at, i.ratings) == (
        a, "i-a", "Try Muon", q, "ada", 3.0, None, None, ()
    )  # fmt: skip
    assert [x.id for x in store.problems.list_ideas()] == [a, b]
    assert store.problems.find_ideas_by_text("  try muon ") == [a]
    assert store.problems.find_ideas_by_text("muon") == []


def test_rate_idea_once_per_rater(store: Store) -> None:
    """Each rater rates an idea once (a second rating returns False); ratings read oldest first.

    An idea's outcome is set once.
    """
    i = store.problems.create_idea("i", "x", None, "ada", 1.0)
    assert store.problems.rate_idea(i, "bob", 0.3, 20.0) is True
    assert store.problems.rate_idea(i, "ada", 0.6, 10.0) is True
    assert store.problems.rate_idea(i, "bob", 0.9, 30.0) is False
    got = [(r.rater, r.p, r.created_at) for r in store.problems.get_idea(i).ratings]
    assert got == [("ada", 0.6, 10.0), ("bob", 0.3, 20.0)]

    i = store.problems.create_idea("i2", "y", None, "ada", 1.0)
    assert store.problems.set_idea_outcome(i, "worked", 5.0) is True
    assert store.problems.set_idea_outcome(i, "failed", 6.0) is False
    got = store.problems.get_idea(i)
    assert (got.outcome, got.outcome_at) == ("worked", 5.0)


def test_tasks_open_and_close_once(store: Store) -> None:
    """Tasks start open, list by status, and close once."""
    h = hypothesis(store)
    a = store.problems.create_task("t-a", "run the sweep", 0.8, 2.5, h, 1.0)
    b = store.problems.create_task("t-b", "write up", 0.9, 1.0, None, 2.0)
    t = store.problems.get_task(a)
    assert (t.id, t.uid, t.text, t.p, t.hours, t.hyp_id, t.created_at, t.status, t.closed_at) == (
        a, "t-a", "run the sweep", 0.8, 2.5, h, 1.0, "open", None
    )  # fmt: skip
    assert store.problems.close_task(a, "done", 9.0) is True
    assert store.problems.close_task(a, "failed", 10.0) is False
    assert (store.problems.get_task(a).status, store.problems.get_task(a).closed_at) == ("done", 9.0)
    assert [x.id for x in store.problems.list_tasks()] == [a, b]
    assert [x.id for x in store.problems.list_tasks("open")] == [b]
    assert [x.id for x in store.problems.list_tasks("done")] == [a]


# == failures: examples, samples, piles ====================================================

EXAMPLES: dict[str, dict[str, Any]] = {
    "q1": {"correct": True, "lang": "en", "n": 1, "output": "Paris", "meta": {"src": "web"}},
    "q2": {"correct": False, "lang": "de", "n": "1", "output": "Sorry, I cannot", "meta": {"src": "book"}},
    "q3": {"correct": False, "lang": "en", "n": 2.5, "output": "", "meta": {"src": "web"}},
    "q4": {"correct": False, "lang": "fr", "n": 1, "output": "SORRY", "loss": 3.5},
    "q5": {"correct": None, "lang": "en", "output": "héllo"},
}


@pytest.fixture
def examples(store: Store) -> int:
    """A run with EXAMPLES in split 'eval'; returns its id."""
    run_id = new_run(store, "eval-run")
    write(store, run_id, "eval", EXAMPLES)
    return run_id


def test_write_examples_counts_new_and_replaced(store: Store) -> None:
    """An import reports how many ids were new and how many replaced existing ones."""
    run_id = new_run(store)
    assert write(store, run_id, "eval", {"a": {"correct": True}, "b": {"correct": False}, "c": {}}) == (3, 0)
    assert write(store, run_id, "eval", {"b": {"correct": True}, "d": {"correct": False}}) == (1, 1)
    assert write(store, run_id, "test", {"a": {"correct": True}}) == (1, 0)
    assert store.failures.example_count(run_id, "eval") == 4
    got = store.failures.examples_by_id(run_id, "eval", ["b"])
    assert got["b"][0] == 1 and json.loads(got["b"][1]) == {"id": "b", "correct": True}


def test_example_splits_fields_and_counts(store: Store, examples: int) -> None:
    """A run's splits with their sizes, and the fields each split's examples have had."""
    write(store, examples, "train", {"t1": {"correct": True, "extra": 1}})
    assert store.failures.example_splits(examples) == {"eval": 5, "train": 1}
    assert store.failures.example_fields(examples, "eval") == {
        "id",
        "correct",
        "lang",
        "n",
        "output",
        "meta",
        "loss",
    }
    assert store.failures.example_fields(examples, "train") == {"id", "correct", "extra"}
    assert store.failures.example_count(examples, "nosuch") == 0
    assert store.failures.example_splits(new_run(store)) == {}


def test_select_examples_with_a_tree_over_fields(store: Store, examples: int) -> None:
    """select_examples filters with the query tree over columns and nested JSON paths."""

    def ids(where: qt.Expr) -> list[str]:
        return [row[0] for row in store.failures.select_examples(examples, "eval", where)]

    assert ids(qt.Compare(qt.ExampleField("correct"), "=", False)) == ["q2", "q3", "q4"]
    assert ids(qt.Compare(qt.ExampleField("correct"), "=", None)) == ["q5"]
    assert ids(qt.Compare(qt.ExampleField("meta.src"), "=", "web")) == ["q1", "q3"]
    assert ids(qt.In(qt.ExampleField("lang"), ("de", "fr"))) == ["q2", "q4"]
    assert ids(qt.Contains(qt.ExampleField("output"), "sorry")) == ["q2", "q4"]
    assert ids(qt.Compare(qt.ExampleField("loss"), ">", 2)) == ["q4"]
    assert ids(qt.Not(qt.Compare(qt.ExampleField("lang"), "=", "en"))) == ["q2", "q4"]
    assert ids(qt.Not(qt.Compare(qt.ExampleField("loss"), ">", 2))) == [
        "q1",
        "q2",
        "q3",
        "q5",
    ]  # missing: not true
    assert ids(
        qt.All(
            (
                qt.Compare(qt.ExampleField("correct"), "=", False),
                qt.Compare(qt.ExampleField("output"), "=", ""),
            )
        )
    ) == ["q3"]
    assert ids(
        qt.Any_((qt.Compare(qt.ExampleField("id"), "=", "q1"), qt.Compare(qt.ExampleField("n"), "=", 2.5)))
    ) == [
        "q1",
        "q3",
    ]
    assert ids(qt.In(qt.ExampleField("lang"), ("de",), negate=True)) == ["q1", "q3", "q4", "q5"]


def test_select_examples_come_in_code_point_order_of_their_ids(store: Store) -> None:
    """Matches come in id order by code point (what makes a seeded sample the same on every store)."""
    run_id = new_run(store)
    names = ["b", "B", "10", "9", "é", "_x", "a", "Z", "ab", "a b"]
    write(store, run_id, "eval", {n: {"correct": False} for n in names})
    got = [
        r[0]
        for r in store.failures.select_examples(
            run_id, "eval", qt.Compare(qt.ExampleField("correct"), "=", False)
        )
    ]
    assert got == sorted(names)


def test_select_examples_with_a_stratum(store: Store, examples: int) -> None:
    """With a stratum, each row carries it: equal values share one, and the number 1 and the text '1' differ."""
    rows = store.failures.select_examples(
        examples, "eval", qt.Compare(qt.ExampleField("id"), "!=", ""), qt.ExampleField("n")
    )
    assert [r[0] for r in rows] == ["q1", "q2", "q3", "q4", "q5"]
    stratum = {ex_id: s for ex_id, s in rows}
    assert stratum["q1"] == stratum["q4"]
    assert len({stratum["q1"], stratum["q2"], stratum["q3"]}) == 3
    assert all(len(r) == 2 for r in rows)
    by_lang = store.failures.select_examples(
        examples, "eval", qt.Compare(qt.ExampleField("correct"), "=", False), qt.ExampleField("lang")
    )
    groups: dict[Any, set[str]] = {}
    for ex_id, s in by_lang:
        groups.setdefault(s, set()).add(ex_id)
    assert sorted(map(sorted, groups.values())) == [["q2"], ["q3"], ["q4"]]


def test_field_values_numbers_or_text_lengths(store: Store, examples: int) -> None:
    """field_values gives each example's number (never a numeric string) or, for text, its length."""
    numbers = dict(store.failures.field_values(examples, "eval", qt.ExampleField("n"), "number"))
    assert numbers == {"q1": 1, "q3": 2.5, "q4": 1}
    lengths = dict(store.failures.field_values(examples, "eval", qt.ExampleField("output"), "text"))
    assert lengths == {k: len(v["output"]) for k, v in EXAMPLES.items()}
    assert dict(store.failures.field_values(examples, "eval", qt.ExampleField("loss"), "number")) == {
        "q4": 3.5
    }
    assert store.failures.field_values(examples, "eval", qt.ExampleField("meta"), "number") == []


def test_examples_by_id_for_many_ids(store: Store) -> None:
    """examples_by_id returns (correct, JSON) of each known id, however many ids are asked for."""
    run_id = new_run(store)
    data = {f"ex{k:05d}": {"correct": k % 3 == 0, "k": k} for k in range(1300)}
    write(store, run_id, "eval", data)
    wanted = [f"ex{k:05d}" for k in range(0, 1300, 1)] + ["missing-1", "missing-2"]
    got = store.failures.examples_by_id(run_id, "eval", wanted)
    assert set(got) == set(data)
    assert got["ex00600"][0] == 1 and json.loads(got["ex00601"][1]) == {
        "id": "ex00601",
        "correct": False,
        "k": 601,
    }
    assert store.failures.examples_by_id(run_id, "other", ["ex00001"]) == {}


def test_example_set_is_cached_and_rebuilt_after_a_partial_write(store: Store) -> None:
    """example_set returns what ``build`` made of the (id, outcome) rows, building only when stale."""
    run_id = new_run(store)
    write(store, run_id, "eval", {"b": {"correct": True}, "a": {"correct": False}, "c": {}})
    calls: list[list[tuple[Any, ...]]] = []

    def counting(rows: list[tuple[Any, ...]]) -> tuple[bytes, bytes]:
        calls.append(list(rows))
        return build_keys(rows)

    assert tuple(store.failures.example_set(run_id, "eval", counting)) == (b"a|b|c", bytes([0, 1, 2]))
    assert calls == []  # built when the whole split was written
    write(store, run_id, "eval", {"c": {"correct": True}, "d": {"correct": False}})  # a partial write
    assert tuple(store.failures.example_set(run_id, "eval", counting)) == (b"a|b|c|d", bytes([0, 1, 1, 0]))
    assert len(calls) == 1 and sorted((r[0], r[1]) for r in calls[0]) == [
        ("a", 0),
        ("b", 1),
        ("c", 1),
        ("d", 0),
    ]
    assert tuple(store.failures.example_set(run_id, "eval", counting)) == (b"a|b|c|d", bytes([0, 1, 1, 0]))
    assert len(calls) == 1


def test_sample_round_trip(store: Store, examples: int) -> None:
    """A sample reads back by name and id; names are unique; list_samples filters by run; the cursor is kept."""
    before = time.time()
    sid = store.failures.create_sample(
        NewSample("fails", examples, "eval", ["q4", "q2", "q3"], "correct == false", "lang", 7, 10, 3)
    )
    s = store.failures.get_sample("fails")
    assert (s.id, s.name, s.run_id, s.split, s.where, s.stratify) == (
        sid,
        "fails",
        examples,
        "eval",
        "correct == false",
        "lang",
    )
    assert (s.seed, s.requested, s.population, s.cursor, s.size) == (7, 10, 3, 0, 3)
    assert before - 1 <= s.created_at <= time.time() + 1
    assert store.failures.sample_by_id(sid) == s
    with pytest.raises(BadInput, match="exists already"):
        sample(store, "fails", examples, ["q1"])
    other_run = new_run(store)
    write(store, other_run, "eval", {"x": {"correct": False}})
    other = sample(store, "other", other_run, ["x"])
    assert [x.id for x in store.failures.list_samples()] == [sid, other]
    assert [x.id for x in store.failures.list_samples(examples)] == [sid]
    assert store.failures.sample_names() == {"fails", "other"}

    store.failures.set_cursor(sid, 2)
    assert store.failures.sample_by_id(sid).cursor == 2
    assert store.failures.sample_by_id(other).cursor == 0


def test_sample_items_in_review_order(store: Store, examples: int) -> None:
    """Items come in sample order with note, piles, outcome and data; a vanished example has no data."""
    sid = sample(store, "s", examples, ["q4", "q2", "gone"])
    store.failures.set_answer(sid, "q2", ["zeta", "alpha"], "refuses politely", "review", True)
    s = store.failures.sample_by_id(sid)
    items = store.failures.sample_items(s)
    assert items == [
        ItemRow(0, "q4", None, (), 0, {"id": "q4", **EXAMPLES["q4"]}),
        ItemRow(1, "q2", "refuses politely", ("alpha", "zeta"), 0, {"id": "q2", **EXAMPLES["q2"]}),
        ItemRow(2, "gone", None, (), None, None),
    ]
    assert [i.ex_id for i in store.failures.sample_items(s, "alpha")] == ["q2"]
    assert store.failures.sample_items(s, "nosuch") == []


def test_examples_in_sample_and_sample_matches(store: Store, examples: int) -> None:
    """examples_in_sample says which ids are members; sample_matches filters members, in sample order."""
    sid = sample(store, "s", examples, ["q4", "q3", "q2"])
    assert sorted(store.failures.examples_in_sample(sid, ["q1", "q2", "q4", "zz"])) == ["q2", "q4"]
    assert store.failures.examples_in_sample(sid, ["q1"]) == []
    s = store.failures.sample_by_id(sid)
    assert store.failures.sample_matches(s, qt.Contains(qt.ExampleField("output"), "sorry")) == ["q4", "q2"]
    assert store.failures.sample_matches(s, qt.Compare(qt.ExampleField("lang"), "=", "en")) == [
        "q3"
    ]  # q1 is not in it


def test_set_answer_replaces_or_adds_piles_and_keeps_or_clears_the_note(store: Store, examples: int) -> None:
    """replace=True sets an example's piles; False adds to them; a None note keeps it, an empty one clears it."""
    sid = sample(store, "s", examples, ["q2", "q3"])
    store.failures.set_answer(sid, "q2", ["refusal", "format"], "first look", "review", True)
    store.failures.set_answer(sid, "q2", ["verbose"], None, "tag", False)
    assert store.failures.pile_members(sid) == {"format": ["q2"], "refusal": ["q2"], "verbose": ["q2"]}
    assert store.failures.sample_items(store.failures.sample_by_id(sid))[0].note == "first look"
    store.failures.set_answer(sid, "q2", ["refusal"], "", "review", True)
    assert store.failures.pile_members(sid) == {"refusal": ["q2"]}
    assert store.failures.sample_items(store.failures.sample_by_id(sid))[0].note is None
    store.failures.set_answer(sid, "q3", [], "just a note", "review", False)
    item = store.failures.sample_items(store.failures.sample_by_id(sid))[1]
    assert (item.ex_id, item.note, item.piles) == ("q3", "just a note", ())


def test_piles_counts_names_and_members(store: Store, examples: int) -> None:
    """add_to_pile reports how many were newly added; counts, reviewed total, names and members agree."""
    a = sample(store, "a", examples, ["q2", "q3", "q4"])
    b = sample(store, "b", examples, ["q1"])
    assert store.failures.add_to_pile(a, ["q2", "q4"], "refusal", "rule") == 2
    assert store.failures.add_to_pile(a, ["q2", "q3"], "refusal", "rule") == 1
    store.failures.set_answer(a, "q3", ["empty"], None, "review", False)
    store.failures.set_answer(b, "q1", ["lucky"], None, "review", True)
    assert store.failures.pile_counts(a) == ({"refusal": 3, "empty": 1}, 3)
    assert store.failures.pile_counts(b) == ({"lucky": 1}, 1)
    assert store.failures.pile_members(a) == {"empty": ["q3"], "refusal": ["q2", "q3", "q4"]}
    assert store.failures.pile_names() == ["empty", "lucky", "refusal"]
    assert store.failures.pile_counts(sample(store, "c", examples, ["q5"])) == ({}, 0)


def test_hypothesis_piles(store: Store, examples: int) -> None:
    """A hypothesis started from a pile keeps that link: sample name, pile, count and reviewed."""
    sid = sample(store, "fails-1", examples, ["q2", "q3", "q4"])
    h = hypothesis(store, "refusals come from the system prompt", pile=(sid, "refusal", 2, 3))
    assert store.failures.hypothesis_piles(h) == [PileLink("fails-1", "refusal", 2, 3)]
    assert store.failures.hypothesis_piles(hypothesis(store, "other")) == []
