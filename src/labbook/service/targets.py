"""What a metric-tied prediction is about, and how its runs settle it.

By default, every finished run linked to its hypothesis. A prediction may instead be about

- the runs of its hypothesis matching ``--where EXPR`` (one arm of a sweep: ``params.lr == 0.2``);
- ``--diff A B``: the difference of two variants' reduced metric, compared with
  ``--op/--value`` or checked against ``--low/--high``;
- ``--verdict A B better|worse|none``: what ``lab compare A B --metric M`` will conclude,
  resolved by the same code that prints that verdict.

The two sides are chosen as ``lab compare`` chooses them: from the whole notebook (a
baseline need not be linked to the hypothesis), finished runs only, smoke runs left out,
each side ANDed with ``--where``. They resolve once every run either side names has ended
and each has ``--runs`` seeds. A prediction written when a run of either side already has
results is late, like one whose hypothesis's runs have results: it is kept, not scored.

The meaning is fixed when the prediction is written: each side is turned into a
``--where`` expression then (a tag or run name names the runs it named at that time, a
variant its parameter values), so runs added later cannot change what was predicted.
Names that no run has logged yet may be used when their kind is explicit (``params.lr``,
``test_loss.last``): a prediction comes before its data. A bare unknown name is refused.

Repeats of one configuration and seed count once (``repeats.fold``), so ``--runs N``
means N independent seeds per side; the evidence records the runs and values per side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labbook.core.query import RunField, SortKey
from labbook.core.repeats import Folded, fold
from labbook.errors import BadInput, LabbookError, QueryError
from labbook.service.settings import NOISE_DEFAULT, noise_of

if TYPE_CHECKING:
    from labbook.records.research import Prediction
    from labbook.records.runs import RunRecord
    from labbook.service.notebook import Notebook

VERDICTS = ("better", "worse", "none")
_OLDEST_FIRST = [SortKey(RunField("id"))]
NOISE = NOISE_DEFAULT


@dataclass(frozen=True)
class Scope:
    """The parsed ``scope`` of a prediction (see the module docstring)."""

    where: str | None = None
    a: str | None = None  # side A as a --where expression
    b: str | None = None
    a_spec: str | None = None  # as the user wrote it
    b_spec: str | None = None
    verdict: str | None = None

    @property
    def sides(self) -> bool:
        return self.a is not None

    def as_json(self) -> dict[str, Any] | None:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        return out or None

    @classmethod
    def of(cls, pred: Prediction) -> Scope:
        return cls(**(pred.scope or {}))


# -- writing: checked before anything is stored -----------------------------------------


def build(
    nb: Notebook, where: str | None, diff: tuple[str, str] | None, verdict: tuple[str, str, str] | None
) -> Scope:
    """The scope of a new prediction; one BadInput line for each kind of mistake."""
    if diff and verdict:
        raise BadInput(
            "give --diff A B (a number) or --verdict A B WORD (what lab compare concludes), not both"
        )
    if where is not None:
        check(nb, where, "--where")
    if verdict:
        a_spec, b_spec, word = verdict
        if word not in VERDICTS:
            raise BadInput(
                f"--verdict {a_spec} {b_spec} {word}: the last word is what lab compare concludes,"
                " one of better, worse, none"
            )
        return Scope(
            where, side(nb, a_spec, "--verdict"), side(nb, b_spec, "--verdict"), a_spec, b_spec, word
        )
    if diff:
        a_spec, b_spec = diff
        return Scope(where, side(nb, a_spec, "--diff"), side(nb, b_spec, "--diff"), a_spec, b_spec)
    return Scope(where)


def check(nb: Notebook, expr: str, option: str) -> None:
    """Compile ``expr`` as it will be run, allowing explicit names not yet logged."""
    from labbook.core.query import parse_where, widened

    try:
        parse_where(expr, widened(expr, nb.store.runs.fields()))
    except QueryError as err:
        raise BadInput(f"{option} {expr!r}: {err}") from None


def side(nb: Notebook, spec: str, option: str) -> str:
    """One side as a fixed --where expression; a side that can match no run is refused."""
    from labbook.service.compare.sides import side_query

    kind, expr = side_query(nb, spec)
    if kind == "runs":  # named one by one: each must exist (a run name's ids exist by definition)
        missing = [i for i in (int(t) for t in spec.split(",")) if nb.store.runs.get_run(i) is None]
        if missing:
            raise BadInput(
                f"{option} side {spec!r} matches no run: no run {', '.join(map(str, missing))} here"
            )
        return expr
    if kind == "where":
        try:
            check(nb, expr, option)
        except BadInput as err:
            raise BadInput(
                f"{option} side {spec!r} matches no run: it is not a run id, variant (key=value), tag or"
                f" run name, and as an expression {str(err).split(': ', 1)[-1]}"
                f" (a tag no run has yet: \"'{spec}' in tags\")"
            ) from None
    return expr


# -- resolving --------------------------------------------------------------------------


def _runs(nb: Notebook, expr: str, hyp_id: int | None = None) -> list[RunRecord]:
    """Runs matching ``expr`` (of one hypothesis, if given); none while a name is still unknown."""
    from labbook.core.query import Compare, RunField, both, parse_where, widened

    try:
        cond = parse_where(expr, widened(expr, nb.store.runs.fields()))
    except QueryError:
        return []
    of_hyp = None if hyp_id is None else Compare(RunField("hyp"), "=", hyp_id)
    runs, _ = nb.store.runs.query_runs(both(of_hyp, cond), _OLDEST_FIRST, None)
    return runs


def matching(nb: Notebook, hyp_id: int, expr: str) -> set[int]:
    return {r.id for r in _runs(nb, expr, hyp_id)}


def side_runs(nb: Notebook, scope: Scope) -> tuple[list[RunRecord], list[RunRecord]]:
    """Every run each side names (any status), ``--where`` applied."""
    assert scope.a is not None and scope.b is not None
    extra = f" and ({scope.where})" if scope.where else ""
    return _runs(nb, f"({scope.a}){extra}"), _runs(nb, f"({scope.b}){extra}")


def has_results(nb: Notebook, scope: Scope) -> bool:
    """Whether a run of either side has logged a metric: a prediction now would be late."""
    if not scope.sides:
        return False
    a, b = side_runs(nb, scope)
    return any(r.metrics for r in a + b)


def folded_values(pred: Prediction, runs: list[RunRecord], noise: tuple[str, ...] = NOISE) -> Folded:
    """One value per (configuration, noise keys) among the runs that logged the metric."""
    assert pred.metric and pred.agg
    pairs = [(r, float(getattr(r.metrics[pred.metric], pred.agg))) for r in runs if pred.metric in r.metrics]
    return fold(pairs, noise)


def _side_evidence(spec: str | None, f: Folded) -> dict[str, Any]:
    return {"spec": spec, "runs": f.runs, "values": f.values, "folded": f.folded}


Outcome = tuple[str, float, dict[str, Any]]


def evaluate(nb: Notebook, pred: Prediction, runs: list[RunRecord]) -> Outcome | None:
    """Outcome, realised value and evidence of a prediction on its hypothesis's runs, or None yet.

    ``runs`` are the hypothesis's finished, non-smoke runs (none of them still running).
    """
    from labbook.service.forecast import REDUCERS

    scope = Scope.of(pred)
    if scope.where is not None and pred.hyp_id is not None:
        keep = matching(nb, pred.hyp_id, scope.where)
        runs = [r for r in runs if r.id in keep]
    f = folded_values(pred, runs, noise_of(nb.settings, None)[0])
    if len(f.values) < (pred.min_runs or 1):
        return None
    x = REDUCERS[pred.reduce or "mean"](f.values)
    evidence = {"runs": f.run_ids, "values": f.values, "reduced": x, "folded": f.folded, "groups": f.runs}
    return _judge(pred, x), x, evidence


def evaluate_sides(nb: Notebook, pred: Prediction) -> Outcome | None:
    """Outcome, value and evidence of a --diff / --verdict prediction, or None while it cannot be settled."""
    from labbook.records.runs import FINISHED, UNFINISHED
    from labbook.service.forecast import REDUCERS
    from labbook.service.hypotheses import SMOKE_TAG

    scope = Scope.of(pred)
    a, b = side_runs(nb, scope)
    if any(r.status in UNFINISHED for r in a + b) or {r.id for r in a} & {r.id for r in b}:
        return None

    def usable(runs: list[RunRecord]) -> list[RunRecord]:
        return [r for r in runs if r.status == FINISHED and SMOKE_TAG not in r.tags]

    noise = noise_of(nb.settings, None)[0]
    fa, fb = folded_values(pred, usable(a), noise), folded_values(pred, usable(b), noise)
    need = pred.min_runs or 1
    if len(fa.values) < need or len(fb.values) < need:
        return None
    detail: dict[str, Any] = {"a": _side_evidence(scope.a_spec, fa), "b": _side_evidence(scope.b_spec, fb)}
    if scope.verdict is not None:
        return _verdict(nb, pred, scope, detail)
    reduce = REDUCERS[pred.reduce or "mean"]
    x = reduce(fa.values) - reduce(fb.values)
    detail["diff"] = x
    return _judge(pred, x), x, detail


def _judge(pred: Prediction, x: float) -> str:
    from labbook.records.research import NUMERIC
    from labbook.service.forecast import OPS

    if pred.kind == NUMERIC:
        ok = pred.low is not None and pred.high is not None and pred.low <= x <= pred.high
    else:
        ok = pred.op is not None and pred.value is not None and OPS[pred.op](x, pred.value)
    return "true" if ok else "false"


def _verdict(nb: Notebook, pred: Prediction, scope: Scope, detail: dict[str, Any]) -> Outcome | None:
    """Run the comparison ``lab compare A B --metric M [--where]`` would, and read its verdict."""
    from labbook.service.compare.report import compare
    from labbook.service.compare.words import verdict

    assert scope.a and scope.b and pred.metric
    try:
        report = compare(
            nb, scope.a, scope.b, metrics=[pred.metric], agg=pred.agg or "last", where=scope.where
        )
    except LabbookError:
        return None  # not comparable yet (a side without the metric, say): it stays open
    result = report.metrics[0]
    c = result.comparison
    detail.update(
        {"verdict": c.verdict, "p": c.p if math.isfinite(c.p) else None, "sentence": verdict(result)}
    )
    return ("true" if c.verdict == scope.verdict else "false"), float(c.diff), detail
