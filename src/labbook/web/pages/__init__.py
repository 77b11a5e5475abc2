"""The HTML pages: server-rendered with Jinja2, interactive with htmx, charts drawn by uPlot."""

from labbook.web.pages import analysis, failures, frame, journal, papers, research, runs

ROUTERS = [m.router for m in (frame, runs, analysis, research, journal, papers, failures)]
