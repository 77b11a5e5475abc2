"""lab problems and lab ideas: the important-problems list, hypotheses linked to it, matching, rated ideas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import brier_score_loss

from .conftest import lab
from .helpers_papers import stored


def add_problem(title: str, why: str = "it matters", attack: str | None = None) -> str:
    args = ["problems", "add", title, "--why", why] + (["--attack", attack] if attack else [])
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.output.split(":")[0]


def test_problems_add_ls_show_edit_retire(project: Path) -> None:
    out = lab("problems", "add", "Long-context retrieval", "--why", "agents lose facts past 32k tokens")
    assert out.output.splitlines()[0] == "Q1: Long-context retrieval  (no angle of attack yet)"
    add_problem("Optimisation on badly scaled inputs", attack="diagonal preconditioning")
    listed = json.loads(lab("problems", "ls", "--json").output)
    assert [(p["ref"], p["status"], p["workable"]) for p in listed] == [
        ("Q1", "no attack yet", False),
        ("Q2", "workable", True),
    ]
    text = lab("problems", "ls").output
    assert "(none: not yet workable)" in text
    assert text.rstrip().endswith("note: 2 active problems: fewer than 10; what else matters in your field?")
    edited = lab(
        "problems", "edit", "Q1", "--attack", "synthetic needle tasks", "--note", "RULER covers this"
    )
    assert edited.output == "Q1: Long-context retrieval  [workable]\n"
    shown = lab("problems", "show", "Q1").output
    assert "attack  synthetic needle tasks" in shown and "  RULER covers this" in shown
    retired = lab("problems", "retire", "2", "--why", "solved well enough by Adam")
    assert retired.output.startswith("Q2 retired: Optimisation on badly scaled inputs")
    assert [p["ref"] for p in json.loads(lab("problems", "ls", "--json").output)] == ["Q1"]
    everything = json.loads(lab("problems", "ls", "--all", "--json").output)
    assert (
        everything[1]["status"] == "retired" and everything[1]["retired_why"] == "solved well enough by Adam"
    )


def test_active_count_warnings(project: Path) -> None:
    for i in range(10):
        add_problem(f"Problem number {i}")
    assert "note:" not in lab("problems", "ls").output
    for i in range(10, 21):
        add_problem(f"Problem number {i}")
    assert (
        lab("problems", "ls")
        .output.rstrip()
        .endswith("note: 21 active problems: more than 20; retire the ones you will not work on")
    )
    assert "20 active" not in lab("problems", "retire", "Q1").output  # back to 20: no warning
    assert "note:" not in lab("problems", "ls").output


def test_bad_problem_input_writes_nothing(project: Path) -> None:
    add_problem("Long-context retrieval")
    lab("problems", "retire", "Q1")
    add_problem("Data mixtures")
    before = stored(project)
    for args, message in [
        (
            ["problems", "add", "Data mixtures", "--why", "x"],
            "there is already a problem titled 'Data mixtures' (Q2)",
        ),
        (["problems", "add", "  ", "--why", "x"], "a problem needs a title"),
        (["problems", "add", "T", "--why", " "], "say why it matters"),
        (["problems", "add", "Q7", "--why", "x"], "looks like a problem id"),
        (["problems", "show", "Q9"], "no problem Q9 in this notebook"),
        (["problems", "show", "P1"], "'P1' is not a problem id; write it like Q3"),
        (["problems", "edit", "Q2"], "nothing to change"),
        (["problems", "edit", "Q2", "--title", "Long-context retrieval"], "Q1 already has the title"),
        (["problems", "retire", "Q1"], "Q1 is already retired"),
        (["hyp", "add", "h", "--problem", "Q9"], "no problem Q9"),
        (["hyp", "add", "h", "--problem", "Q1"], "Q1 is retired"),
        (["problems", "match", "?!"], "describe the tool, method or fact"),
        (["problems", "match", "x", "--limit", "0"], "--limit must be at least 1"),
        (["ideas", "add", "x", "--problem", "Q9"], "no problem Q9"),
    ]:
        result = lab(*args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    assert stored(project) == before


def test_hypotheses_link_to_problem_records_and_free_text_is_adopted(project: Path) -> None:
    # Before the problem exists, --problem is free text, as it always was.
    lab("hyp", "add", "Adam fixes it", "--problem", "optimisation on badly scaled inputs")
    h1 = json.loads(lab("hyp", "show", "H1", "--json").output)
    assert h1["problem"] == "optimisation on badly scaled inputs" and h1["problem_id"] is None
    out = lab(
        "problems", "add", "Optimisation on badly scaled inputs", "--why", "raw features", "--attack", "scale"
    )
    assert "linked H1, which named this problem" in out.output
    lab("hyp", "add", "Whitening fixes it", "--problem", "Q1")  # by id
    lab(
        "hyp", "add", "Preconditioning fixes it", "--problem", "optimisation ON badly scaled inputs "
    )  # by title
    lab("hyp", "add", "Unrelated", "--problem", "some other topic")
    hyps = {h["ref"]: h for h in json.loads(lab("hyp", "ls", "--json").output)}
    assert [hyps[r]["problem_id"] for r in ("H1", "H2", "H3", "H4")] == [1, 1, 1, None]
    assert hyps["H1"]["problem"] == "Optimisation on badly scaled inputs"  # adopted: the record's title
    assert hyps["H2"]["problem"] == "Optimisation on badly scaled inputs"
    assert json.loads(lab("problems", "show", "Q1", "--json").output)["hypotheses"] == ["H1", "H2", "H3"]
    assert "problem       Q1  Optimisation on badly scaled inputs" in lab("hyp", "show", "H2").output
    # A new title follows into the linked hypotheses, so calibration's --problem slice keeps them together.
    lab("problems", "edit", "Q1", "--title", "Conditioning")
    assert json.loads(lab("hyp", "show", "H3", "--json").output)["problem"] == "Conditioning"
    lab("problems", "link", "H4", "Q1")
    assert json.loads(lab("problems", "show", "Q1", "--json").output)["hypotheses"] == [
        "H1",
        "H2",
        "H3",
        "H4",
    ]


def test_match_ranks_by_what_the_problem_and_its_hypotheses_say(project: Path) -> None:
    add_problem("Long-context retrieval", why="agents forget facts beyond 32k tokens", attack="needle tests")
    add_problem("Sample-efficient RL fine-tuning", why="reward models are expensive", attack="offline data")
    add_problem("Evaluation contamination", why="benchmarks leak into pretraining corpora")
    add_problem("Retired one about attention sinks")
    lab("problems", "retire", "Q4")
    lab("hyp", "add", "Sparse attention keeps recall at 128k", "--problem", "Q1")
    lab("note", "ring attention and KV cache compression both look promising", "--hyp", "H1")
    lab("hyp", "add", "DPO matches PPO on our reward", "--problem", "Q2")
    result = lab("problems", "match", "a new KV cache compression method for attention", "--json")
    m = json.loads(result.output)
    assert [r["ref"] for r in m["ranked"]] == ["Q1"]  # only Q1 shares words; the retired Q4 is left out
    assert m["ranked"][0]["score"] > 0
    both = json.loads(lab("problems", "match", "reward benchmarks for attention", "--json").output)
    assert {r["ref"] for r in both["ranked"]} == {"Q1", "Q2", "Q3"}
    scores = [r["score"] for r in both["ranked"]]
    assert scores == sorted(scores, reverse=True)
    text = lab("problems", "match", "pretraining contamination detector").output
    assert text.splitlines()[2].split()[:2] == ["1", "Q3"] and "recorded as match #3" in text
    shown = lab("problems", "show", "Q1").output
    assert "considered in matches" in shown and "ranked 1: a new KV cache compression method" in shown
    none = lab("problems", "match", "quantum chemistry")
    assert (
        none.exit_code == 0
        and none.output == "no active problem shares a word with this (recorded as match #4)\n"
    )


def test_ideas_rated_and_raters_scored(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABBOOK_USER", "me")  # who rates when --rater is not given
    add_problem("Long-context retrieval")
    ratings = {
        "I1": ("worked", {"me": 0.8, "mentor": 0.4}),
        "I2": ("failed", {"me": 0.7, "mentor": 0.2}),
        "I3": ("worked", {"me": 0.3, "mentor": 0.6}),
        "I4": ("abandoned", {"me": 0.9}),
        "I5": (None, {"mentor": 0.5}),
    }
    for n, (ref, (outcome, by)) in enumerate(ratings.items(), 1):
        assert lab("ideas", "add", f"idea number {n}", "--problem", "Q1").output.startswith(
            f"{ref}: idea number {n}"
        )
        for rater, p in by.items():
            args = ["ideas", "rate", ref, "-p", str(p)] + (["--rater", rater] if rater != "me" else [])
            assert lab(*args).exit_code == 0
        if outcome:
            assert lab("ideas", "outcome", ref, outcome).output.startswith(f"{ref} {outcome}")
    scores = {s["rater"]: s for s in json.loads(lab("ideas", "raters", "--json").output)}
    me = [(0.8, 1), (0.7, 0), (0.3, 1)]
    mentor = [(0.4, 1), (0.2, 0), (0.6, 1)]
    for name, pairs in (("me", me), ("mentor", mentor)):
        y = [o for _, o in pairs]
        p = [q for q, _ in pairs]
        assert scores[name]["brier"] == pytest.approx(brier_score_loss(y, p))
        assert scores[name]["scored"] == 3
    assert scores["me"]["rated"] == 4 and scores["mentor"]["rated"] == 4
    text = lab("ideas", "raters").output.splitlines()
    assert text[2].split()[0] == "mentor"  # the better (lower) Brier first
    listed = lab("ideas", "ls").output
    assert "me=0.8 mentor=0.4" in listed and "abandoned" in listed
    assert json.loads(lab("problems", "show", "Q1", "--json").output)["ideas"] == [
        "I1",
        "I2",
        "I3",
        "I4",
        "I5",
    ]


def test_bad_idea_input_writes_nothing(project: Path) -> None:
    lab("ideas", "add", "distil the reward model")
    lab("ideas", "rate", "I1", "-p", "0.4", "--rater", "ana")
    lab("ideas", "add", "a finished idea")
    lab("ideas", "outcome", "I2", "failed")
    before = stored(project)
    for args, message in [
        (["ideas", "add", "Distil the  reward model"], "already written down as I1"),
        (["ideas", "add", " "], "an idea needs some text"),
        (["ideas", "rate", "I1", "-p", "1"], "-p 1 is outside (0, 1)"),
        (["ideas", "rate", "I1", "-p", "-0.2"], "-p -0.2 is outside (0, 1)"),
        (
            ["ideas", "rate", "I1", "-p", "0.5", "--rater", "ana"],
            "ana already rated I1 (p=0.4); ratings are final",
        ),
        (["ideas", "rate", "I2", "-p", "0.5"], "I2 already failed; a rating must come before the outcome"),
        (["ideas", "rate", "I9", "-p", "0.5"], "no idea I9"),
        (["ideas", "rate", "H1", "-p", "0.5"], "'H1' is not an idea id"),
        (["ideas", "outcome", "I2", "worked"], "I2 already has an outcome (failed)"),
    ]:
        result = lab(*args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    assert stored(project) == before
    assert lab("ideas", "outcome", "I1", "maybe").exit_code == 2


def test_calibration_slices_by_problem_record(project: Path) -> None:
    add_problem("Conditioning")
    lab("hyp", "add", "linked by id", "--problem", "Q1")
    lab("hyp", "add", "free text", "--problem", "something else")
    for hyp, p in (("H1", "0.8"), ("H2", "0.3")):
        lab("predict", hyp, "it works", "-p", p)
    lab("resolve", "P1", "true")
    lab("resolve", "P2", "false")
    by_id = json.loads(lab("calibration", "--problem", "Q1", "--json").output)
    assert by_id["considered"] == 1 and by_id["binary"]["brier"] == pytest.approx(0.04)
    by_text = json.loads(lab("calibration", "--problem", "something else", "--json").output)
    assert by_text["considered"] == 1 and by_text["binary"]["brier"] == pytest.approx(0.09)
    rows = json.loads(lab("calibration", "--json").output)["slices"]["problem"]
    assert [r["problem"] for r in rows] == ["Conditioning", "something else"]


def test_lab_search_finds_papers_problems_and_ideas(project: Path) -> None:
    from .helpers_papers import FIX

    lab("papers", "import", str(FIX / "zotero.json"))
    lab("papers", "import", str(FIX / "library.bib"))  # fills nothing searchable on R2, adds others
    add_problem("Cheap fine-tuning", why="a 7B model does not fit", attack="low-rank adapters")
    lab("problems", "edit", "Q1", "--note", "try rank decomposition on attention only")
    lab("ideas", "add", "decomposition of the MLP weights too")
    hits = json.loads(lab("search", "decomposition", "--json").output)
    assert {(h["kind"], h["id"]) for h in hits} == {("paper", 2), ("problem", 1), ("idea", 1)}
    out = lab("search", "Bottou").output
    assert out.split()[:2] == ["R1", "paper"] and "[Bottou], Léon; Curtis" in out
