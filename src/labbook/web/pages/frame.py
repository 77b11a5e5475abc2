"""The page frame: templates, the navigation, the CSRF token every form and htmx request sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from labbook.views import tables as render

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
TEMPLATES.env.filters["number"] = render.number
TEMPLATES.env.filters["when"] = render.when
TEMPLATES.env.filters["short_when"] = render.short_when
TEMPLATES.env.filters["duration"] = render.duration

NAV = [
    ("runs", "/runs", "Runs"),
    ("charts", "/charts", "Charts"),
    ("compare", "/compare", "Compare"),
    ("hypotheses", "/hypotheses", "Hypotheses"),
    ("calibration", "/calibration", "Calibration"),
    ("journal", "/journal", "Journal"),
    ("today", "/today", "Today"),
    ("papers", "/papers", "Papers"),
    ("failures", "/failures", "Failures"),
]

router = APIRouter(include_in_schema=False)


def page(request: Request, template: str, section: str, title: str, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "nav": NAV,
            "section": section,
            "title": title,
            "csrf": request.scope.get("state", {}).get("csrf", ""),
            "live_every": request.app.state.settings.live_every,
            "root": str(request.app.state.notebooks.root),
            **context,
        },
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    response = page(request, "error.html", "", f"error {status}", status=status, message=message)
    response.status_code = status
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)
