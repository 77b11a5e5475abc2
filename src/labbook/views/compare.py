"""The JSON shapes of the commands that look across runs: compare, plot, ablate, ls --group-by."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def report_dict(r: Any) -> dict[str, Any]:
    """``lab compare A B``: both sides, the diffs, each metric's test and verdict sentence.

    ``artifacts``: the (outputs, snapshot files) differences of ``diffs.artifact_diff``, None
    when no run of either side kept an artifact.
    """
    from labbook.service.compare.words import verdict
    from labbook.views.artifacts import diff_dict

    def side(s: Any, name: str) -> dict[str, Any]:
        return {
            "spec": s.spec,
            "kind": s.kind,
            "runs": [x.id for x in s.runs],
            "excluded": s.excluded,
            "folded": r.folded.get(name, 0),
        }

    return {
        "a": side(r.a, "A"),
        "b": side(r.b, "B"),
        "config": [{"key": k, "a": va, "b": vb} for k, va, vb in r.config],
        "code": r.code,  # with both patches whole when they differ
        "environment": {
            "packages": [{"name": n, "a": va, "b": vb} for n, va, vb in r.environment["packages"]],
            **{
                k: {"a": v[0], "b": v[1], "differ": v[2]} for k, v in r.environment.items() if k != "packages"
            },
        },
        "artifacts": {"outputs": diff_dict(r.artifacts[0]), "snapshot": diff_dict(r.artifacts[1])}
        if r.artifacts is not None
        else None,
        "primary": r.primary,
        "settings_used": r.settings_used,  # notebook settings that decided something (lab settings)
        "metrics": [
            {
                "metric": m.metric,
                "agg": m.agg,
                "goal": "min" if m.lower_better else "max",
                "pairing": m.pairing or None,
                **m.comparison.as_dict(),
                "sentence": verdict(m),
            }
            for m in r.metrics
        ],
        "tuning_budget": {"a": r.budgets[0], "b": r.budgets[1]},
        "examples": r.examples.as_dict() if r.examples else None,
        "warnings": r.warnings,
    }


def groups_dict(
    key: str, metric: str, agg: str, rows: list[Any], side: Any, warnings: list[str]
) -> dict[str, Any]:
    """``lab compare --group-by KEY``: every value of KEY against the baseline, Holm-adjusted."""
    return {
        "key": key,
        "metric": metric,
        "agg": agg,
        "excluded": side.excluded,
        "groups": [
            {
                "value": row.value,
                "runs": row.runs,
                "folded": len(row.runs) - row.summary.n,
                **row.summary.as_dict(),
                "baseline": row.comparison is None,
                "comparison": row.comparison.as_dict() if row.comparison else None,
                "p_holm": row.p_holm,
                "verdict": row.verdict,
            }
            for row in rows
        ],
        "warnings": warnings,
    }


def curves_dict(path: Path, metric: str, x_axis: str, curves: list[Any], side: Any) -> dict[str, Any]:
    """``lab plot``: where the figure went and every line drawn in it, point by point."""
    return {
        "path": str(path),
        "metric": metric,
        "x": x_axis,
        "lines": [{"label": c.label, "runs": c.run_ids, "points": c.points} for c in curves],
        "excluded": side.excluded,
    }


def ablation_dict(a: Any, sweep_id: str) -> dict[str, Any]:
    """``lab ablate``: each configuration's summary, each component's effect, the carrier."""
    return {
        "sweep": sweep_id,
        "metric": a.metric,
        "agg": a.agg,
        "goal": "min" if a.lower_better else "max",
        "design": "factorial" if a.factorial else "leave-one-out",
        "configurations": [{"name": name, **(s.as_dict() if s else {"n": 0})} for name, s in a.cells],
        "effects": [
            {
                "component": e.component,
                "contribution": e.contribution,
                "ci_low": e.low,
                "ci_high": e.high,
                "p": e.p,
                "how": e.detail,
            }
            for e in a.effects
        ],
        "carrier": a.carrier,
        "verdict": a.sentence,
        "missing": a.missing,
        "excluded": a.excluded,
    }


def variants_dict(group: str, rows: list[Any], excluded: dict[str, list[int]]) -> dict[str, Any]:
    """``lab ls --group-by``: one entry per variant with each metric's summary (None: no value)."""
    return {
        "group_by": group,
        "excluded": excluded,
        "groups": [
            {
                "label": r.label,
                "runs": r.runs,
                **{k: (s.as_dict() if s else None) for k, s in r.summaries.items()},
            }
            for r in rows
        ],
    }
