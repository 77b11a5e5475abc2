"""Hypotheses, pre-registered predictions, and how they resolve.

A prediction is written down before any result of its hypothesis exists. One made after
a linked run has logged a metric is stored as *late* and left out of scores. Predictions
are never edited: a revision is a new prediction, and only the newest revision of a
chain counts. A prediction tied to a metric resolves itself once the hypothesis has
enough finished runs and none still running: the metric is summarised per run (``agg``),
reduced across runs such as seeds (``reduce``), and compared (``op value``) or checked
against the stated interval.
"""

from __future__ import annotations

import builtins
import getpass
import math
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labbook.core.dates import parse_date, span
from labbook.core.query import Compare, RunField, SortKey
from labbook.errors import BadInput, LabbookWarning, NotFound
from labbook.records.journal import Note
from labbook.records.research import (
    BINARY,
    HYP_OUTCOMES,
    NUMERIC,
    POINT,
    Hypothesis,
    NewHypothesis,
    NewPrediction,
    Prediction,
    Resolution,
)
from labbook.records.runs import FINISHED, UNFINISHED, RunRecord
from labbook.service.forecast import Forecast

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

SMOKE_TAG = "smoke"
#: The outcome of a guessed number once the real one is known: scored by its error, not true/false.
MEASURED = "measured"


def _pending(p: Prediction) -> bool:
    return bool(p.metric) and p.resolution is None and p.superseded_by is None


def _two_sided(p: Prediction) -> bool:
    return bool(p.scope and "a" in p.scope)


def author() -> str:
    """Who is predicting: $LABBOOK_USER, else the login name."""
    return os.environ.get("LABBOOK_USER") or getpass.getuser()


def parse_ref(ref: str | int, prefix: str, what: str) -> int:
    """``H3`` / ``3`` → 3 (and the same for ``P``)."""
    text = str(ref).strip()
    m = re.fullmatch(rf"(?i:{prefix})?(\d+)", text)
    if not m:
        raise BadInput(f"{text!r} is not a {what} id; write it like {prefix}3")
    return int(m.group(1))


def parse_due(text: str | None) -> float | None:
    return None if text is None else parse_date(text, "--due")


def when_made(pred: Prediction, first_result_at: float | None) -> str:
    """``2.1s before the first result``: the fact that makes a prediction honest, or late."""
    if first_result_at is None:
        return datetime.fromtimestamp(pred.created_at).strftime("%Y-%m-%d %H:%M")
    gap = first_result_at - pred.created_at
    return f"{span(abs(gap))} {'before' if gap >= 0 else 'after'} the first result"


@dataclass(frozen=True)
class Dossier:
    """Everything about one hypothesis, as `lab hyp show` and `lab export` present it."""

    hypothesis: Hypothesis
    predictions: list[Prediction]
    runs: list[RunRecord]
    notes: list[Note]
    first_result_at: float | None


@dataclass
class ImportReport:
    added: int = 0
    resolved: int = 0
    revised: int = 0
    unchanged: int = 0
    excluded: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


