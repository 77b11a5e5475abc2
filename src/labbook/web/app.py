"""``create_app``: the web app of one notebook, built in-process by ``lab ui``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from labbook.records.server import Principal
from labbook.service.notebook import Notebook
from labbook.web import errors
from labbook.web.curve_cache import CurveCache
from labbook.web.notebooks import Pool
from labbook.web.security import Authorize, Guard
from labbook.web.settings import WebSettings

HERE = Path(__file__).parent


def create_app(notebook: Notebook, settings: WebSettings | None = None) -> FastAPI:
    """The app over ``notebook``'s root; requests borrow notebooks on it from a pool.

    With ``settings.server`` it is the team server (``lab server``): the same pages and API,
    the write API clients send runs through, and every request checked against the
    notebook's tokens.
    """
    from labbook.web.api import ROUTERS as API
    from labbook.web.api import SERVER_ROUTERS
    from labbook.web.pages import ROUTERS as PAGES

    settings = (settings or WebSettings()).secured()
    app = FastAPI(
        title="labbook",
        summary="A research notebook: runs, predictions scored when runs finish, honest comparisons.",
        version=_version(),
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the dashboard works offline
        redoc_url=None,
    )
    app.state.notebooks = Pool(notebook)
    app.state.settings = settings
    app.state.curves = CurveCache()
    for router in (*API, *(SERVER_ROUTERS if settings.server else ()), *PAGES):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static", follow_symlink=False), name="static")
    errors.install(app)
    authorize = _authorizer(app.state.notebooks) if settings.server else None
    app.add_middleware(Guard, settings=settings, authorize=authorize)
    app.router.add_event_handler("shutdown", app.state.notebooks.close)
    return app


def _authorizer(pool: Pool) -> Authorize:
    def authorize(token: str) -> Principal | None:
        with pool.lease() as nb:
            return nb.tokens.check(token)

    return authorize


def notebook(request: Request) -> Iterator[Notebook]:
    """A notebook lent to this request alone (``notebooks.Pool``)."""
    with request.app.state.notebooks.lease() as nb:
        yield nb


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labbook")
    except PackageNotFoundError:
        return "0"
