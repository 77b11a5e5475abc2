"""Failure review: samples, their examples in order, piles with CIs, a run-to-run diff, and the
reviewer's writes (an example into piles, where the reviewer is)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from labbook.service.notebook import Notebook
from labbook.views import failures as views
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(
    prefix="/api/failures", tags=["failures"], default_response_class=LabJSON, route_class=ViewRoute
)
NB = Annotated[Notebook, Depends(notebook)]


class Sorting(BaseModel):
    piles: list[str] = Field(min_length=1, max_length=50)
    note: str | None = Field(default=None, max_length=10_000)


@router.get("", summary="Every sample with how many of its examples are reviewed (lab failures ls)")
def samples(nb: NB, run: str | None = None) -> list[dict[str, Any]]:
    found = nb.failures.samples(run or None)
    return views.samples_list(found, {s.name: nb.failures.piles(s.name).reviewed for s in found})


@router.get("/diff", summary="Fixes and breaks between two runs, McNemar's test (lab failures diff)")
def diff(nb: NB, a: str, b: str, split: str = "eval", sample: str | None = None) -> dict[str, Any]:
    return views.diff_dict(nb.failures.diff(a, b, split, sample or None))


@router.get("/{sample}", summary="A sample's examples in review order, with the reviewer's place")
def items(nb: NB, sample: str, pile: str | None = None) -> dict[str, Any]:
    s = nb.failures.get(sample)
    return {
        "sample": views.sample_dict(s),
        "cursor": s.cursor,
        "pile_names": nb.failures.pile_names(),
        "items": views.items_list(nb.failures.items(s.name, pile or None)),
    }


@router.get("/{sample}/piles", summary="Pile counts with proportion CIs, biggest first (lab failures piles)")
def piles(nb: NB, sample: str) -> dict[str, Any]:
    return views.piles_dict(nb.failures.piles(sample))


@router.put(
    "/{sample}/items/{example}", summary="Put an example into piles (replacing its piles), with a note"
)
def sort_example(nb: NB, sample: str, example: str, body: Annotated[Sorting, Body()]) -> dict[str, Any]:
    saved = nb.failures.tag(sample, example, body.piles, (body.note or "").strip(), replace=True)
    return {"sample": sample, "id": example, "piles": saved}


@router.put("/{sample}/cursor", summary="Remember where the reviewer is, so the page resumes there")
def move(nb: NB, sample: str, position: Annotated[int, Query(ge=0)]) -> dict[str, Any]:
    s = nb.failures.get(sample)
    nb.failures.move(s, position)
    return {"sample": s.name, "cursor": min(position, s.size)}
