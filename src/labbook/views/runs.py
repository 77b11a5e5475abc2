"""The JSON shapes of runs: ``lab ls``, ``lab show`` and ``lab metrics``.

One function per shape, record in and plain data out, so every adapter (the CLI, a web
UI, a server) hands out the same structure for the same run.
"""

from __future__ import annotations

from typing import Any

from labbook.records.artifacts import Artifact
from labbook.records.checks import is_check_key, report_of
from labbook.records.runs import RunRecord

#: For a rerun: the original's id and, per metric, (key, original last, rerun last, matched).
RerunRows = tuple[int, list[tuple[str, float, float, bool]]]


def run_dict(run: RunRecord, full: bool = False) -> dict[str, Any]:
    """A run as listed; ``full`` adds the capture (git, environment, machine), which is large."""
    out: dict[str, Any] = {
        "id": run.id,
        "uid": run.uid,
        "name": run.name,
        "status": run.status,
        "exit_code": run.exit_code,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration": run.duration,
        "command": run.command,
        "cwd": run.cwd,
        "host": run.host,
        "source": run.source,
        "note": run.note,
        "hypothesis": run.hyp_id,
        "sweep": run.sweep_id,
        "job_id": run.job_id,
        "job_state": run.job_state,
        "archived_at": run.archived_at,  # lab archive: left out of lab ls / compare unless --all
        "tags": list(run.tags),
        "params": run.params,
        "metrics": {k: m.as_dict() for k, m in run.metrics.items()},
        "summary": {k: v for k, v in run.summary.items() if not is_check_key(k)},
        "checks": report_of(run),  # labbook.checks.run's report, or None
        "lost": run.lost,
    }
    if full:
        out["capture"] = run.capture
    return out


def runs_list(runs: list[RunRecord]) -> list[dict[str, Any]]:
    return [run_dict(r) for r in runs]


def run_detail(
    run: RunRecord,
    patch: str,
    packages: str,
    files: dict[str, int],
    damage: list[str],
    rerun: RerunRows | None = None,
    artifacts: list[Artifact] | None = None,
) -> dict[str, Any]:
    """Everything about one run, with the capture's blobs (patch, package list) inlined."""
    from labbook.views.artifacts import artifacts_list

    out = run_dict(run, full=True)
    out["capture"] = dict(run.capture, patch=patch, packages=packages.splitlines())
    out["files"] = files
    out["damage"] = damage
    out["artifacts"] = artifacts_list(artifacts or [])
    if rerun is not None:
        out["rerun"] = rerun_dict(rerun)
    return out


def rerun_dict(rerun: RerunRows) -> dict[str, Any]:
    original_id, rows = rerun
    return {
        "of": original_id,
        "metrics": [
            {"metric": k, "original": then, "rerun": now, "matched": ok} for k, then, now, ok in rows
        ],
    }


def series_dict(run: RunRecord, key: str, series: Any) -> dict[str, Any]:
    """One metric series as three parallel arrays (steps, values, seconds since the epoch)."""
    return {
        "run": run.id,
        "key": key,
        "steps": series.steps.tolist(),
        "values": series.values.tolist(),
        "times": series.times.tolist(),
    }
