"""The terminal reviewer: one example at a time, sorted into named piles.

It needs nothing but a terminal (works over ssh, in tmux, in a plain xterm): the example
is printed as wrapped text, paged when longer than the screen, and the answer is read
with prompt_toolkit, whose completer offers the pile names already used. Each answer is
written before the next example is shown, and the position is remembered, so quitting
(or losing the connection) costs nothing and reopening resumes.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput, LabbookError
from labbook.records.examples import ItemRow
from labbook.service.failures import check_name

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

FIRST = ("input", "prompt", "question", "output", "prediction", "target", "label", "answer")
HELP = (
    "piles> pile names separated by spaces (Tab completes), then Enter; a note may follow.\n"
    "        Enter alone: skip (keeps any piles)   :b or <  back   :q or Ctrl-D  quit   ?  this help"
)


class Style:
    """ANSI styles, or none when NO_COLOR is set or the terminal is dumb."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text


def word_diff(output: str, target: str) -> str:
    """``output`` turned into ``target`` word by word: [-removed-] and {+added+}."""
    tokens = re.compile(r"\s+|\w+|[^\w\s]")
    a, b = tokens.findall(output), tokens.findall(target)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
            continue
        if i2 > i1:
            out.append("[-" + "".join(a[i1:i2]) + "-]")
        if j2 > j1:
            out.append("{+" + "".join(b[j1:j2]) + "+}")
    return "".join(out)


_REMOVED = re.compile(r"\[-.*?-\]")
_ADDED = re.compile(r"\{\+.*?\+\}")


def colour_diff(line: str, style: Style) -> str:
    """Colour the markers of a wrapped diff line (the markers stay, for terminals without colour)."""
    line = _REMOVED.sub(lambda m: style(m.group(0), "1;31"), line)
    return _ADDED.sub(lambda m: style(m.group(0), "1;32"), line)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        lines += textwrap.wrap(para, width, replace_whitespace=False, drop_whitespace=False) or [""]
    return ["  " + line for line in lines]


def layout(item: ItemRow, position: int, size: int, sample: str, width: int, style: Style) -> list[str]:
    """The lines that show one example: long fields as wrapped blocks, short ones on one line."""
    head = f"── {position + 1}/{size} · {item.ex_id} · sample {sample} "
    lines = [style(head + "─" * max(0, width - len(head)), "1")]
    data = dict(item.data or {})
    if item.data is None:
        lines.append("  (this example is no longer in the run)")
    data.pop("id", None)
    keys = [k for k in FIRST if k in data] + [k for k in data if k not in FIRST]
    short: list[str] = []
    inner = max(20, width - 2)
    for key in keys:
        text = _text(data[key])
        if "\n" in text or len(text) > 40 or key in FIRST:
            lines.append(style(key, "1;36"))
            lines += _wrap(text, inner)
        else:
            short.append(f"{key}: {text}")
    out, tgt = data.get("output", data.get("prediction")), data.get("target", data.get("label"))
    if isinstance(out, str) and isinstance(tgt, str) and out != tgt:
        lines.append(style("diff output → target", "1;36"))
        lines += [colour_diff(line, style) for line in _wrap(word_diff(out, tgt), inner)]
    if short:
        lines += _wrap("   ".join(short), inner)
    if item.piles:
        lines.append(f"{style('piles', '1;33')}: {' '.join(item.piles)}   (Enter keeps them)")
    if item.note:
        lines.append(f"{style('note', '1;33')}: {item.note}")
    return lines


def review(nb: Notebook, name: str) -> None:
    """Review sample ``name`` interactively until it is done or the reviewer quits."""
    sample = nb.failures.get(name)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput(
            f"lab failures review needs a terminal; in a script use lab failures tag {sample.name} EXAMPLE_ID PILE..."
        )
    os.environ.setdefault("PROMPT_TOOLKIT_NO_CPR", "1")  # some ssh/serial terminals never answer
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter

    items = nb.failures.items(sample.name)
    if not items:
        raise BadInput(f"sample {sample.name} is empty")
    pos = sample.cursor
    if pos >= len(items):
        todo = [i for i, item in enumerate(items) if not item.piles]
        if not todo:
            print(f"Every example of {sample.name} is in a pile. See them: lab failures piles {sample.name}")
            return
        pos = todo[0]
    style = Style(os.environ.get("NO_COLOR") is None and os.environ.get("TERM", "") != "dumb")
    names = nb.failures.pile_names()
    session: PromptSession[str] = PromptSession()
    print(HELP)
    while 0 <= pos < len(items):
        item = items[pos]
        cols, rows = shutil.get_terminal_size((80, 24))
        if not _page(session, layout(item, pos, len(items), sample.name, cols - 1, style), rows):
            break
        try:
            answer = session.prompt(
                "piles> ", completer=WordCompleter(sorted(names), WORD=True), complete_while_typing=True
            ).strip()
        except (EOFError, KeyboardInterrupt):
            break
        if answer in (":q", ":quit"):
            break
        if answer in (":b", "<"):
            pos = max(0, pos - 1)
            nb.failures.move(sample, pos)
            continue
        if answer == "?":
            print(HELP)
            continue
        if answer:
            try:
                piles = [check_name(p, "pile") for p in answer.split()]
                note = session.prompt("note> ", default=item.note or "")
                nb.failures.tag(sample.name, item.ex_id, piles, note.strip(), replace=True)
            except (EOFError, KeyboardInterrupt):
                break
            except LabbookError as err:
                print(f"error: {err}")
                continue
            items[pos] = ItemRow(
                item.position, item.ex_id, note.strip() or None, tuple(piles), item.correct, item.data
            )
            names = sorted(set(names) | set(piles))
            print(f"saved: {' '.join(piles)}")
        pos += 1
        nb.failures.move(sample, pos)
    done = sum(1 for item in items if item.piles)
    print(f"{done} of {len(items)} examples of {sample.name} are in piles. lab failures piles {sample.name}")


def _page(session: Any, lines: list[str], rows: int) -> bool:
    """Print ``lines`` a screenful at a time; False if the reviewer quits while paging."""
    step = max(5, rows - 3)
    for start in range(0, len(lines), step):
        print("\n".join(lines[start : start + step]))
        if start + step < len(lines):
            try:
                more = session.prompt(f"-- more ({start + step}/{len(lines)} lines): Enter, or s to stop -- ")
            except (EOFError, KeyboardInterrupt):
                return False
            if more.strip().lower() == "s":
                return True
    return True
