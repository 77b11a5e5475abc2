"""lab papers: import and merge, triage, weekly target, guesses scored by calibration, export."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pexpect
import pytest
from sklearn.metrics import mean_absolute_percentage_error

from labbook.core import scoring
from labbook.errors import NotFound
from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc
from .helpers_papers import FIX, stored


def import_all() -> list[str]:
    outs = []
    for name in ("zotero.json", "library.bib", "endnote.ris", "arxiv-search.xml"):
        result = lab("papers", "import", str(FIX / name))
        assert result.exit_code == 0, result.output
        outs.append(result.output)
    return outs


def papers_json(*args: str) -> list[dict]:
    result = lab("papers", "ls", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_imports_every_format_and_merges_duplicates_across_them(project: Path) -> None:
    zotero, bib, ris, atom = import_all()
    assert zotero.splitlines()[:2] == [
        "zotero.json (csl-json): 3 added, 0 merged into papers already here, 1 skipped",
        "  skipped  item 4 (http://zotero.org/users/local/abc123/items/NOTITLE1): no title",
    ]
    assert bib.splitlines()[:6] == [
        "library.bib (bibtex): 4 added, 3 merged into papers already here, 2 skipped",
        "  merged   line 4 (bottou2018optimization) → R1 (same DOI)",
        "  merged   line 26 (hu2021lora) → R2 (same arXiv id)",
        "  merged   line 56 (kaplan2020scaling) → R6 (same title)",  # a duplicate inside the file
        "  skipped  line 44 (untitled-draft): no title",
        "  skipped  line 63 '@article{broken2023,': not valid BibTeX (unbalanced braces or quotes?)",
    ]
    assert ris.splitlines()[:2] == [
        "endnote.ris (ris): 1 added, 1 merged into papers already here, 2 skipped",
        "  merged   line 1 → R5 (same title)",  # accents and case differ from the BibTeX title
    ]
    assert "  merged   entry 1 (2106.09685v1) → R2 (same arXiv id)" in atom  # v1 vs v2 vs none
    papers = papers_json()
    assert len(papers) == 10 and len({p["title"].casefold() for p in papers}) == 10
    lora = next(p for p in papers if p["arxiv"] == "2106.09685")
    # first seen in Zotero: its fields stay; the BibTeX key filled a gap
    assert lora["ref"] == "R2" and lora["source"] == "csl-json" and lora["key"] == "hu2021lora"
    assert (
        lora["abstract"].startswith("We propose Low-Rank Adaptation")
        and lora["authors"][0] == "Hu, Edward J."
    )
    kaplan = next(p for p in papers if p["ref"] == "R6")
    assert kaplan["arxiv"] == "2001.08361"  # filled in from the duplicate later in the same file
    again = lab("papers", "import", str(FIX / "library.bib"))
    assert again.output.startswith("library.bib (bibtex): 0 added, 7 merged")
    assert len(papers_json()) == 10


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        (
            "not-really.bib",
            [],
            "error: not-really.bib is not BibTeX (no @type{key, ...} entry found): line 1",
        ),
        (
            "not-really.ris",
            [],
            "error: not-really.ris is not RIS (it must start with a 'TY  - ' line): line 1",
        ),
        ("truncated.xml", [], "error: truncated.xml is not arXiv Atom XML: malformed XML at line 6"),
        ("rss.xml", [], "error: rss.xml is not an arXiv Atom feed: its root element is <rss>"),
        ("broken.json", [], "error: broken.json is not CSL-JSON: invalid JSON at line 3"),
        ("library.bib", ["--format", "ris"], "error: library.bib is not RIS"),
        (
            "library.bib",
            ["--strict"],
            "error: library.bib, line 44 (untitled-draft): no title (without --strict",
        ),
        (
            "zotero.json",
            ["--strict"],
            "error: zotero.json, item 4 (http://zotero.org/users/local/abc123/items",
        ),
    ],
)
def test_bad_files_are_refused_whole(project: Path, name: str, extra: list[str], message: str) -> None:
    lab("papers", "import", str(FIX / "arxiv-search.xml"))
    before = stored(project)
    result = lab("papers", "import", str(FIX / name), *extra)
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1
    assert stored(project) == before


def test_undecodable_and_unknown_extension(project: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.bib"
    latin.write_bytes("@article{a, title={Sch\xf6lkopf}}".encode("latin-1"))
    result = lab("papers", "import", str(latin))
    assert (
        result.exit_code == 2
        and result.output
        == "error: latin1.bib is not UTF-8 text (at byte offset 22); export it again as UTF-8\n"
    )
    txt = tmp_path / "refs.txt"
    txt.write_text("TY  - JOUR\nTI  - A title\nER  - \n")
    result = lab("papers", "import", str(txt))
    assert result.exit_code == 2 and "cannot tell the format of refs.txt" in result.output
    assert lab("papers", "import", str(txt), "--format", "ris").output.startswith("refs.txt (ris): 1 added")


def test_add_by_hand_and_duplicates(project: Path) -> None:
    out = lab(
        "papers",
        "add",
        "--arxiv",
        "2106.09685v2",
        "--title",
        "LoRA",
        "--author",
        "Hu, Edward J.",
        "--year",
        "2021",
    )
    assert out.exit_code == 0 and out.output == "R1: LoRA\n"
    before = stored(project)
    for args, message in [
        (
            ["--arxiv", "2106.09685", "--title", "Another title"],
            "already in the notebook as R1 (same arXiv id)",
        ),
        (["--title", "lora!"], "already in the notebook as R1 (same title)"),
        (["--title", "   "], "a paper needs a title"),
        (["--title", "X", "--arxiv", "not-an-id"], "--arxiv 'not-an-id' is not an arXiv id"),
        (["--title", "X", "--doi", "nope"], "--doi 'nope' is not a DOI"),
    ]:
        result = lab("papers", "add", *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    assert stored(project) == before
    shown = json.loads(
        lab("papers", "show", "2106.09685v1", "--json").output
    )  # found by arXiv id, any version
    assert shown["ref"] == "R1" and shown["source"] == "manual" and shown["authors"] == ["Hu, Edward J."]


def test_show_finds_by_key_and_doi_and_refuses_unknown(project: Path) -> None:
    import_all()
    assert lab("papers", "show", "he2016deep").output.startswith("R4  Deep Residual Learning")
    assert lab("papers", "show", "https://doi.org/10.1109/CVPR.2016.90").output.startswith("R4  ")
    for ref in ("R99", "nokey"):
        result = lab("papers", "show", ref)
        assert (
            result.exit_code == 2
            and result.output.startswith("error: no paper")
            and result.output.count("\n") == 1
        )


def test_scripted_triage_and_the_weekly_target(project: Path) -> None:
    import_all()
    assert lab("papers", "target").output == "weekly triage target: 5-15 papers\n"
    ok = lab("papers", "triage", "R2", "--decision", "deep-read", "--kind", "recipe", "--changes", "yes")
    assert ok.exit_code == 0
    assert ok.output.startswith("R2: deep-read, training or fine-tuning recipe, changes my work: yes")
    assert lab("papers", "triage", "R1", "--decision", "drop").exit_code == 0  # a drop needs no kind
    week = json.loads(lab("papers", "ls", "--week", "--json").output)
    assert week["triaged"] == 2 and week["target"] == [5, 15] and week["untriaged"] == 8
    assert week["verdict"] == "below target: 3 more to reach 5"
    assert [p["ref"] for p in week["papers"]] == ["R2", "R1"]  # in the order triaged
    assert lab("papers", "target", "1-1").exit_code == 0
    text = lab("papers", "ls", "--week").output
    assert text.startswith("this week: 2 triaged, target 1-1: above target by 1")
    assert [p["ref"] for p in papers_json("--status", "deep-read")] == ["R2"]
    assert len(papers_json("--status", "untriaged")) == 8
    before = stored(project)
    for args, message in [
        (["R3", "--decision", "read"], "say what kind of output R3 is (--kind)"),
        (["R3", "--decision", "read", "--kind", "recipe"], "say what kind of output R3 is"),
        (["R99", "--decision", "drop"], "no paper R99"),
        (["R3"], "give --decision"),
    ]:
        result = lab("papers", "triage", *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    for bad in ("5", "x-y", "9-3", "0-0"):
        result = lab("papers", "target", bad)
        assert result.exit_code == 2 and "write a weekly range of papers like 5-15" in result.output
    assert stored(project) == before


def test_interactive_triage_walks_the_queue_and_saves_as_it_goes(project: Path) -> None:
    lab("papers", "import", str(FIX / "zotero.json"))
    # R1: read, kind 5 (optimisation), changes sometimes; R2: a typo, then drop; R3: leave it; then stop
    answers = "r\n5\ns\nxx\nd\nn\n"
    result = lab("papers", "triage", input=answers)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[1/3] R1  Optimization Methods for Large-Scale Machine Learning" in out
    assert "Bottou & Curtis & Nocedal, SIAM Review, 2018" in out and "This paper provides a review" in out
    assert "answer one of: d, deep, dr, n, q, r, s (or the full word)" in out
    assert out.rstrip().endswith("2 triaged now; this week 2, target 5-15: below target: 3 more to reach 5")
    by_ref = {p["ref"]: p for p in papers_json()}
    assert (by_ref["R1"]["status"], by_ref["R1"]["kind"], by_ref["R1"]["changes"]) == (
        "read",
        "optimisation",
        "sometimes",
    )
    assert by_ref["R2"]["status"] == "drop" and by_ref["R3"]["status"] == "untriaged"
    again = lab("papers", "triage", input="q\n")
    assert "[1/1] R3" in again.output and "0 triaged now" in again.output


def test_guesses_are_predictions_of_kind_paper_scored_by_calibration(project: Path) -> None:
    lab("papers", "import", str(FIX / "arxiv-search.xml"))
    guesses = [("R1", "GLUE avg", 88.0, 89.1), ("R2", "MMLU 5-shot", 60.0, 63.9), ("R3", "GSM8K", 50.0, 41.0)]
    for ref, metric, guess, _ in guesses:
        r = lab("papers", "guess", ref, "--metric", metric, "--value", str(guess))
        assert r.exit_code == 0 and r.output.startswith("P") and f"{metric}, guess {guess:g}" in r.output
    r = lab(
        "papers",
        "guess",
        "R1",
        "--metric",
        "params",
        "--value",
        "4.7",
        "--low",
        "1",
        "--high",
        "10",
        "--level",
        "0.9",
    )
    assert r.exit_code == 0 and "params, 90% in [1, 10], guess 4.7" in r.output
    for ref, metric, _, actual in guesses:
        r = lab("papers", "actual", ref, "--metric", metric, "--value", str(actual))
        assert r.exit_code == 0 and f"reported {actual:g}" in r.output
    r = lab("papers", "actual", "R1", "--metric", "params", "--value", "12")
    assert "outside your interval" in r.output
    lab("hyp", "add", "an unrelated hypothesis")
    lab("predict", "H1", "unrelated", "-p", "0.5")
    lab("resolve", "P5", "true")
    rep = json.loads(lab("calibration", "--kind", "paper", "--json").output)
    assert rep["considered"] == 4  # the lab prediction is not a paper guess
    g = np.array([x[2] for x in guesses])
    a = np.array([x[3] for x in guesses])
    assert rep["point"]["n"] == 3
    assert rep["point"]["relative_error"] == pytest.approx(mean_absolute_percentage_error(a, g))
    assert rep["point"]["within_10pct"] == pytest.approx(2 / 3)
    assert rep["numeric"]["n"] == 1 and rep["numeric"]["coverage"] == 0.0
    assert rep["numeric"]["interval_score"] == pytest.approx(scoring.interval_score([1], [10], [12], [0.9]))
    assert {row["kind"] for row in rep["slices"]["kind"]} == {"paper"}
    everything = json.loads(lab("calibration", "--json").output)
    assert everything["considered"] == 5 and {r["kind"] for r in everything["slices"]["kind"]} == {
        "paper",
        "binary",
    }
    text = lab("calibration", "--kind", "paper").output
    assert "guessed numbers: n=3" in text and "4 scored of 4 predictions" in text
    assert (
        "  P4  params, 90% in [1, 10], guess 4.7 → false (12), manual\n" in lab("papers", "show", "R1").output
    )
    shown = json.loads(lab("papers", "show", "R1", "--json").output)
    assert [p["metric"] for p in shown["predictions"]] == ["GLUE avg", "params"]
    assert all(p["paper"] == 1 and p["source"] == "paper" for p in shown["predictions"])


def test_a_guess_after_the_actual_is_late_and_bad_guesses_write_nothing(project: Path) -> None:
    lab("papers", "import", str(FIX / "arxiv-search.xml"))
    lab("papers", "guess", "R1", "--metric", "acc", "--value", "0.8")
    lab("papers", "actual", "R1", "--metric", "acc", "--value", "0.9")
    late = lab("papers", "guess", "R1", "--metric", "acc", "--value", "0.9")
    assert late.exit_code == 0 and "LATE" in late.output
    lab("papers", "actual", "R1", "--metric", "acc", "--value", "0.9")
    rep = json.loads(lab("calibration", "--kind", "paper", "--json").output)
    assert rep["late_excluded"] == 1 and rep["point"]["n"] == 1
    lab("papers", "guess", "R2", "--metric", "acc", "--value", "0.8")
    before = stored(project)
    for args, message in [
        (["guess", "R2", "--metric", "acc", "--value", "0.7"], "R2 already has an open guess on 'acc' (P3)"),
        (
            ["guess", "R2", "--metric", "f1", "--value", "0.7", "--low", "0.8", "--high", "0.9"],
            "must lie within",
        ),
        (["guess", "R2", "--metric", "f1", "--value", "0.7", "--low", "0.6"], "needs both --low and --high"),
        (
            [
                "guess",
                "R2",
                "--metric",
                "f1",
                "--value",
                "0.7",
                "--low",
                "0.6",
                "--high",
                "0.8",
                "--level",
                "1.2",
            ],
            "--level",
        ),
        (["guess", "R2", "--metric", " ", "--value", "1"], "--metric needs a name"),
        (["guess", "R2", "--metric", "f1", "--value", "nan"], "finite"),
        (["guess", "R9", "--metric", "f1", "--value", "1"], "no paper R9"),
        (
            ["actual", "R2", "--metric", "f1", "--value", "1"],
            "R2 has no open guess on 'f1' (guessed metrics: acc)",
        ),
        (["matters", "R2", "-p", "1.5", "--by", "2030-01-01"], "-p 1.5 is outside (0, 1)"),
        (["matters", "R2", "-p", "0", "--by", "2030-01-01"], "-p 0 is outside (0, 1)"),
        (["matters", "R2", "-p", "0.3", "--by", "2001-01-01"], "--by 2001-01-01 is not in the future"),
        (["matters", "R2", "-p", "0.3", "--by", "soon"], "--by 'soon' is not a date"),
    ]:
        result = lab("papers", *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, args
    assert stored(project) == before


def test_matters_comes_back_in_lab_due_on_its_date(project: Path) -> None:
    lab("papers", "import", str(FIX / "arxiv-search.xml"))
    r = lab("papers", "matters", "R2", "-p", "0.3", "--by", "2028-11-01")
    assert r.exit_code == 0 and r.output.startswith("P1: p=0.3, due 2028-11-01 — R2 (QLoRA")
    assert lab("due").output == "nothing is due\n"
    assert "  P1  p=0.3, due 2028-11-01 → open — R2 (QLoRA" in lab("papers", "show", "R2").output
    with Notebook.open(project) as nb:
        later = time.mktime((2028, 11, 2, 0, 0, 0, 0, 0, -1))
        due = nb.hypotheses.due(now=later)
    assert [(p.ref, reason) for p, reason in due] == [("P1", "due 2028-11-01")]
    assert due[0][0].source == "paper" and due[0][0].paper_id == 2
    assert lab("resolve", "P1", "true").exit_code == 0
    rep = json.loads(lab("calibration", "--kind", "paper", "--json").output)
    assert rep["binary"]["n"] == 1 and rep["binary"]["brier"] == pytest.approx(0.49)


def test_export_reads_back_into_a_new_notebook(project: Path, tmp_path: Path) -> None:
    import_all()
    lab("papers", "triage", "R2", "--decision", "read", "--kind", "recipe", "--changes", "no")
    out = tmp_path / "refs.bib"
    assert lab("papers", "export", "-o", str(out)).output == f"wrote 10 papers to {out}\n"
    assert lab("papers", "export", "-o", str(tmp_path / "read.bib"), "--status", "read").output.endswith(
        "wrote 1 paper to " + str(tmp_path / "read.bib") + "\n"
    )
    other = tmp_path / "other"
    other.mkdir()
    assert lab_proc("init", cwd=other).returncode == 0
    proc = lab_proc("papers", "import", str(out), cwd=other)
    assert proc.returncode == 0 and proc.stdout.startswith(
        "refs.bib (bibtex): 10 added, 0 merged into papers already here, 0 skipped"
    )
    mine = papers_json()
    theirs = json.loads(lab_proc("papers", "ls", "--json", cwd=other).stdout)
    for a, b in zip(mine, theirs, strict=True):
        assert (a["title"], a["authors"], a["year"], a["doi"], a["arxiv"]) == (
            b["title"],
            b["authors"],
            b["year"],
            b["doi"],
            b["arxiv"],
        )


def test_ls_table_and_empty_states(project: Path) -> None:
    assert lab("papers", "ls").output == "no papers; lab papers import FILE\n"
    assert lab("papers", "triage").output == "the queue is empty: nothing to triage\n"
    lab("papers", "import", str(FIX / "library.bib"))
    lines = lab("papers", "ls").output.splitlines()
    assert lines[0].split() == ["id", "status", "kind", "changes", "year", "authors", "title"]
    assert lines[2].split()[:3] == ["R1", "untriaged", "2018"] and "Bottou et al." in lines[2]
    assert "Kaplan et al." in lines[6]  # BibTeX's "and others"


def test_upgrading_a_v5_notebook_keeps_its_predictions(tmp_path: Path) -> None:
    from labbook.store.sqlite import migrations
    from labbook.store.sqlite.connection import connect
    from labbook.store.sqlite.store import SQLiteStore

    db = tmp_path / "labbook.db"
    conn = connect(db)
    migrations.migrate(conn, target=5)
    conn.execute(
        "INSERT INTO hypotheses (uid, text, problem, created_at) VALUES ('h', 'old', 'conditioning', 1.0)"
    )
    conn.execute(
        "INSERT INTO predictions (uid, hyp_id, text, kind, p, created_at) VALUES ('p', 1, 'old guess', 'binary', 0.7, 2.0)"
    )
    conn.close()
    store = SQLiteStore(db)  # opening migrates
    assert migrations.version(store.db.conn) == migrations.LATEST
    (pred,) = store.research.list_predictions()
    assert (pred.text, pred.p, pred.paper_id) == ("old guess", 0.7, None)
    hyp = store.research.get_hypothesis(1)
    assert hyp is not None and hyp.problem == "conditioning" and hyp.problem_id is None  # free text stays
    assert store.papers.list_papers() == [] and store.problems.list_problems() == []
    store.close()


def test_a_reused_key_names_two_papers(project: Path, tmp_path: Path) -> None:
    bib = tmp_path / "merged.bib"
    bib.write_text(
        "@article{smith20, title={Sparse Attention}}\n@article{smith20, title={Dense Attention}}\n"
    )
    assert lab("papers", "import", str(bib)).output.startswith("merged.bib (bibtex): 2 added, 0 merged")
    result = lab("papers", "show", "smith20")
    assert (
        result.exit_code == 2 and result.output == "error: 'smith20' names 2 papers (R1, R2); use the R id\n"
    )
    out = tmp_path / "out.bib"
    lab("papers", "export", "-o", str(out))
    assert "@article{smith20," in out.read_text() and "@article{smith20a," in out.read_text()


def test_weeks_start_on_monday_local_time() -> None:
    from datetime import datetime

    from labbook.service.papers import week_bounds

    wednesday = datetime(2026, 11, 25, 15, 30).timestamp()
    start, end = week_bounds(wednesday)
    assert datetime.fromtimestamp(start) == datetime(2026, 11, 23, 0, 0)
    assert datetime.fromtimestamp(end) == datetime(2026, 11, 30, 0, 0)
    assert week_bounds(start) == (start, end)  # Monday midnight belongs to its own week


def test_listing_papers_does_not_load_the_bibtex_parser(project: Path) -> None:
    lab("papers", "import", str(FIX / "zotero.json"))
    code = (
        "import sys; from labbook.cli import main; sys.argv = ['lab', 'papers', 'ls']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'bibtexparser' in sys.modules)"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=project
    )
    assert "R1 " in out.stdout and out.stdout.strip().endswith("LOADED False")


def test_relative_error_matches_scikit_learn_and_refuses_zero() -> None:
    from labbook.errors import BadInput

    rng = np.random.default_rng(3)
    actual = rng.uniform(-5, 5, 50)
    guess = actual + rng.normal(0, 1, 50)
    assert scoring.relative_error(guess, actual) == pytest.approx(
        mean_absolute_percentage_error(actual, guess)
    )
    with pytest.raises(BadInput, match="an actual value is 0"):
        scoring.relative_error([1.0, 2.0], [1.0, 0.0])
    with pytest.raises(BadInput):
        scoring.relative_error([1.0], [1.0, 2.0])


def test_interactive_triage_in_a_real_terminal(project: Path) -> None:
    """The triage loop over a pseudo-terminal, as over ssh: prompts shown, each answer saved at once."""
    lab("papers", "import", str(FIX / "zotero.json"))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "labbook", "papers", "triage"],
        cwd=str(project),
        env=dict(os.environ, TERM="xterm"),
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=20,
    )
    child.expect(r"\[1/3\] R1  Optimization Methods")
    child.expect("decision: ")
    child.sendline("dr")
    child.expect("kind of output: ")
    child.sendline("2")
    child.expect("changes my work this quarter")
    child.sendline("y")
    child.expect(r"\[2/3\] R2")
    child.expect("decision: ")
    assert papers_json()[0]["status"] == "deep-read"  # saved before the session ends
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    by_ref = {p["ref"]: p for p in papers_json()}
    assert (by_ref["R1"]["kind"], by_ref["R1"]["changes"]) == ("recipe", "yes")
    assert by_ref["R2"]["status"] == "untriaged"


STRINGS_BIB = (
    '@string{jmlr = "Journal of Machine Learning Research"}\n'
    '@string{icml = "Proceedings of " # "ICML"}\n'
    '@string{icml21 = icml # " 2021"}\n'
)
REFS_BIB = (
    "@article{srivastava2014dropout, title = {Dropout: A Simple Way to Prevent Neural Networks from"
    " Overfitting}, author = {Srivastava, Nitish and Hinton, Geoffrey}, journal = jmlr, year = 2014, month = jun}\n"
    "@inproceedings{radford2021clip, title = {Learning Transferable Visual Models From Natural Language"
    " Supervision}, booktitle = icml21, year = 2021, eprint = {2103.00020}}\n"
    "@article{draft2024, title = {A Draft Nobody Finished}, journal = tmlr}\n"
)
NO_TMLR = "undefined macro tmlr in journal: no @string{tmlr = ...} in this file or in one imported before it"


def bib_files(tmp_path: Path, **files: str) -> list[Path]:
    paths = []
    for stem, text in files.items():
        paths.append(tmp_path / f"{stem}.bib")
        paths[-1].write_text(text, encoding="utf-8")
    return paths


def test_several_files_are_one_import_and_macros_reach_the_files_after(project: Path, tmp_path: Path) -> None:
    strings, refs = bib_files(tmp_path, strings=STRINGS_BIB, refs=REFS_BIB)
    result = lab("papers", "import", str(strings), str(refs), str(FIX / "zotero.json"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "strings.bib (bibtex): 3 @string macros for the files after it",
        "refs.bib (bibtex): 2 added, 0 merged into papers already here, 1 skipped",
        f"  skipped  line 3 (draft2024): {NO_TMLR}",
        "zotero.json (csl-json): 3 added, 0 merged into papers already here, 1 skipped",
        "  skipped  item 4 (http://zotero.org/users/local/abc123/items/NOTITLE1): no title",
        "3 files: 5 added, 0 merged into papers already here, 2 skipped",
        "Triage them: lab papers triage",
    ]
    venues = {p["key"]: p["venue"] for p in papers_json()}
    assert venues["srivastava2014dropout"] == "Journal of Machine Learning Research"
    assert venues["radford2021clip"] == "Proceedings of ICML 2021"
    assert "draft2024" not in venues and "tmlr" not in venues.values()
    # in the other order the macros come too late, as with \bibliography{refs,strings}
    late = lab("papers", "import", str(refs), str(strings), "--json")
    assert late.exit_code == 0, late.output
    report = json.loads(late.output)
    assert report["totals"] == {"added": 0, "merged": 0, "skipped": 3}
    assert [(f["file"], f["macros"]) for f in report["files"]] == [("refs.bib", 0), ("strings.bib", 3)]
    assert report["files"][0]["skipped"][0] == [
        "line 1 (srivastava2014dropout)",
        "undefined macro jmlr in journal: no @string{jmlr = ...} in this file or in one imported before it",
    ]
    again = lab("papers", "import", str(refs), str(strings)).output.splitlines()
    assert again[-2:] == [
        "strings.bib (bibtex): 3 @string macros and no file after it to use them (name it first)",
        "2 files: 0 added, 0 merged into papers already here, 3 skipped",
    ]
    assert len(papers_json()) == 5


def test_the_service_imports_several_files_in_one_go(project: Path, tmp_path: Path) -> None:
    strings, refs = bib_files(tmp_path, strings=STRINGS_BIB, refs=REFS_BIB)
    with Notebook.open(project) as nb:
        summary = nb.papers.import_files([strings, refs, FIX / "library.bib", FIX / "arxiv-search.xml"])
        got = [
            (r.file, r.format, r.macros, len(r.added), len(r.merged), len(r.skipped)) for r in summary.files
        ]
        assert got == [
            ("strings.bib", "bibtex", 3, 0, 0, 0),
            ("refs.bib", "bibtex", 0, 2, 0, 1),
            ("library.bib", "bibtex", 1, 6, 1, 2),  # its own @string siamrev
            ("arxiv-search.xml", "arxiv", 0, 2, 1, 1),
        ]
        assert (summary.total("added"), summary.total("merged"), summary.total("skipped")) == (10, 2, 4)
        # a duplicate of a paper added by an earlier file of the same import names its new id
        assert summary.files[3].merged == [("entry 1 (2106.09685v1)", "R5", "same arXiv id")]
        with pytest.raises(NotFound, match="no paper 'draft2024'"):
            nb.papers.get("draft2024")  # skipped for its undefined macro, so never stored
    assert len(papers_json()) == 10


def test_a_missing_or_broken_file_among_several_imports_nothing(project: Path, tmp_path: Path) -> None:
    (refs,) = bib_files(tmp_path, refs=REFS_BIB)
    missing = tmp_path / "missing.bib"
    lab("papers", "import", str(FIX / "arxiv-search.xml"))
    before = stored(project)
    for files, message in [
        (
            [FIX / "library.bib", missing],
            f"error: cannot read {missing}: there is no such file; nothing was imported from the 2 files\n",
        ),
        (
            [FIX / "library.bib", FIX / "not-really.bib", refs],
            "error: not-really.bib is not BibTeX (no @type{key, ...} entry found): line 1 starts with '[';"
            " check --format; nothing was imported from the 3 files\n",
        ),
        (
            [FIX / "library.bib", tmp_path],
            f"error: cannot tell the format of {tmp_path.name} from its extension; add --format"
            " (bibtex, csl-json, ris, arxiv); nothing was imported from the 2 files\n",
        ),
        (
            [FIX / "library.bib", refs, "--strict"],
            "error: library.bib, line 44 (untitled-draft): no title (without --strict such entries are skipped);"
            " nothing was imported from the 2 files\n",
        ),
    ]:
        result = lab("papers", "import", *map(str, files))
        assert (result.exit_code, result.output) == (2, message)
    assert stored(project) == before
    proc = lab_proc("papers", "import", str(refs), str(missing), cwd=project)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert (
        proc.stderr
        == f"error: cannot read {missing}: there is no such file; nothing was imported from the 2 files\n"
    )
    assert stored(project) == before


def test_a_merged_paper_keeps_every_citation_key(project: Path, tmp_path: Path) -> None:
    first, second, a, b = bib_files(
        tmp_path,
        first="@misc{hu2021lora, title = {{LoRA}: Low-Rank Adaptation of Large Language Models}, eprint = {2106.09685}}\n",
        second=(
            "@article{lora, title = {LoRA: Low-Rank Adaptation of Large Language Models}}\n"
            "@misc{hu-lora-v2, title = {LoRA}, eprint = {2106.09685v2}}\n"
        ),
        a="@article{vaswani2017, title = {Attention Is All You Need}}\n",
        b="@inproceedings{attention, title = {Attention is all you need}, year = 2017}\n",
    )
    assert lab("papers", "import", str(first)).exit_code == 0
    out = lab("papers", "import", str(second)).output
    assert out.splitlines()[1:] == [
        "  merged   line 1 (lora) → R1 (same title)",
        "  merged   line 2 (hu-lora-v2) → R1 (same arXiv id)",
    ]
    lab("papers", "import", str(first))  # again under its own key: nothing new to keep
    for key in ("hu2021lora", "lora", "hu-lora-v2"):
        assert lab("papers", "show", key).output.startswith("R1  LoRA: Low-Rank Adaptation"), key
    shown = json.loads(lab("papers", "show", "lora", "--json").output)
    assert shown["key"] == "hu2021lora" and shown["citekeys"] == ["hu2021lora", "hu-lora-v2", "lora"]
    assert "  keys             hu2021lora, hu-lora-v2, lora\n" in lab("papers", "show", "R1").output
    # two files of one import that hold the same paper: one paper, both keys
    both = lab("papers", "import", str(a), str(b))
    assert "  merged   line 1 (attention) → R2 (same title)" in both.output
    assert json.loads(lab("papers", "show", "attention", "--json").output)["citekeys"] == [
        "vaswani2017",
        "attention",
    ]
    assert lab("papers", "show", "vaswani2017").output.startswith("R2  Attention Is All You Need")
    lab("papers", "add", "--title", "Typed In")
    typed = json.loads(lab("papers", "show", "R3", "--json").output)
    assert typed["key"] is None and typed["citekeys"] == []
    assert "key" not in lab("papers", "show", "R3").output
