"""The JSON shape of ``lab verify``: what was checked and each problem found."""

from __future__ import annotations

from typing import Any


def verify_dict(report: Any) -> dict[str, Any]:
    return {
        "ok": not report.damaged,
        "runs": report.runs,
        "files": report.files,
        "problems": [
            {"run": p.run_id, "kind": p.kind, "damage": p.damage, "what": p.what} for p in report.problems
        ],
    }