class Hypotheses:
    """The hypothesis part of the notebook service (``notebook.hypotheses``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.nb = notebook
        self.store = notebook.store

    # -- hypotheses ----------------------------------------------------------
    def add(
        self,
        text: str,
        problem: str | None = None,
        tags: tuple[str, ...] = (),
        pile: tuple[int, str, int, int] | None = None,
    ) -> Hypothesis:
        text = text.strip()
        if not text:
            raise BadInput("a hypothesis needs some text: what do you expect, and why?")
        # A problem id (Q3) or a problem's exact title links to that record; other text stays a label.
        label, record = self.nb.problems.resolve_for_hypothesis(problem)
        hyp_id = self.store.research.create_hypothesis(
            NewHypothesis(
                uuid.uuid4().hex,
                text,
                label,
                author(),
                time.time(),
                tuple(dict.fromkeys(tags)),
                problem_id=record.id if record else None,
                pile=pile,
            )
        )
        return self.get(hyp_id)

    def get(self, ref: str | int) -> Hypothesis:
        hyp_id = parse_ref(ref, "H", "hypothesis")
        hyp = self.store.research.get_hypothesis(hyp_id)
        if hyp is None:
            raise NotFound(f"no hypothesis H{hyp_id} in this notebook; `lab hyp ls` lists them")
        return hyp

    def list(self) -> list[Hypothesis]:
        return self.store.research.list_hypotheses()

    def runs(self, hyp: Hypothesis) -> builtins.list[RunRecord]:
        """The runs linked to ``hyp``, oldest first (one query, without their capture)."""
        runs, _ = self.store.runs.query_runs(
            Compare(RunField("hyp"), "=", hyp.id), [SortKey(RunField("id"))], None
        )
        return runs

    def first_result_at(self, hyp: Hypothesis) -> float | None:
        return self.store.research.first_result_at(hyp.id)

    def dossier(self, ref: str | int) -> Dossier:
        """The hypothesis with its predictions (resolved as far as the runs allow), runs and notes."""
        hyp = self.get(ref)
        self.auto_resolve(hyp)
        hyp = self.get(hyp.id)
        return Dossier(
            hyp,
            self.predictions(hyp),
            self.runs(hyp),
            self.nb.journal.notes(hyp_id=hyp.id),
            self.first_result_at(hyp),
        )

    def resolve(self, ref: str | int, outcome: str, belief: str | None) -> Hypothesis:
        if outcome not in HYP_OUTCOMES:
            raise BadInput(f"a hypothesis resolves as {', '.join(HYP_OUTCOMES)}")
        hyp = self.get(ref)
        if not self.store.research.resolve_hypothesis(hyp.id, outcome, belief, time.time()):
            raise BadInput(f"{hyp.ref} is already resolved ({hyp.outcome}); add a note instead")
        return self.get(hyp.id)

    # -- predictions ---------------------------------------------------------
    def predict(
        self,
        ref: str | int | None,
        text: str,
        forecast: Forecast,
        *,
        due: str | None = None,
        revise: str | int | None = None,
    ) -> Prediction:
        forecast.check()
        previous = self.prediction(revise) if revise is not None else None
        hyp = self.get(ref) if ref is not None else None
        if previous is not None:
            if previous.superseded_by is not None:
                raise BadInput(
                    f"{previous.ref} was already revised by P{previous.superseded_by}; revise that"
                )
            if previous.resolution is not None:
                raise BadInput(f"{previous.ref} is resolved; a resolved prediction cannot be revised")
            if hyp is None and previous.hyp_id is not None:
                hyp = self.get(previous.hyp_id)
        if hyp is not None and hyp.outcome is not None:
            raise BadInput(f"{hyp.ref} is resolved ({hyp.outcome}); predictions must come before the result")
        if forecast.scoped and hyp is None:
            raise BadInput(
                "--where, --diff and --verdict are about a hypothesis's runs: name it, e.g. lab predict H1 ..."
            )
        from labbook.service import targets

        scope = targets.build(self.nb, forecast.where, forecast.diff, forecast.verdict)
        text = text.strip() or (previous.text if previous else "")
        if not text:
            raise BadInput("a prediction needs some text saying what you expect")
        if forecast.metric is not None:
            self._note_unknown_metric(forecast.metric)
        f = forecast
        pred_id = self.store.research.create_prediction(
            NewPrediction(
                uid=uuid.uuid4().hex,
                hyp_id=hyp.id if hyp else None,
                text=text,
                kind=f.kind,
                p=f.p,
                low=f.low,
                high=f.high,
                level=f.level if f.kind == NUMERIC else None,
                point=f.point,
                metric=f.metric,
                agg=f.agg if f.metric else None,
                reduce=f.reduce if f.metric else None,
                op=f.op,
                value=f.value,
                min_runs=f.min_runs if f.metric else None,
                author=author(),
                created_at=time.time(),
                due_at=parse_due(due),
                revision_of=previous.id if previous else None,
                scope=scope.as_json(),
                late=True if targets.has_results(self.nb, scope) else None,
            )
        )
        return self.prediction(pred_id)

    def _note_unknown_metric(self, metric: str) -> None:
        """A prediction comes before its data, so an unknown metric is recorded; a near miss is said."""
        known = self.store.runs.fields().metrics
        if metric in known:
            return
        import difflib
        import warnings

        close = difflib.get_close_matches(metric, sorted(known), n=3)
        if close:
            warnings.warn(
                LabbookWarning(
                    f"no run has logged {metric!r} yet; did you mean {', '.join(close)}? "
                    "(recorded as written: revise it with --revise if that was a typo)"
                ),
                stacklevel=3,
            )

    def prediction(self, ref: str | int | None) -> Prediction:
        pred_id = parse_ref(ref if ref is not None else "", "P", "prediction")
        pred = self.store.research.get_prediction(pred_id)
        if pred is None:
            raise NotFound(f"no prediction P{pred_id} in this notebook; `lab hyp show H` lists them")
        return pred

    def predictions(self, hyp: Hypothesis | None = None) -> builtins.list[Prediction]:
        return self.store.research.list_predictions(hyp.id if hyp else None)

    # -- resolution ----------------------------------------------------------
    def resolve_prediction(
        self, ref: str | int, outcome: str | None = None, value: float | None = None
    ) -> Prediction:
        pred = self.prediction(ref)
        if pred.resolution is not None:
            raise BadInput(
                f"{pred.ref} is already resolved ({pred.resolution.outcome}); resolutions are final"
            )
        if pred.kind == POINT:
            if value is None or outcome is not None or not math.isfinite(value):
                raise BadInput(f"{pred.ref} is a guessed number: resolve it with --value X (what came out)")
            outcome = MEASURED
        elif pred.kind == NUMERIC:
            if value is None or outcome is not None:
                raise BadInput(
                    f"{pred.ref} is an interval: resolve it with --value X (the number that came out)"
                )
            if not math.isfinite(value):
                raise BadInput("--value must be a finite number")
            outcome = "true" if pred.low <= value <= pred.high else "false"  # type: ignore[operator]
        elif outcome not in ("true", "false", "ambiguous"):
            raise BadInput(f"{pred.ref} is yes/no: resolve it as true, false or ambiguous")
        self.store.research.resolve_prediction(
            pred.id, Resolution(outcome, value, "manual", None, time.time())
        )
        return self.prediction(pred.id)

    def auto_resolve(self, hyp: Hypothesis | None = None, sides: bool = True) -> builtins.list[Prediction]:
        """Resolve every metric-tied prediction whose runs are done; returns those resolved now.

        A prediction on two sides (``--diff``, ``--verdict``) waits on the runs those sides
        name, wherever they are linked; with ``hyp`` and ``sides``, those of every other
        hypothesis are tried too (a run that ends may complete another one's baseline).
        """
        from labbook.service import targets

        resolved = []
        hyps = [hyp] if hyp is not None else self.list()
        for h in hyps:
            pending = [p for p in self.predictions(h) if _pending(p)]
            if not pending:
                continue
            runs = [r for r in self.runs(h) if SMOKE_TAG not in r.tags]
            busy = any(r.status in UNFINISHED for r in runs)
            finished = [r for r in runs if r.status == FINISHED]
            for pred in pending:
                if _two_sided(pred):
                    outcome = targets.evaluate_sides(self.nb, pred)
                elif busy:
                    continue
                else:
                    outcome = targets.evaluate(self.nb, pred, finished)
                if outcome is not None and self._record(pred, outcome):
                    resolved.append(self.prediction(pred.id))
        if hyp is not None and sides:
            for pred in self.predictions():
                if pred.hyp_id != hyp.id and _pending(pred) and _two_sided(pred):
                    outcome = targets.evaluate_sides(self.nb, pred)
                    if outcome is not None and self._record(pred, outcome):
                        resolved.append(self.prediction(pred.id))
        return resolved

    def _record(self, pred: Prediction, outcome: tuple[str, float, dict[str, Any]]) -> bool:
        result, value, detail = outcome
        try:
            self.store.research.resolve_prediction(
                pred.id, Resolution(result, value, "auto", detail, time.time())
            )
        except BadInput:
            return False  # another process resolved it first
        return True

    def import_fatebook(self, text: str, forecaster: str | None = None) -> ImportReport:
        """Bring a Fatebook history in as scored predictions; safe to run again on a newer export.

        A question already imported gets its resolution added when it has one now, or a
        revision when the export holds a newer forecast; nothing is imported twice.
        """
        from labbook.formats.fatebook import parse

        parsed = parse(text, forecaster=forecaster)
        if len(parsed.forecasters) > 1 and forecaster is None:
            raise BadInput(
                f"this export holds forecasts by {len(parsed.forecasters)} people "
                f"({', '.join(parsed.forecasters[:5])}); say whose with --forecaster NAME"
            )
        existing: dict[str, list[Prediction]] = {}
        for p in self.predictions():
            if p.source == "fatebook":
                existing.setdefault(p.uid.split("@")[0], []).append(p)
        report = ImportReport(skipped=list(parsed.skipped), excluded=parsed.excluded)
        for row in parsed.rows:
            chain = existing.get(row.key, [])
            latest = chain[-1] if chain else None
            if latest is not None and abs(latest.created_at - row.created_at) < 1:
                if latest.resolution is None and row.outcome is not None:
                    self._resolve_imported(latest.id, row)
                    report.resolved += 1
                else:
                    report.unchanged += 1
                continue
            pred_id = self.store.research.create_prediction(
                NewPrediction(
                    uid=f"{row.key}@{row.created_at:.0f}",
                    hyp_id=None,
                    text=row.text,
                    kind=BINARY,
                    p=row.p,
                    author=row.forecaster or author(),
                    created_at=row.created_at,
                    due_at=row.resolve_by,
                    revision_of=latest.id if latest else None,
                    source="fatebook",
                    tags=row.tags,
                    late=False,
                )
            )
            if row.outcome is not None:
                self._resolve_imported(pred_id, row)
            if latest is None:
                report.added += 1
            else:
                report.revised += 1
        return report

    def _resolve_imported(self, pred_id: int, row: Any) -> None:
        detail = {"fatebook_line": row.line}
        resolution = Resolution(row.outcome, None, "import", detail, row.resolved_at or time.time())
        self.store.research.resolve_prediction(pred_id, resolution)

    def due(self, now: float | None = None) -> builtins.list[tuple[Prediction, str]]:
        """Unresolved predictions past their due date, or whose runs are all done."""
        now = time.time() if now is None else now
        self.auto_resolve()
        out = []
        for pred in self.predictions():
            if pred.resolution is not None or pred.superseded_by is not None:
                continue
            if pred.due_at is not None and pred.due_at <= now:
                out.append((pred, f"due {datetime.fromtimestamp(pred.due_at):%Y-%m-%d}"))
            elif pred.hyp_id is not None:
                runs = self.runs(self.get(pred.hyp_id))
                if runs and all(r.status not in UNFINISHED for r in runs):
                    reason = "its runs have finished"
                    if pred.metric:
                        reason += f" but not enough of them logged {pred.metric} (needs {pred.min_runs})"
                    out.append((pred, reason))
        return out
