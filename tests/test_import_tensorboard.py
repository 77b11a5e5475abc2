"""``lab import tensorboard``: every point of every folder, params from HParams, imports that update."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labbook.service.notebook import Notebook

from .conftest import lab


def write_logs(logdir: Path, points: int = 5000) -> None:
    """Two runs as tensorboardX writes them, one with hparams (a subfolder of its own)."""
    from tensorboardX import SummaryWriter

    for name, lr in (("baseline", 0.1), ("wide", 0.3)):
        w = SummaryWriter(str(logdir / name))
        for i in range(points):
            w.add_scalar("train/loss", 1.0 / (i + 1), i)
            if i % 100 == 0:
                w.add_scalar("val/acc", i / points, i)
                w.add_histogram("weights", np.arange(4.0), i)
        if name == "wide":
            w.add_hparams({"lr": lr, "optimizer": "adam"}, {"hparam/best": 0.9})
        w.close()


def runs_by_name(project: Path) -> dict[str, object]:
    with Notebook.open(project) as nb:
        return {r.name: nb.get_run(r.id) for r in nb.list_runs()[0]}


def test_every_point_of_every_folder_arrives(project: Path, tmp_path_factory) -> None:
    logdir = tmp_path_factory.mktemp("tb")
    write_logs(logdir)
    result = lab("import", "tensorboard", str(logdir), "-q")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("imported 2 runs from tensorboard (2 new, 0 updated), 10,101 points")
    runs = runs_by_name(project)
    assert set(runs) == {"baseline", "wide"}
    wide = runs["wide"]
    assert wide.status == "finished" and wide.source == "tensorboard"
    assert wide.params == {"lr": 0.3, "optimizer": "adam"}  # from the hparams subfolder
    with Notebook.open(project) as nb:
        loss = nb.series(wide, "train/loss")
        acc = nb.series(wide, "val/acc")
    assert loss.steps.tolist() == list(range(5000))  # no reservoir sampling: all 5,000
    want = np.array([1.0 / (i + 1) for i in range(5000)], dtype=np.float32).astype(np.float64)
    assert loss.values.tolist() == want.tolist()
    assert acc.steps.tolist() == list(range(0, 5000, 100))
    assert set(wide.metrics) == {"train/loss", "val/acc", "hparam/best"}
    shown = lab("show", str(wide.id)).output
    assert f"imported  from tensorboard {logdir}" in shown


def test_importing_again_updates_the_same_runs(project: Path, tmp_path_factory) -> None:
    logdir = tmp_path_factory.mktemp("tb")
    write_logs(logdir, points=200)
    assert lab("import", "tensorboard", str(logdir), "-q").exit_code == 0
    before = {name: r.id for name, r in runs_by_name(project).items()}
    assert lab("note", "kept across imports", "--run", str(before["wide"])).exit_code == 0
    again = lab("import", "tensorboard", str(logdir), "-q")
    assert again.exit_code == 0 and "(0 new, 2 updated)" in again.output
    after = runs_by_name(project)
    assert {name: r.id for name, r in after.items()} == before
    assert after["wide"].metrics["train/loss"].count == 200
    with Notebook.open(project) as nb:
        assert [n.text for n in nb.journal.notes(run_id=before["wide"])] == ["kept across imports"]


def test_imported_runs_compare_with_native_ones(project: Path, tmp_path_factory) -> None:
    import labbook

    logdir = tmp_path_factory.mktemp("tb")
    write_logs(logdir, points=50)
    assert lab("import", "tensorboard", str(logdir), "-q").exit_code == 0
    with labbook.init(name="native") as run:
        for i in range(50):
            run.log({"train/loss": 2.0 / (i + 1)}, step=i)
    result = lab("compare", "1", str(run.id), "--metric", "train/loss")
    assert result.exit_code == 0 and "train/loss" in result.output, result.output


def test_a_file_cut_mid_record_imports_up_to_the_cut_and_says_so(project: Path, tmp_path_factory) -> None:
    logdir = tmp_path_factory.mktemp("tb")
    write_logs(logdir, points=300)
    (event,) = (logdir / "baseline").glob("events.out.tfevents.*")
    data = event.read_bytes()
    event.write_bytes(data[: len(data) * 2 // 3])
    result = lab("import", "tensorboard", str(logdir), "-q")
    assert result.exit_code == 0, result.output
    assert f"skipped {event}: cut off mid-record after byte" in result.output
    count = runs_by_name(project)["baseline"].metrics["train/loss"].count
    assert 100 < count < 300


@pytest.mark.parametrize("case", ["missing", "empty", "garbage"])
def test_sources_with_nothing_to_import_are_one_line_exit_2(
    project: Path, tmp_path_factory, case: str
) -> None:
    logdir = tmp_path_factory.mktemp("tb")
    if case == "missing":
        logdir = logdir / "nope"
    if case == "garbage":
        (logdir / "run").mkdir()
        (logdir / "run" / "events.out.tfevents.123.host").write_bytes(b"not an event file at all" * 10)
    result = lab("import", "tensorboard", str(logdir), "-q")
    message = {
        "missing": "is not a directory",
        "empty": "no TensorBoard event files",
        "garbage": "nothing could be imported",
    }[case]
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, (
        result.output
    )
    with Notebook.open(project) as nb:
        assert nb.list_runs()[1] == 0
