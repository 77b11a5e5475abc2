"""The web's one error boundary: the exception tree rendered as JSON with its HTTP status.

An API call gets ``{"error": one line, "kind": class name}``; a page gets the same line in
the page frame. Nothing else leaves the app: an unexpected error is a 500 with one line
and no traceback (the server's log has it).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from labbook.errors import LabbookError

log = logging.getLogger("labbook.web")


def install(app: FastAPI) -> None:
    app.add_exception_handler(LabbookError, _labbook)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def render(
    request: Request, status: int, kind: str, message: str, details: dict[str, object] | None = None
) -> Response:
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message, "kind": kind, **(details or {})}, status_code=status)
    from labbook.web.pages.frame import error_page

    return error_page(request, status, message)


async def _labbook(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LabbookError)
    return render(request, exc.http_status, type(exc).__name__, exc.message, getattr(exc, "details", None))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
    what = first.get("msg", "invalid value")
    return render(request, 400, "BadInput", f"{where or 'request'}: {what}")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return render(request, exc.status_code, "NotFound" if exc.status_code == 404 else "HTTPError", message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return render(request, 500, type(exc).__name__, f"internal error: {type(exc).__name__}: {exc}")
