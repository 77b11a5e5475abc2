"""Runs changed after the fact: ``lab tag``, ``lab rename``, ``lab rm`` / ``--undo``, ``lab gc``, ``lab archive``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import labbook
from labbook.service.notebook import Notebook

from .conftest import LAB, lab, wait_for


def make(config: dict[str, Any], acc: float, hypothesis: str | None = None) -> int:
    with labbook.init(config=config, hypothesis=hypothesis) as run:
        run.log({"acc": acc - 0.1}, step=0)
        run.log({"acc": acc}, step=1)
        return run.id


def ok(*args: str) -> str:
    result = lab(*args)
    assert result.exit_code == 0, result.output
    return result.output


def listed(*extra: str) -> list[int]:
    return [r["id"] for r in json.loads(ok("ls", "--json", *extra))]


def hyp_runs() -> list[int]:
    return [r["id"] for r in json.loads(ok("hyp", "show", "H1", "--json"))["runs"]]


def journal_kinds() -> list[tuple[str, str, str]]:
    return [(e["kind"], e["ref"], e["text"]) for e in json.loads(ok("journal", "--json"))]


def test_tags_are_added_and_removed_by_id_and_by_where_and_journaled(project: Path) -> None:
    a, b, c = make({"lr": 0.1}, 0.8), make({"lr": 0.2}, 0.7), make({"lr": 0.3}, 0.6)
    out = ok("tag", str(a), str(b), "+baseline", "+keep")
    assert out.splitlines() == [f"run {a} run-{a}: +baseline +keep", f"run {b} run-{b}: +baseline +keep"]
    assert ok("tag", str(a), "+baseline") == f"run {a} run-{a}: no change\n"  # already there: not journaled
    assert ok("tag", "--where", "lr >= 0.2", "-baseline", "+late").splitlines() == [
        f"run {b} run-{b}: +late -baseline",
        f"run {c} run-{c}: +late",
    ]
    assert listed("--where", "'baseline' in tags") == [a]
    assert listed("--where", "'late' in tags") == [c, b]
    edits = [k for k in journal_kinds() if k[0] in ("run-tagged", "run-untagged")]
    assert (("run-untagged", f"run {b}", f"run-{b} -baseline")) in edits
    assert len(edits) == 7  # 4 + 3 changes, the no-op left out


def test_bad_tags_change_nothing(project: Path) -> None:
    a = make({"lr": 0.1}, 0.8)
    for args, says in [
        ((str(a),), "give tags to add (+TAG) or remove (-TAG)"),
        ((str(a), "+two,tags"), "a tag is one word without commas"),
        ((str(a), "+x", "-x"), "tag 'x' is both added and removed"),
        (("+x",), "name the runs (ids, names) or select them with --where"),
        ((str(a), "999", "+x"), "no run '999' in this notebook"),  # checked before the first run changes
    ]:
        result = lab("tag", *args)
        assert result.exit_code == 2, (args, result.output)
        assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert json.loads(ok("show", str(a), "--json"))["tags"] == []


def test_rename_is_journaled_and_the_new_name_finds_the_run(project: Path) -> None:
    a = make({"lr": 0.1}, 0.8)
    assert ok("rename", str(a), "wide-net") == f"run {a}: (no name) → wide-net\n"
    assert ok("rename", "wide-net", "wider-net") == f"run {a}: wide-net → wider-net\n"
    assert json.loads(ok("show", "wider-net", "--json"))["id"] == a
    assert ("run-renamed", f"run {a}", "wide-net → wider-net") in journal_kinds()
    hits = json.loads(ok("search", "wider", "--json"))
    assert [h["id"] for h in hits if h["kind"] == "run"] == [a]
    for bad, says in [("12", "cannot be a number"), ("  ", "cannot be empty")]:
        result = lab("rename", str(a), bad)
        assert result.exit_code == 2 and says in result.output
    assert json.loads(ok("show", str(a), "--json"))["name"] == "wider-net"


def test_a_removed_run_is_hidden_from_every_reader_until_undone(project: Path) -> None:
    ok("hyp", "add", "wider nets help")
    a, b = make({"lr": 0.1}, 0.8, "H1"), make({"lr": 0.2}, 0.7, "H1")
    ok("rename", str(b), "doomed")
    ok("note", "doomed run looked odd", "--run", str(b))
    out = ok("rm", str(b))
    assert out.startswith(f"moved 1 run(s) to the trash: {b} doomed\n")
    assert listed() == [a]
    show = lab("show", str(b))
    assert show.exit_code == 2 and f"`lab rm --undo {b}` brings it back" in show.output
    assert lab("compare", str(a), str(b), "--metric", "acc").exit_code == 2
    assert [h for h in json.loads(ok("search", "doomed", "--json")) if h["kind"] == "run"] == []
    assert hyp_runs() == [a]
    assert not [e for e in journal_kinds() if e[0] == "run-started" and e[1] == f"run {b}"]
    assert ("run-removed", f"run {b}", "doomed") in journal_kinds()  # the removal itself is on record
    trash = json.loads(ok("rm", "--list", "--json"))
    assert [t["id"] for t in trash] == [b]
    assert ok("rm", "--undo") == f"restored 1 run(s): {b} doomed\n"
    assert listed() == [b, a]
    assert hyp_runs() == [a, b]


def test_undo_restores_the_last_removal_whole_or_the_runs_named(project: Path) -> None:
    ids = [make({"lr": x / 10}, 0.5) for x in range(1, 6)]
    ok("rm", str(ids[0]))
    ok("rm", "--where", "lr >= 0.3")  # one batch of three
    assert listed() == [ids[1]]
    assert ok("rm", "--undo").startswith("restored 3 run(s)")
    assert listed() == [ids[4], ids[3], ids[2], ids[1]]
    assert ok("rm", "--undo", str(ids[0])).startswith("restored 1 run(s)")
    bad = lab("rm", "--undo", str(ids[1]))
    assert bad.exit_code == 2 and "is not in the trash" in bad.output
    empty = lab("rm", "--undo")
    assert empty.exit_code == 2 and "the trash is empty" in empty.output


def test_removing_a_run_that_does_not_exist_removes_nothing(project: Path) -> None:
    a = make({"lr": 0.1}, 0.8)
    result = lab("rm", str(a), "404")
    assert (
        result.exit_code == 2
        and result.output == "error: no run '404' in this notebook; `lab ls` lists runs\n"
    )
    assert listed() == [a]
    bad_where = lab("rm", "--where", "lr >")
    assert bad_where.exit_code == 2 and listed() == [a]


def test_a_run_that_settled_a_prediction_is_kept_unless_forced_and_its_evidence_survives_gc(
    project: Path,
) -> None:
    ok("hyp", "add", "lr 0.1 reaches 0.75")
    ok("predict", "H1", "above 0.75", "-p", "0.8", "--metric", "acc", "--op", ">", "--value", "0.75")
    a = make({"lr": 0.1}, 0.8, "H1")
    other = make({"lr": 0.5}, 0.3)
    (pred,) = json.loads(ok("hyp", "show", "H1", "--json"))["predictions"]
    assert pred["resolution"]["outcome"] == "true"
    out = ok("rm", str(a), str(other))
    assert f"kept run {a} run-{a}: it is evidence for resolved P1 (--force removes it anyway)" in out
    assert listed() == [a]
    ok("rm", str(a), "--force")
    ok("gc")
    (after,) = json.loads(ok("hyp", "show", "H1", "--json"))["predictions"]
    assert after["resolution"] == pred["resolution"]  # outcome, value and the values it was scored on
    assert after["resolution"]["detail"]["values"] == [0.8]


def test_a_running_run_is_not_removed(project: Path) -> None:
    gate = project / "go"
    script = project / "wait.py"
    script.write_text(
        "import os, time\nprint('ready', flush=True)\n"
        f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
    )
    proc = subprocess.Popen([*LAB, "run", "--", sys.executable, str(script)], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: bool(listed("--where", "status == 'running'")), label="the run to start")
        (rid,) = listed()
        out = ok("rm", str(rid))
        assert out == f"kept run {rid} run-{rid}: it is running; remove it once it has ended\n"
        assert listed() == [rid]
    finally:
        gate.touch()
        proc.wait(timeout=120)


def test_gc_deletes_the_trash_and_its_files_and_never_gives_an_id_again(project: Path) -> None:
    a, b = make({"lr": 0.1}, 0.8), make({"lr": 0.2}, 0.7)
    ok("note", "b looked odd", "--run", str(b))
    with Notebook.open(project) as nb:
        folder = nb.run_dir(nb.get_run(b))
    assert folder.is_dir() and any(folder.rglob("*.lbm"))
    ok("rm", str(b))
    dry = ok("gc", "--dry-run")
    assert dry.startswith("would delete 1 run(s) from the trash") and folder.is_dir()
    done = json.loads(ok("gc", "--json"))
    assert [r["id"] for r in done["runs"]] == [b] and done["bytes_freed"] > 0
    assert not folder.exists()
    assert ok("rm", "--list") == "the trash is empty\n"
    assert ("run-deleted", f"run {b}", f"run-{b}") in journal_kinds()
    notes = [e for e in journal_kinds() if e[0] == "note"]
    assert notes == [("note", notes[0][1], "b looked odd")]  # the note stays, unlinked
    c = make({"lr": 0.3}, 0.6)
    assert c == b + 1 and listed() == [c, a]
    assert ok("gc") == "the trash is empty; nothing to delete\n"


def test_archived_runs_leave_listings_and_comparisons_unless_asked(project: Path) -> None:
    a = [make({"lr": 0.1, "seed": s}, 0.8 + s / 100) for s in range(3)]
    b = [make({"lr": 0.2, "seed": s}, 0.7 + s / 100) for s in range(3)]
    out = ok("archive", str(a[0]))
    assert out.startswith(f"archived 1 run(s): {a[0]} run-{a[0]}")
    assert a[0] not in listed() and a[0] in listed("--all")
    assert json.loads(ok("show", str(a[0]), "--json"))["id"] == a[0]  # still there by id
    cmp = json.loads(ok("compare", "lr=0.1", "lr=0.2", "--metric", "acc", "--json"))
    assert cmp["a"]["runs"] == a[1:] and cmp["a"]["excluded"] == {"archived": [a[0]]}
    everything = json.loads(ok("compare", "lr=0.1", "lr=0.2", "--metric", "acc", "--json", "--all"))
    assert everything["a"]["runs"] == a
    assert ok("archive", str(a[0])) == "no change: those runs are archived already\n"
    assert ok("archive", "--undo", str(a[0])).startswith("brought back 1 run(s)")
    assert a[0] in listed()
    kinds = [k[0] for k in journal_kinds()]
    assert kinds.count("run-archived") == 1 and kinds.count("run-unarchived") == 1
    assert len(b) == 3


def test_trash_does_not_slow_or_change_the_default_listing(project: Path) -> None:
    ids = [make({"lr": x / 100}, 0.5) for x in range(12)]
    ok("rm", "--where", "lr < 0.06")
    result = json.loads(ok("ls", "--json", "--limit", "3"))
    assert [r["id"] for r in result] == ids[:-4:-1]
    text = ok("ls", "--limit", "3")
    assert "3 of 6 runs shown" in text
    assert os.path.isdir(project / ".labbook")


def test_the_sdk_tags_and_renames_a_run_as_the_cli_does(project: Path) -> None:
    with labbook.init(tags=["draft"]) as run:
        assert run.tag("baseline", "ablation", remove=["draft"]) == (["baseline", "ablation"], ["draft"])
        assert run.tag("baseline") == ([], [])
        run.rename("wide-net")
        run.log({"acc": 0.5})
    shown = json.loads(ok("show", "wide-net", "--json"))
    assert shown["tags"] == ["ablation", "baseline"] and shown["id"] == run.id
    kinds = [k[0] for k in journal_kinds()]
    assert kinds.count("run-tagged") == 2 and kinds.count("run-untagged") == 1 and "run-renamed" in kinds
    with labbook.init() as other, pytest.raises(labbook.BadInput, match="one word without commas"):
        other.tag("two words")
