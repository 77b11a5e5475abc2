"""Failure samples, and the reviewer: one example at a time, sorted into piles by keyboard.

It mirrors the terminal reviewer (``lab failures review``): fields shown with the usual ones
first, a word diff of output against target, the position kept in the URL (``?at=N``, 1-based)
and on the server (the cursor), so reopening resumes. The writes are ``review.js``'s.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from labbook.service.notebook import Notebook
from labbook.views import failures as views
from labbook.web.app import notebook
from labbook.web.pages.frame import page

router = APIRouter(include_in_schema=False)
NB = Annotated[Notebook, Depends(notebook)]

#: Shown first, in this order, as the terminal reviewer does.
FIRST = ("input", "prompt", "question", "output", "prediction", "target", "label", "answer")
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
#: Past this many tokens a side, difflib's quadratic worst case costs more than the diff is worth.
DIFF_LIMIT = 5000


@router.get("/failures", response_class=HTMLResponse)
def samples(request: Request, nb: NB) -> HTMLResponse:
    """Every sample with how much of it is reviewed (``lab failures ls``)."""
    found = nb.failures.samples()
    rows = views.samples_list(found, {s.name: nb.failures.piles(s.name).reviewed for s in found})
    return page(request, "failures.html", "failures", "Failures", samples=rows)


def word_diff(output: str, target: str) -> list[tuple[str, str]] | None:
    """``output`` turned into ``target`` word by word as (same | del | ins, text); None if too long."""
    a, b = _TOKENS.findall(output), _TOKENS.findall(target)
    if max(len(a), len(b)) > DIFF_LIMIT:
        return None
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(b[j1:j2])))
    return out


def shown_fields(data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The example's fields, the usual ones first; anything not text as indented JSON.

    ``id`` is in the heading and a boolean ``correct`` is its badge, so neither repeats here.
    """
    data = {
        k: v for k, v in (data or {}).items() if k != "id" and not (k == "correct" and isinstance(v, bool))
    }
    keys = [k for k in FIRST if k in data] + [k for k in data if k not in FIRST]
    out = []
    for key in keys:
        value = data[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
        out.append({"key": key, "text": text, "long": "\n" in text or len(text) > 80})
    return out


def diff_of(data: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """The word diff when output and target are both text and differ, as the terminal shows it."""
    data = data or {}
    out, tgt = data.get("output", data.get("prediction")), data.get("target", data.get("label"))
    if isinstance(out, str) and isinstance(tgt, str) and out != tgt:
        return word_diff(out, tgt)
    return None


def start_at(cursor: int, items: list[dict[str, Any]]) -> int:
    """Where review resumes (1-based): the cursor, or past the end the first example in no pile."""
    if cursor < len(items):
        return cursor + 1
    todo = [i["position"] for i in items if not i["piles"]]
    return todo[0] if todo else len(items) + 1


def pile_keys(names: list[str], report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pile name with its number key (1-9) and its count in this sample."""
    counts = {p["pile"]: p["count"] for p in report["piles"]}
    return [
        {"key": i + 1 if i < 9 else None, "pile": name, "count": counts.get(name, 0)}
        for i, name in enumerate(names)
    ]


@router.get("/failures/diff", response_class=HTMLResponse)
def diff(
    request: Request, nb: NB, a: str = "", b: str = "", split: str = "eval", sample: str = ""
) -> HTMLResponse:
    """``lab failures diff A B``: what B fixed and broke of A's examples, McNemar's test, A's piles in B."""
    report = views.diff_dict(nb.failures.diff(a, b, split, sample or None)) if a and b else None
    state = {"a": a, "b": b, "split": split, "sample": sample}
    return page(request, "failures_diff.html", "failures", "Failures: A against B", d=report, state=state)


@router.get("/failures/{sample}", response_class=HTMLResponse)
def review(
    request: Request, nb: NB, sample: str, at: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    """Example ``at`` of the sample (default: where the reviewer left off); past the end, a summary."""
    s = nb.failures.get(sample)
    items = views.items_list(nb.failures.items(s.name))
    report = views.piles_dict(nb.failures.piles(s.name))
    pos = start_at(s.cursor, items) if at is None else min(at, len(items) + 1)
    item = items[pos - 1] if pos <= len(items) else None
    return page(
        request,
        "review.html",
        "failures",
        f"review {s.name}",
        sample=views.sample_dict(s),
        size=len(items),
        at=pos,
        item=item,
        fields=shown_fields(item["fields"]) if item else [],
        diff=diff_of(item["fields"]) if item else None,
        keys=pile_keys(sorted(nb.failures.pile_names()), report),
        report=report,
        done=sum(1 for i in items if i["piles"]),
    )
