"""The HTML pages: server-rendered with Jinja2, interactive with htmx, charts drawn by uPlot."""

from labbook.web.pages import frame

ROUTERS = [frame.router]
