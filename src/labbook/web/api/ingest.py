"""What clients send a team server (``lab server``): runs and their points, under ``/api/v1``.

Only ``lab server`` mounts these. Every request carries a token (the gate checks it and
its role: reading needs ``read``, sending ``write``). A batch of points is one body: a
line of JSON (``{"starts": {key: index of its first point in this writer file}}``), then
the series blocks, as the writer file holds them. See ``service/ingest``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from labbook.errors import BadInput
from labbook.service.ingest import SentRun
from labbook.service.notebook import Notebook
from labbook.web.app import notebook
from labbook.web.responses import LabJSON, ViewRoute

router = APIRouter(prefix="/api/v1", tags=["ingest"], default_response_class=LabJSON, route_class=ViewRoute)
NB = Annotated[Notebook, Depends(notebook)]
MAX_RUNS = 1000


@router.get("/server", summary="This server: the API it speaks, its version, its clock, and who the token is")
def server(nb: NB, request: Request) -> dict[str, Any]:
    import time

    from labbook.records import server as speaks
    from labbook.web.app import _version

    principal = request.scope.get("state", {}).get("principal")
    return {
        "api": speaks.API_VERSION,
        "version": _version(),
        "time": time.time(),
        "name": principal.name if principal else None,
        "role": principal.role if principal else None,
    }


@router.post("/runs", summary="Create or bring up to date runs, by uid (refused whole on a conflicting uid)")
def save_runs(nb: NB, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    raw = body.get("runs")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_RUNS:
        raise BadInput(f"send {{'runs': [...]}} with 1 to {MAX_RUNS} runs")
    runs = [SentRun.from_json(r) for r in raw]
    if body.get("check"):
        return {"conflicts": nb.ingest.conflicts(runs)}
    return {"runs": nb.ingest.save_runs(runs)}


@router.post(
    "/records",
    summary="Create papers, problems, hypotheses, predictions, notes and samples by uid (refused whole on a conflict)",
)
def save_records(nb: NB, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    from labbook.service.ingest_records import Records

    check = bool(body.pop("check", False))
    if sum(len(v) for v in body.values() if isinstance(v, list)) > 10 * MAX_RUNS:
        raise BadInput(f"send at most {10 * MAX_RUNS} records at once")
    records = Records(nb)
    if check:
        return {"conflicts": records.conflicts(body)}
    return {"saved": records.save(body)}


@router.get(
    "/records", summary="Every paper, problem, hypothesis, prediction, note and sample, as sent (lab pull)"
)
def records(nb: NB) -> dict[str, Any]:
    from labbook.service.ingest_records import RECORD_KINDS

    return dict(nb.outbox.records(None, RECORD_KINDS))


@router.get("/runs", summary="Every run, as a client sends it (lab pull)")
def runs(nb: NB) -> dict[str, Any]:
    listed, _ = nb.store.runs.query_runs(None, [], None)  # rows without their capture: read each whole
    whole = [nb.store.runs.get_run(r.id) for r in sorted(listed, key=lambda r: r.id)]
    return {"runs": [nb.outbox.payload(r, inline=False) for r in whole if r is not None]}


@router.get("/blobs/{digest}", summary="A large capture field (packages, a patch) by its digest (lab pull)")
def blob(nb: NB, digest: str) -> dict[str, Any]:
    import re

    from labbook.errors import NotFound

    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise BadInput(f"a blob is named sha256:HEX, not {digest!r}")
    data = nb.blob({"blob": digest})
    if data is None:
        raise NotFound(f"no blob {digest} on this server")
    return {"data": data}


@router.get("/runs/{uid}/files", summary="The writer files of a run and their lengths (lab pull)")
def files(nb: NB, uid: str) -> dict[str, Any]:
    return {"files": nb.ingest.files(uid)}


@router.get(
    "/runs/{uid}/files/{writer}", summary="One writer file of a run, as the server holds it (lab pull)"
)
def file(nb: NB, uid: str, writer: str) -> Response:
    return Response(nb.ingest.file(uid, writer), media_type="application/octet-stream")


@router.get("/runs/{uid}/marks", summary="What the server holds of a run: points per key of each writer file")
def marks(nb: NB, uid: str) -> dict[str, Any]:
    return {"writers": nb.ingest.marks(uid)}


@router.post(
    "/runs/{uid}/points",
    summary="Append a writer file's points (a JSON line of starts, then series blocks); resends are harmless",
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        }
    },
)
async def points(nb: NB, uid: str, writer: str, request: Request) -> dict[str, Any]:
    data = await request.body()
    head, sep, blocks = data.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("starts"), dict):
        raise BadInput('a batch of points begins with a line {"starts": {KEY: FIRST_INDEX}}')
    counts = await run_in_threadpool(nb.ingest.save_points, uid, writer, header["starts"], blocks)
    return {"counts": counts}


@router.post("/runs/{uid}/examples", summary="Insert or replace a page of a run's per-example results, by id")
def save_examples(nb: NB, uid: str, split: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return {"saved": nb.ingest.save_examples(uid, split, body.get("rows"))}


@router.get("/runs/{uid}/examples", summary="A run's splits of per-example results: count and digest of each")
def example_splits(nb: NB, uid: str) -> dict[str, Any]:
    return {"splits": nb.ingest.example_splits(uid)}


@router.get(
    "/runs/{uid}/examples/rows", summary="A page of one split's per-example rows, in id order (lab pull)"
)
def example_rows(nb: NB, uid: str, split: str, after: str = "", limit: int = 5000) -> dict[str, Any]:
    rows = nb.ingest.example_page(uid, split, after or None, limit)
    return {"rows": [list(r) for r in rows]}
