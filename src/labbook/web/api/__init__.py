"""The JSON API under ``/api``: one router per area, each an adapter over the service and views."""

from labbook.web.api import charts, compare, failures, ingest, journal, papers, research, runs

ROUTERS = [m.router for m in (runs, charts, compare, research, journal, failures, papers)]
SERVER_ROUTERS = [ingest.router]  # only lab server: what clients send
