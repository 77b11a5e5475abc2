"""Overviews: an ended run's metric reduced once, kept beside its series, remade when it changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import labbook
from labbook.core.downsample import m4
from labbook.service import overview as ov
from labbook.service.notebook import Notebook


def long_run(n: int = 30_000, name: str = "long") -> None:
    values = np.random.default_rng(1).normal(size=n)
    values[777] = 50.0
    with labbook.init(name=name) as run:
        for i, v in enumerate(values):
            run.log({"x": float(v)}, step=i)


def test_an_ended_runs_overview_is_m4_of_every_point_kept_once(notebook: Notebook) -> None:
    long_run()
    run = notebook.get_run("long")
    found = ov.overview(notebook, run, "x")
    assert found is not None
    reduced, total = found
    full = notebook.series(run, "x")
    picks = m4(full.steps.astype(float), full.values, ov.BUCKETS).index
    assert total == 30_000 and np.array_equal(reduced.steps, full.steps[picks])
    assert np.array_equal(reduced.values, full.values[picks]) and 50.0 in reduced.values
    (kept,) = (notebook.run_dir(run) / "overview").iterdir()
    before = kept.stat().st_mtime_ns
    again, _ = ov.overview(notebook, run, "x")  # type: ignore[misc]
    assert kept.stat().st_mtime_ns == before and np.array_equal(again.steps, reduced.steps)


def test_a_running_run_has_none_and_a_changed_series_gets_a_new_one(notebook: Notebook) -> None:
    long_run(n=10_000)
    run = notebook.get_run("long")
    running = notebook.start_run(name="live")
    assert ov.overview(notebook, notebook.get_run(running.id), "x") is None
    first = ov.overview(notebook, run, "x")
    assert first is not None and first[1] == 10_000
    with _writer(notebook, run) as log:  # type: ignore[attr-defined]  # a second writer appends
        log(10_000, 5)
    changed = ov.overview(notebook, notebook.get_run("long"), "x")
    assert changed is not None and changed[1] == 10_005


def _writer(notebook: Notebook, run: object) -> object:
    """Append points to a run's series as another writer file would (an import, a resumed run)."""
    from contextlib import contextmanager

    from labbook.formats.series import encode_block
    from labbook.store.series.write import SeriesWriter

    @contextmanager
    def opened():  # type: ignore[no-untyped-def]
        w = SeriesWriter(notebook.run_dir(run) / "metrics" / "extra.lbm")  # type: ignore[arg-type]

        def log(start: int, n: int) -> None:
            steps = np.arange(start, start + n, dtype=np.int64)
            w.append([encode_block("x", steps, steps * 1000, np.ones(n))])

        yield log
        w.close()

    return opened()


def test_a_torn_overview_is_remade_and_an_unwritable_one_still_reads(notebook: Notebook) -> None:
    long_run(n=8_000)
    run = notebook.get_run("long")
    ov.overview(notebook, run, "x")
    (kept,) = (notebook.run_dir(run) / "overview").iterdir()
    kept.write_bytes(kept.read_bytes()[:100])
    remade = ov.overview(notebook, run, "x")
    assert remade is not None and remade[1] == 8_000 and kept.stat().st_size > 100
    folder = notebook.run_dir(run) / "overview"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.write_text("not a folder")  # the write is refused
    refused = ov.overview(notebook, run, "x")
    assert refused is not None and refused[1] == 8_000 and Path(folder).is_file()
