"""The JSON a command prints is exactly its views function's output: one source for every adapter."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import labbook
from labbook.service.notebook import Notebook
from labbook.views.tables import json_text

from .conftest import lab, lab_proc
from .helpers_papers import FIX

PY = sys.executable
VIEWS = Path(labbook.__file__).parent / "views"


@pytest.fixture
def filled(project: Path) -> Path:
    """A notebook with runs (SDK and lab run), hypotheses, predictions resolved and open, papers, tasks."""
    lab("hyp", "add", "scaling helps", "-t", "opt")
    lab("predict", "H1", "accuracy above 0.5", "-p", "0.7", "--metric", "acc", "--op", ">", "--value", "0.5")
    lab("predict", "H1", "it halves the loss", "-p", "0.4", "--due", "2020-01-01")
    lab("predict", "H1", "final loss lands here", "--low", "0.1", "--high", "0.4")
    for i, lr in enumerate((0.1, 0.01)):
        with labbook.init(config={"lr": lr}, name=f"r{i}", tags=["sweep"], hypothesis="H1") as run:
            for step in range(5):
                run.log({"acc": 0.2 * step * (1 - lr), "loss": float("nan") if step == 2 else 1 / (step + 1)})
    lab("resolve", "P2", "false")
    lab("resolve", "P3", "--value", "0.2")
    proc = lab_proc("run", "-q", "-n", "cli", "--", PY, "-c", "print('{\"acc\": 0.9}')", cwd=project)
    assert proc.returncode == 0, proc.stderr
    lab("hyp", "add", "a second idea")
    lab("papers", "import", str(FIX / "zotero.json"))
    lab("plan", "add", "profile the loader", "-p", "0.5", "--hours", "1")
    return project


def printed(*args: str) -> str:
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ls_json_is_the_runs_view(filled: Path) -> None:
    from labbook.views.runs import runs_list

    out = printed("ls", "--json")
    with Notebook.open(filled) as nb:
        runs, _ = nb.list_runs(limit=50)
    assert out == json_text(runs_list(runs)) + "\n"
    assert [r["name"] for r in runs_list(runs)] == ["cli", "r1", "r0"]


@pytest.mark.parametrize("ref", ["1", "cli"])
def test_show_json_is_the_run_detail_view(filled: Path, ref: str) -> None:
    from labbook.service.detail import run_files
    from labbook.views.runs import run_detail

    out = printed("show", ref, "--json")
    with Notebook.open(filled) as nb:
        run = nb.get_run(ref)
        patch = nb.blob(run.capture.get("patch")) or ""
        packages = nb.blob(run.capture.get("packages")) or ""
        view = run_detail(run, patch, packages, run_files(nb, run), nb.damage(run))
    assert out == json_text(view) + "\n"
    assert ("output.log" in view["files"]) == (ref == "cli")


def test_hyp_ls_json_is_the_hypotheses_view(filled: Path) -> None:
    from labbook.views.research import hypotheses_list

    out = printed("hyp", "ls", "--json")
    with Notebook.open(filled) as nb:
        nb.hypotheses.auto_resolve()
        view = hypotheses_list(nb.hypotheses.list())
    assert out == json_text(view) + "\n"
    assert [h["ref"] for h in view] == ["H1", "H2"] and view[0]["runs"] == [1, 2]


def test_calibration_json_is_the_report_view(filled: Path) -> None:
    from labbook.service.calibration import Filters, report
    from labbook.views.research import calibration_dict

    out = printed("calibration", "--json")
    with Notebook.open(filled) as nb:
        view = calibration_dict(report(nb, Filters(None, None, None, None, False), 10), None)
    assert out == json_text(view) + "\n"
    assert view["binary"]["n"] == 2 and view["numeric"]["n"] == 1 and view["figure"] is None


def test_today_json_is_the_agenda_view(filled: Path) -> None:
    from labbook.service.today import agenda
    from labbook.views.problems import agenda_dict

    out = printed("today", "--json")
    with Notebook.open(filled) as nb:
        view = agenda_dict(agenda(nb))
    assert out == json_text(view) + "\n"
    assert view["plan"]["lines"][0].startswith("next: T1  profile the loader")


def test_non_finite_values_are_spelled_out_by_the_view() -> None:
    """Strict JSON: NaN and infinities become strings, never bare tokens a parser rejects."""
    text = json_text({"a": float("nan"), "b": [float("inf"), -float("inf")], "c": "é"})
    assert text == '{\n  "a": "NaN",\n  "b": [\n    "Infinity",\n    "-Infinity"\n  ],\n  "c": "é"\n}'


@pytest.mark.parametrize("module", sorted(p.name for p in VIEWS.glob("*.py")))
def test_views_know_nothing_of_the_cli(module: str) -> None:
    """A web UI or a server imports views without click or the CLI coming along."""
    tree = ast.parse((VIEWS / module).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m == "click" or m.startswith(("click.", "labbook.cli"))}


# -- figures of a metric logged once per run ----------------------------------------------


def _final_scores(values_and_steps: list[tuple[float, int]], hypothesis: str | None = None) -> None:
    """Runs that log ``test_acc`` once, at their own last step, as an evaluation at the end does."""
    for seed, (value, step) in enumerate(values_and_steps):
        with labbook.init(config={"lr": 0.1, "seed": seed}, hypothesis=hypothesis) as run:
            run.log({"loss": 1.0}, step=0)
            run.log({"loss": 0.5, "test_acc": value}, step=step)


def _markers(ax) -> list:
    return [line for line in ax.lines if line.get_marker() == "o"]


def test_plot_draws_a_run_of_one_point_as_a_marker(project: Path) -> None:
    from labbook.service.curves import gather
    from labbook.views.plots import variant_figure

    _final_scores([(0.8, 9)])
    result = lab("plot", "test_acc", "-o", str(project / "acc.png"))
    assert result.exit_code == 0, result.output
    assert "1 line from 1 run (1 points)" in result.output and (project / "acc.png").stat().st_size > 0
    with Notebook.open(project) as nb:
        curves, _ = gather(nb, "test_acc")
    ax = variant_figure(curves, "test_acc").axes[0]
    (marker,) = _markers(ax)
    assert marker.get_xdata().tolist() == [9.0] and marker.get_ydata().tolist() == [0.8]
    assert marker.get_label() == curves[0].label and not ax.collections  # no band, no error bar


def test_plot_draws_the_mean_of_one_point_runs_with_its_error_bar(project: Path) -> None:
    """Seeds that each logged a final score at a different step still pool into one mean with a CI."""
    from labbook.service.curves import gather
    from labbook.views.plots import variant_figure

    _final_scores([(0.7, 9), (0.8, 10), (0.9, 11)])
    with Notebook.open(project) as nb:
        curves, _ = gather(nb, "test_acc")
        lines, _ = gather(nb, "loss")
    (curve,) = curves
    assert curve.n == 3 and curve.x.tolist() == [10.0] and curve.mean.tolist() == pytest.approx([0.8])
    ax = variant_figure(curves, "test_acc").axes[0]
    (marker,) = _markers(ax)
    assert marker.get_xdata().tolist() == [10.0] and marker.get_ydata().tolist() == pytest.approx([0.8])
    (bar,) = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"]
    ((_, low), (_, high)) = bar.get_segments()[0]
    assert (low, high) == pytest.approx((curve.low[0], curve.high[0])) and low < 0.8 < high
    # the curves of many points beside them are still lines
    (loss,) = variant_figure(lines, "loss").axes[0].lines
    assert loss.get_marker() == "None" and len(loss.get_xdata()) >= 2


def test_export_draws_runs_of_one_point_as_markers(project: Path) -> None:
    from labbook.views.export import run_series
    from labbook.views.plots import metric_figure

    assert lab("hyp", "add", "the final score is high").exit_code == 0
    _final_scores([(0.7, 9), (0.9, 11)], hypothesis="H1")
    out = project / "report" / "H1.md"
    result = lab("export", "H1", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert (
        "![test_acc](H1_files/test_acc.png)" in text and (out.parent / "H1_files" / "test_acc.png").is_file()
    )
    assert "| 1 |  | finished | 0.1 | 0 | 0.5 | 0.7 |" in text
    with Notebook.open(project) as nb:
        series = run_series(nb, nb.list_runs()[0], "test_acc")
    ax = metric_figure(series, "test_acc").axes[0]
    drawn = {(line.get_label(), tuple(line.get_xdata()), tuple(line.get_ydata())) for line in _markers(ax)}
    assert drawn == {("run 1", (9,), (0.7,)), ("run 2", (11,), (0.9,))}


# -- the duration of a run that has not ended -----------------------------------------------


def test_a_running_run_lasts_until_now_and_a_pending_one_has_no_duration(project: Path) -> None:
    """The heartbeat is seconds old at best and the start itself at first: neither is how long it has run."""
    import json
    import time

    run = labbook.init(name="live")
    with Notebook.open(project) as nb:
        started = nb.get_run(run.id).started_at
        nb.start_run(name="queued", pending=True)
    while time.time() < started + 0.3:  # the clock, not a sleep, decides when enough time has passed
        time.sleep(0.05)
    try:
        shown = json.loads(printed("show", "live", "--json"))
        elapsed = time.time() - started
        assert shown["status"] == "running" and 0.3 <= shown["duration"] <= elapsed
        listed = {r["name"]: r for r in json.loads(printed("ls", "--json"))}
        assert listed["live"]["duration"] >= 0.3 and listed["queued"]["duration"] is None
        table = printed("ls", "--columns", "name,status,duration")
        (seconds,) = re.findall(r"live\s+running\s+(\d+\.\d)s", table)
        assert float(seconds) >= 0.3
    finally:
        run.finish()
    ended = json.loads(printed("show", "live", "--json"))
    assert ended["duration"] == ended["ended_at"] - ended["started_at"]
