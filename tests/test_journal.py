"""Notes, evidence against, the timeline, full-text search and the Markdown write-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labbook

from .conftest import lab


def setup_story() -> None:
    lab("hyp", "add", "warmup stabilises large learning rates", "--tag", "opt")
    lab(
        "predict",
        "H1",
        "warmup run beats 0.8",
        "-p",
        "0.7",
        "--metric",
        "acc",
        "--op",
        ">",
        "--value",
        "0.8",
        "--runs",
        "2",
    )
    for seed, acc in ((0, 0.85), (1, 0.9)):
        with labbook.init(hypothesis="H1", name=f"warm-s{seed}", config={"seed": seed, "warmup": 500}) as run:
            for step in range(5):
                run.log({"acc": acc * (step + 1) / 5}, step=step)
    lab("note", "--against", "H1", "without warmup but lower lr, the gap disappears")
    lab("note", "curves are smooth after step 2", "-H", "H1", "--run", "1")
    lab("resolve", "H1", "--inconclusive", "--belief", "warmup matters only at lr above 1e-3")


def test_evidence_against_comes_first(project: Path) -> None:
    setup_story()
    shown = lab("hyp", "show", "H1").output
    assert shown.index("EVIDENCE AGAINST (1)") < shown.index("P1")
    assert "without warmup but lower lr" in shown
    notes = json.loads(lab("hyp", "show", "H1", "--json").output)["notes"]
    assert [(n["against"], n["run"]) for n in notes] == [(True, None), (False, 1)]


def test_journal_is_the_whole_timeline_in_order(project: Path) -> None:
    setup_story()
    events = json.loads(lab("journal", "--json").output)
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["hypothesis", "prediction"]
    for kind in (
        "run-started",
        "run-finished",
        "resolution",
        "evidence-against",
        "note",
        "hypothesis-resolved",
    ):
        assert kind in kinds, kind
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert kinds.index("resolution") > kinds.index("run-finished")  # P1 resolved when the runs finished
    text = lab("journal").output
    assert "!! evidence-against" in text and "warm-s1 python" not in text
    assert json.loads(lab("journal", "--json", "--since", "2999-01-01").output) == []


def test_search_ranks_and_quotes_safely(project: Path) -> None:
    setup_story()
    hits = json.loads(lab("search", "warmup", "--json").output)
    assert {(h["kind"], h["id"]) for h in hits} == {("hypothesis", 1), ("prediction", 1), ("note", 1)}
    assert [h["rank"] for h in hits] == sorted(h["rank"] for h in hits)
    assert all("[" in h["snippet"] for h in hits)
    assert json.loads(lab("search", "smooth", "--json").output)[0]["kind"] == "note"
    assert json.loads(lab("search", "stabil*", "--json").output)[0]["id"] == 1  # prefix
    assert json.loads(lab("search", "warm-s0", "--json").output)[0]["kind"] == "run"
    for weird in ('lr "', "AND OR", "(", "NEAR(", "*"):
        result = lab("search", weird)
        assert result.exit_code in (0, 2) and "Traceback" not in result.output
        assert result.output.count("\n") >= 1


def test_export_writes_markdown_with_figures(project: Path, tmp_path: Path) -> None:
    setup_story()
    out = tmp_path / "report" / "warmup.md"
    result = lab("export", "H1", "-o", str(out))
    assert result.exit_code == 0 and result.output == f"Wrote {out}\n"
    md = out.read_text()
    assert md.startswith("# H1: warmup stabilises large learning rates")
    assert md.index("## Evidence against") < md.index("## Predictions") < md.index("## Runs")
    assert "without warmup but lower lr" in md
    assert "| P1 | warmup run beats 0.8 |" in md and "before the first result" in md
    assert "true (0.875), auto" in md
    assert "| 1 | warm-s0 | finished | 0 | 500 | 0.85 |" in md
    assert "Inconclusive on" in md and "warmup matters only at lr above 1e-3" in md
    png = tmp_path / "report" / "warmup_files" / "acc.png"
    assert "![acc](warmup_files/acc.png)" in md and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["note", " "], "error: a note needs some text\n"),
        (
            ["note", "x", "--against", "H9"],
            "error: no hypothesis H9 in this notebook; `lab hyp ls` lists them\n",
        ),
        (["note", "x", "--against", "H1", "-H", "H1"], "error: give --against H or --hyp H, not both\n"),
        (["note", "x", "--run", "77"], "error: no run '77' in this notebook; `lab ls` lists runs\n"),
        (["search", "  "], "error: the search query is empty; give a word or two\n"),
        (
            ["export", "H1", "-o", "report.pdf"],
            "error: report.pdf should end in .md: the write-up is Markdown\n",
        ),
        (["export", "H4"], "error: no hypothesis H4 in this notebook; `lab hyp ls` lists them\n"),
        (["journal", "--since", "soon"], None),
    ],
)
def test_bad_input(project: Path, args: list[str], message: str | None) -> None:
    lab("hyp", "add", "h")
    before = lab("journal", "--json", "--since", "all").output
    result = lab(*args)
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    if message:
        assert result.output == message
    assert lab("journal", "--json", "--since", "all").output == before
