"""Sanity checks as a run keeps them: the report in its summary, with the counts a query reads.

``labbook.checks.run`` writes the report (``Report.to_json``) under the summary key
``checks`` and its counts under ``checks.passed``, ``checks.failed`` and ``checks.skipped``,
so ``lab ls --where "checks.failed > 0"`` is an ordinary summary query, the team server
gets them with the run, and no table changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.records.runs import RunRecord

KEY = "checks"
COUNTS = ("passed", "failed", "skipped")


def summary_values(report: dict[str, Any]) -> dict[str, Any]:
    """What a report adds to a run's summary."""
    return {KEY: report, **{f"{KEY}.{c}": int(report.get(c, 0)) for c in COUNTS}}


def is_check_key(key: str) -> bool:
    return key == KEY or key.startswith(f"{KEY}.")


def report_of(run: RunRecord) -> dict[str, Any] | None:
    report = run.summary.get(KEY)
    return report if isinstance(report, dict) and isinstance(report.get("checks"), list) else None


def failed_checks(run: RunRecord) -> list[str]:
    """Names of the checks the run failed (none when it ran none)."""
    report = report_of(run)
    if report is None:
        return []
    return [
        str(c.get("name")) for c in report["checks"] if isinstance(c, dict) and c.get("status") == "failed"
    ]
