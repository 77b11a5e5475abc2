"""The terminal reviewer, driven through a real pseudo-terminal with keystrokes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc
from .test_failures import make_run, rows


def spawn(project: Path, sample: str) -> pexpect.spawn:
    env = dict(os.environ, TERM="xterm", LINES="24", COLUMNS="80")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "labbook", "failures", "review", sample],
        cwd=str(project),
        env=env,
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=20,
    )
    return child


def page_until(child: pexpect.spawn, pattern: str, seen: set[str]) -> None:
    """Press Enter at each new pager prompt until ``pattern`` shows."""
    while child.expect([r"-- more \((\d+)/", pattern]) == 0:
        if child.match.group(1) not in seen:  # an answered prompt is drawn again: count each once
            seen.add(child.match.group(1))
            child.send("\r")


def saved(project: Path, sample: str) -> dict[str, tuple[tuple[str, ...], str | None]]:
    with Notebook.open(project) as nb:
        return {i.ex_id: (tuple(sorted(i.piles)), i.note) for i in nb.failures.items(sample)}


def test_review_completes_piles_saves_each_answer_and_resumes(project: Path) -> None:
    make_run("a", rows(200))
    lab("failures", "sample", "a", "-n", "10", "--name", "s")
    with Notebook.open(project) as nb:
        order = [i.ex_id for i in nb.failures.items("s")]
    lab("failures", "tag", "s", order[9], "wrong-animal")  # a pile name that review will complete

    child = spawn(project, "s")
    child.expect(f"1/10 · {order[0]} · sample s")
    child.expect("piles>")
    child.send("wrong-an")
    child.send("\t")  # completes to the existing pile name
    child.send(" extra\r")
    child.expect("note>")
    child.send("said cat, meant dog\r")
    child.expect("saved: wrong-animal extra")
    assert saved(project, "s")[order[0]] == (("extra", "wrong-animal"), "said cat, meant dog")  # at once

    child.expect(f"2/10 · {order[1]}")
    child.expect("piles>")
    child.send("\r")  # skip
    child.expect(f"3/10 · {order[2]}")
    child.expect("piles>")
    child.send(":b\r")  # back
    child.expect(f"2/10 · {order[1]}")
    child.expect("piles>")
    child.send("odd\r")
    child.expect("note>")
    child.send("\r")
    child.expect(f"3/10 · {order[2]}")
    child.expect("piles>")
    child.send("bad name!\r")  # refused, the same example is asked again
    child.expect("pile name 'name!' is not allowed")
    child.expect(f"3/10 · {order[2]}")
    child.expect("piles>")
    child.send(":q\r")
    child.expect("3 of 10 examples of s are in piles")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    state = saved(project, "s")
    assert state[order[1]] == (("odd",), None)
    assert state[order[2]] == ((), None)

    again = spawn(project, "s")  # reopening resumes where the reviewer stopped
    again.expect(r"── (\d+)/10 · (\S+) ·")
    assert again.match.group(1) == "3" and again.match.group(2) == order[2]
    again.expect("piles>")
    again.sendeof()
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0


def test_review_pages_long_text_and_highlights_the_diff(project: Path) -> None:
    long_input = " ".join(f"word{i}" for i in range(900)) + " END-OF-TEXT"
    make_run(
        "a",
        [
            {
                "id": "long",
                "input": long_input,
                "output": "the cat sat",
                "target": "the dog sat",
                "correct": False,
            },
            {"id": "short", "input": "hi", "output": "yes", "target": "yes", "correct": True},
        ],
    )
    lab("failures", "sample", "a", "--name", "s")
    child = spawn(project, "s")
    child.expect(r"-- more \((\d+)/")
    assert "END-OF-TEXT" not in child.before  # the first screenful stops before the end
    seen = {child.match.group(1)}
    child.send("\r")
    page_until(child, "END-OF-TEXT", seen)
    page_until(child, r"\[-cat-\]", seen)
    assert len(seen) >= 3  # about 100 lines of text on a 24-line screen
    child.expect(r"\{\+dog\+\}")
    child.expect("piles>")
    child.send("typo\r")
    child.expect("note>")
    child.send("one word off\r")
    child.expect("1 of 1 examples of s are in piles")
    child.expect(pexpect.EOF)
    child.close()
    assert saved(project, "s") == {"long": (("typo",), "one word off")}


def test_review_without_a_terminal_points_to_tag(project: Path) -> None:
    make_run("a", rows(50))
    lab("failures", "sample", "a", "--name", "s")
    proc = lab_proc("failures", "review", "s", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: lab failures review needs a terminal; in a script use lab failures tag s EXAMPLE_ID PILE..."
    )
    assert lab_proc("failures", "review", "nope", cwd=project).returncode == 2


def test_word_diff_marks_what_changed() -> None:
    from labbook.cli.review import word_diff

    assert word_diff("the cat sat on it", "the dog sat on it") == "the [-cat-]{+dog+} sat on it"
    assert word_diff("Sydney", "Canberra") == "[-Sydney-]{+Canberra+}"
    assert word_diff("same", "same") == "same"
