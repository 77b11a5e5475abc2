"""How good your forecasts are: the report behind ``lab calibration``.

Gathers the predictions that count — the newest revision of each, made before any
result (unless ``include_late``), resolved true or false — applies the filters, and
scores them with ``labbook.core.scoring``. Yes/no forecasts get Brier and log scores, a
reliability table with an honest interval per bin, and a trend by month; interval
forecasts get coverage against their stated level and the interval score. Slices by
tag, problem and kind show where the forecaster is better or worse.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from labbook.core import scoring
from labbook.errors import BadInput
from labbook.records.research import BINARY, NUMERIC, POINT, Hypothesis, Prediction, Resolution

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

#: Below this many forecasts in a bin, its observed frequency is mostly noise.
THIN_BIN = 5


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``30d``, ``12w``, ``6m`` (months of 30 days), ``1y``, or a date ``2026-11-01``."""
    if text is None:
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+)\s*([dwmy])\s*", text)
    if m:
        days = int(m.group(1)) * {"d": 1, "w": 7, "m": 30, "y": 365}[m.group(2)]
        return now - days * 86400
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise BadInput(
            f"--since {text!r}: write a span like 30d, 12w, 6m, 1y or a date like 2026-11-01"
        ) from None


def parse_bin(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*([01]?(?:\.\d+)?)\s*-\s*([01]?(?:\.\d+)?)\s*", text)
    if not m or not m.group(1) or not m.group(2):
        raise BadInput(f"--bin {text!r}: write a probability range like 0.6-0.7")
    lo, hi = float(m.group(1)), float(m.group(2))
    if not 0 <= lo < hi <= 1:
        raise BadInput(f"--bin {text!r}: the range must lie in [0, 1] with low < high")
    return lo, hi


@dataclass
class Filters:
    since: float | None = None
    tag: str | None = None
    kind: str | None = None
    problem: str | None = None
    include_late: bool = False
    author: str | None = None  # one forecaster's predictions: a person's login, or an agent's name (lab mcp)


@dataclass
class Report:
    """Everything ``lab calibration`` prints, as data (also its --json)."""

    considered: int
    unresolved: int
    late_excluded: int
    ambiguous: int
    superseded: int
    binary: dict[str, Any] | None
    numeric: dict[str, Any] | None
    point: dict[str, Any] | None = None
    bins: list[scoring.Bin] = field(default_factory=list)
    trend: list[scoring.MonthScore] = field(default_factory=list)
    slices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _tags(p: Prediction, hyp: Hypothesis | None) -> tuple[str, ...]:
    """A prediction's own tags (an imported one's) and its hypothesis's."""
    return tuple(dict.fromkeys((*p.tags, *(hyp.tags if hyp else ()))))


def _matches(p: Prediction, hyp: Hypothesis | None, f: Filters) -> bool:
    if f.since is not None and p.created_at < f.since:
        return False
    if f.kind is not None and p.kind != f.kind and p.source != f.kind:
        return False
    if f.author is not None and p.author != f.author:
        return False
    if f.tag is not None and f.tag not in _tags(p, hyp):
        return False
    if f.problem is None:
        return True
    if hyp is None:
        return False
    ref = re.fullmatch(r"(?i:Q)?(\d+)", f.problem.strip())  # a problem record: Q3
    return hyp.problem_id == int(ref.group(1)) if ref else hyp.problem == f.problem


def select(nb: Notebook, f: Filters) -> tuple[list[Prediction], dict[str, int], dict[int, Hypothesis]]:
    """The predictions to score under ``f``, and counts of those left out and why."""
    if f.kind is not None and f.kind not in (BINARY, NUMERIC, POINT, "paper", "lab", "fatebook"):
        raise BadInput("--kind must be binary, numeric, point, paper, lab or fatebook")
    nb.hypotheses.auto_resolve()
    hyps = {h.id: h for h in nb.hypotheses.list()}
    counts = {"considered": 0, "unresolved": 0, "late": 0, "ambiguous": 0, "superseded": 0}
    chosen = []
    for p in nb.hypotheses.predictions():
        if not _matches(p, hyps.get(p.hyp_id) if p.hyp_id else None, f):
            continue
        counts["considered"] += 1
        if p.superseded_by is not None:
            counts["superseded"] += 1
        elif p.late and not f.include_late:
            counts["late"] += 1
        elif p.resolution is None:
            counts["unresolved"] += 1
        elif p.resolution.outcome == "ambiguous":
            counts["ambiguous"] += 1
        else:
            chosen.append(p)
    return chosen, counts, hyps


def _forecasts(preds: list[Prediction]) -> tuple[list[float], list[float]]:
    """(p, outcome as 1/0) of resolved binary predictions, which always carry a p and a resolution."""
    p = [cast(float, x.p) for x in preds]
    y = [1.0 if cast(Resolution, x.resolution).outcome == "true" else 0.0 for x in preds]
    return p, y


def _binary_scores(preds: list[Prediction]) -> dict[str, Any] | None:
    if not preds:
        return None
    p, y = _forecasts(preds)
    m = scoring.murphy(p, y)
    return {
        "n": len(preds),
        "brier": scoring.brier(p, y),
        "log_score": scoring.log_score(p, y),
        "log_clip": scoring.CLIP,
        "base_rate": sum(y) / len(y),
        "mean_forecast": sum(p) / len(p),
        "reliability": m.reliability,
        "resolution": m.resolution,
        "uncertainty": m.uncertainty,
    }


def _interval_columns(preds: list[Prediction]) -> tuple[list[Any], ...]:
    return (
        [p.low for p in preds],
        [p.high for p in preds],
        [p.resolution.value for p in preds],  # type: ignore[union-attr]
        [p.level for p in preds],
    )


def _numeric_scores(preds: list[Prediction]) -> dict[str, Any] | None:
    """Coverage over all intervals; the interval score per metric, since it is in the metric's units.

    Averaging it across metrics would let one metric measured in thousands drown the rest,
    so the overall figure is scaled: each interval's score divided by its own width (1 for
    a hit, plus 2/α times the miss in widths), which has no unit. Zero-width intervals
    have no scale and are left out of it.
    """
    if not preds:
        return None
    lo, hi, x, level = _interval_columns(preds)
    by: dict[str, list[Prediction]] = defaultdict(list)
    for p in preds:
        if p.metric:
            by[p.metric].append(p)
    by_metric = []
    for metric, members in sorted(by.items()):
        mlo, mhi, mx, mlevel = _interval_columns(members)
        by_metric.append(
            {
                "metric": metric,
                "n": len(members),
                "coverage": scoring.coverage(mlo, mhi, mx),
                "expected_coverage": scoring.expected_coverage(mlevel),
                "interval_score": scoring.interval_score(mlo, mhi, mx, mlevel),
            }
        )
    wide = [i for i in range(len(preds)) if hi[i] > lo[i]]
    scaled = (
        sum(scoring.interval_score([lo[i]], [hi[i]], [x[i]], [level[i]]) / (hi[i] - lo[i]) for i in wide)
        / len(wide)
        if wide
        else None
    )
    one_unit = len(by_metric) == 1 and by_metric[0]["n"] == len(preds)
    return {
        "n": len(preds),
        "coverage": scoring.coverage(lo, hi, x),
        "expected_coverage": scoring.expected_coverage(level),
        "interval_score": by_metric[0]["interval_score"] if one_unit else None,
        "interval_score_scaled": scaled,
        "scaled_n": len(wide),
        "by_metric": by_metric,
    }


def _point_scores(preds: list[Prediction]) -> dict[str, Any] | None:
    """Guessed numbers (a paper's results before reading them) against what was reported."""
    usable = [x for x in preds if x.resolution and x.resolution.value]  # relative error needs actual != 0
    if not usable:
        return None
    g = [cast(float, x.point) for x in usable]  # a point guess always has its number
    a = [cast(float, cast(Resolution, x.resolution).value) for x in usable]
    within = sum(abs(gi - ai) <= 0.1 * abs(ai) for gi, ai in zip(g, a, strict=True))
    return {
        "n": len(usable),
        "relative_error": scoring.relative_error(g, a),
        "within_10pct": within / len(usable),
    }


def _slices(preds: list[Prediction], hyps: dict[int, Hypothesis]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, dict[str, list[Prediction]]] = {
        "tag": defaultdict(list),
        "problem": defaultdict(list),
        "kind": defaultdict(list),
    }
    for p in preds:
        hyp = hyps.get(p.hyp_id) if p.hyp_id else None
        groups["kind"][p.kind if p.source == "lab" else p.source].append(p)
        for tag in _tags(p, hyp) or ("(untagged)",):
            groups["tag"][tag].append(p)
        groups["problem"][(hyp.problem if hyp else None) or "(none)"].append(p)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, by in groups.items():
        rows = []
        for key, members in sorted(by.items()):
            b = [m for m in members if m.kind == BINARY]
            n = [m for m in members if m.kind == NUMERIC]
            scores = _binary_scores(b)
            numeric = _numeric_scores(n)
            rows.append(
                {
                    name: key,
                    "n": len(members),
                    "brier": scores["brier"] if scores else None,
                    "coverage": numeric["coverage"] if numeric else None,
                    "expected_coverage": numeric["expected_coverage"] if numeric else None,
                }
            )
        out[name] = rows
    return out


def report(nb: Notebook, f: Filters, bins: int = 10) -> Report:
    preds, counts, hyps = select(nb, f)
    binary = [p for p in preds if p.kind == BINARY]
    numeric = [p for p in preds if p.kind == NUMERIC]
    rep = Report(
        considered=counts["considered"],
        unresolved=counts["unresolved"],
        late_excluded=counts["late"],
        ambiguous=counts["ambiguous"],
        superseded=counts["superseded"],
        binary=_binary_scores(binary),
        numeric=_numeric_scores(numeric),
        point=_point_scores([p for p in preds if p.kind == POINT]),
    )
    if binary:
        p, y = _forecasts(binary)
        rep.bins = scoring.reliability(p, y, bins)
        rep.trend = scoring.trend([x.created_at for x in binary], p, y)
        filled = [b for b in rep.bins if b.count]
        thin = [b for b in filled if b.count < THIN_BIN]
        if thin:
            rep.warnings.append(
                f"{len(thin)} of {len(filled)} non-empty bins hold fewer than {THIN_BIN} forecasts: "
                "their observed frequencies are mostly noise (see the wide intervals)"
            )
    if preds:
        rep.slices = _slices(preds, hyps)
    if counts["late"]:
        rep.warnings.append(
            f"{counts['late']} late prediction{'s' if counts['late'] != 1 else ''} left out "
            "(made after results existed); --include-late counts them"
        )
    return rep


def in_bin(nb: Notebook, f: Filters, lo: float, hi: float) -> list[Prediction]:
    """The scored yes/no predictions whose probability lies in [lo, hi) (hi = 1 included)."""
    preds, _, _ = select(nb, f)
    return [
        p
        for p in preds
        if p.kind == BINARY and (lo <= p.p < hi or (hi == 1 and p.p == 1))  # type: ignore[operator]
    ]
