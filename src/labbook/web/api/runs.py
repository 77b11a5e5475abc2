"""Runs: the ``lab ls`` language, one run in full, a metric reduced to the chart's width, output."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query

from labbook.errors import BadInput
from labbook.service.notebook import Notebook
from labbook.views import columns as cols
from labbook.views import runs as views
from labbook.web.app import notebook
from labbook.web.responses import ChartJSON, LabJSON, ViewRoute, floats

router = APIRouter(prefix="/api", tags=["runs"], default_response_class=LabJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]
MAX_PAGE = 1000
MAX_WIDTH = 8192
OUTPUT_TAIL = 64 * 1024


@router.get("/runs", summary="Runs matching a --where filter, sorted and paged (lab ls)")
def list_runs(
    nb: NB,
    where: str | None = None,
    sort: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    columns: str | None = None,
    all: bool = False,
) -> dict[str, Any]:
    """``runs`` is what ``lab ls --json`` prints; ``columns``/``cells`` are the table's cells."""
    runs, total = nb.list_runs(
        where=where or None, sort=sort or None, limit=limit, archived=all, offset=offset
    )
    names = cols.parse_columns(columns) or cols.default_columns(runs)
    fields = nb.store.runs.fields() if columns else None
    getters = [cols.column(n, runs, fields) for n in names]
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "columns": names,
        "numeric": [cols.is_numeric(g, runs) for g in getters],
        "cells": [[g(r) for g in getters] for r in runs],
        "runs": views.runs_list(runs),
    }


@router.get("/runs/groups", summary="One row per variant with n, mean and CI per metric (lab ls --group-by)")
def groups(
    nb: NB, where: str | None = None, columns: str | None = None, group: str = "variant", all: bool = False
) -> dict[str, Any]:
    from labbook.service.compare.variants import variant_table
    from labbook.service.settings import noise_of
    from labbook.views.compare import variants_dict

    runs, _ = nb.list_runs(where=where or None, sort="id", limit=0, archived=all)
    noise, _ = noise_of(nb.settings, None)
    rows, excluded = variant_table(runs, cols.variant_columns(runs, columns), group=group, noise=noise)
    return variants_dict(group, rows, excluded)


@router.get("/runs/{run}", summary="Everything recorded about one run (lab show --json)")
def show(nb: NB, run: str) -> dict[str, Any]:
    from labbook.service.detail import detail

    d = detail(nb, run)
    return views.run_detail(d.run, d.patch, d.packages, d.files, d.damage, d.rerun, d.artifacts)


@router.get("/runs/{run}/metrics", summary="The metric keys a run logged")
def metric_keys(nb: NB, run: str) -> list[str]:
    return nb.metric_keys(nb.get_run(run))


@router.get(
    "/runs/{run}/metrics/{key:path}",
    summary="One metric, reduced to first/last/min/max per pixel",
    response_class=ChartJSON,
)
def metric(
    nb: NB,
    run: str,
    key: str,
    width: Annotated[int, Query(ge=1, le=MAX_WIDTH)] = 1000,
    x: Literal["step", "time"] = "step",
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """Every point when they fit in ``width`` pixels (4 per pixel), else each pixel's first,
    last, minimum and maximum, so no spike is hidden; ``start``/``end`` zoom on x."""
    from labbook.core.downsample import m4
    from labbook.service.overview import MAX_WIDTH, for_chart

    record = nb.get_run(run)
    whole = x == "step" and start is None and end is None and width <= MAX_WIDTH
    (steps, times, values), total = for_chart(nb, record, key, whole)
    axis = steps.astype(float) if x == "step" else times  # start/end: a step, or seconds since the epoch
    if len(axis) > 1 and np.any(np.diff(axis) < 0):
        order = np.argsort(axis, kind="stable")
        steps, values, times, axis = steps[order], values[order], times[order], axis[order]
    w = m4(axis, values, width, start, end)
    points = total if whole else w.total  # zoomed: the points inside the range
    return {
        "run": record.id,
        "key": key,
        "x": x,
        "points": points,
        "downsampled": len(w.index) < points,
        "steps": steps[w.index],
        "values": floats(values[w.index]),
        "times": times[w.index],
    }


@router.get("/runs/{run}/output", summary="A run's saved output from a byte offset (a live tail)")
def output(
    nb: NB,
    run: str,
    stream: Literal["output", "stderr"] = "output",
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """From ``offset`` (default: the last 64 KiB); ``next`` is the offset to ask from next time."""
    record = nb.get_run(run)
    path = nb.output_path(record, stream)
    size = path.stat().st_size if path.exists() else 0
    if offset is not None and offset > size:
        raise BadInput(f"offset {offset} is past the end of {stream}.log ({size} bytes)")
    begin = max(size - OUTPUT_TAIL, 0) if offset is None else offset
    chunk = b""
    if size > begin:
        with path.open("rb") as fh:
            fh.seek(begin)
            chunk = fh.read(OUTPUT_TAIL)  # a tail that ran away is read a page at a time
    chunk, skipped = _whole_characters(chunk, from_tail=offset is None)
    begin += skipped
    end = begin + len(chunk)
    text = chunk.decode("utf-8", "replace")
    return {
        "run": record.id,
        "stream": stream,
        "size": size,
        "offset": begin,
        "next": end,
        "text": text,
        "status": record.status,
    }


def _whole_characters(chunk: bytes, from_tail: bool) -> tuple[bytes, int]:
    """The chunk without a UTF-8 character cut at either end: a cut start is skipped (a tail
    begins mid-file), a cut end is left for the next read. Returns it and the bytes skipped."""
    skipped = 0
    if from_tail:
        while skipped < min(len(chunk), 3) and chunk[skipped] & 0xC0 == 0x80:
            skipped += 1
    body = chunk[skipped:]
    for back in range(1, min(len(body), 4) + 1):
        byte = body[-back]
        if byte & 0xC0 == 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return (body if back >= need else body[:-back]), skipped
        if byte & 0x80 == 0:
            break
    return body, skipped
