"""The JSON a command prints is exactly its views function's output: one source for every adapter."""

from __future__ import annotations

import ast
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
    from labbook.cli.runs import run_files
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
