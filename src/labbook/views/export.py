"""``lab export H``: a hypothesis written up in Markdown, with its figures beside it.

The write-up keeps the order of events honest: each prediction shows when it was made
relative to the first result, late ones are marked, and evidence against the hypothesis
comes before anything in its favour.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.errors import BadInput
from labbook.records.research import Prediction
from labbook.records.runs import RunRecord
from labbook.service.hypotheses import Dossier, when_made

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _cell(value: object) -> str:
    text = json.dumps(value) if isinstance(value, bool | list | dict) or value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _outcome(p: Prediction) -> str:
    r = p.resolution
    if r is None:
        return "unresolved"
    value = f" ({_num(r.value)})" if r.value is not None else ""
    return f"{r.outcome}{value}, {r.how}"


def _metrics_to_show(preds: list[Prediction], runs: list[RunRecord]) -> list[str]:
    tied = [p.metric for p in preds if p.metric]
    seen = sorted({k for r in runs for k in r.metrics if not k.startswith("sys/")})
    return list(dict.fromkeys(tied + seen))[:4]


def export(nb: Notebook, ref: str | int, output: Path) -> Path:
    """Write the write-up to ``output`` (Markdown) and its PNGs to ``<stem>_files/``."""
    if output.suffix.lower() not in (".md", ".markdown"):
        raise BadInput(f"{output} should end in .md: the write-up is Markdown")
    d = nb.hypotheses.dossier(ref)
    figures = _figures(nb, d.predictions, d.runs, output)
    lines = _document(d, figures, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(output)
    return output


def _figures(
    nb: Notebook, preds: list[Prediction], runs: list[RunRecord], output: Path
) -> list[tuple[str, Path]]:
    from labbook.views.plots import metric_plot

    folder = output.with_name(f"{output.stem}_files")
    out = []
    for metric in _metrics_to_show(preds, runs):
        series = run_series(nb, runs, metric)
        if series:
            safe = re.sub(r"[^\w.-]+", "_", metric)
            out.append((metric, metric_plot(series, metric, folder / f"{safe}.png")))
    return out


def run_series(
    nb: Notebook, runs: list[RunRecord], metric: str
) -> dict[str, tuple[list[float], list[float]]]:
    """Each run's points of ``metric`` as its figure draws them, by legend label."""
    series = {}
    for r in runs:
        if metric in r.metrics:
            s = nb.series(r, metric)
            series[f"run {r.id} {r.name or ''}".strip()] = (s.steps.tolist(), s.values.tolist())
    return series


def _document(d: Dossier, figures: list[tuple[str, Path]], output: Path) -> list[str]:
    hyp, preds, runs, notes, first = d.hypothesis, d.predictions, d.runs, d.notes, d.first_result_at
    lines = [f"# {hyp.ref}: {hyp.text}", ""]
    status = hyp.status + (f" — **{hyp.outcome}**" if hyp.outcome else "")
    lines.append(f"- Status: {status}")
    if hyp.belief:
        lines.append(f"- What I believe now: {hyp.belief}")
    if hyp.problem:
        lines.append(f"- Problem: {hyp.problem}")
    if hyp.tags:
        lines.append(f"- Tags: {', '.join(hyp.tags)}")
    lines.append(
        f"- Recorded {_when(hyp.created_at)} by {hyp.author}; first result {_when(first) or 'not yet'}"
    )
    against = [n for n in notes if n.against]
    lines += ["", "## Evidence against", ""]
    if against:
        lines += [
            f"- {_when(n.created_at)}: {n.text}" + (f" (run {n.run_id})" if n.run_id else "") for n in against
        ]
    else:
        lines.append("None recorded.")
    lines += ["", "## Predictions", ""]
    if preds:
        lines += ["| | prediction | forecast | made | outcome |", "|---|---|---|---|---|"]
        for p in preds:
            made = when_made(p, first)
            flags = p.flags()
            text = p.text + (f" ({'; '.join(flags)})" if flags else "")
            lines.append(
                f"| {p.ref} | {_cell(text)} | {_cell(p.describe())} | {made} | {_cell(_outcome(p))} |"
            )
        lines += ["", "Late predictions were written after a result existed; they are shown, never scored."]
    else:
        lines.append("None were made before the runs.")
    lines += ["", "## Runs", ""]
    if runs:
        params = sorted({k for r in runs for k in r.params})
        metrics = _metrics_to_show(preds, runs)
        head = ["run", "name", "status", *params, *(f"{m} (last)" for m in metrics)]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in runs:
            cells = [
                str(r.id),
                r.name or "",
                r.status,
                *(_cell(r.params[k]) if k in r.params else "" for k in params),
            ]
            cells += [_num(r.metrics[m].last) if m in r.metrics else "" for m in metrics]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append("No runs are linked (lab run -H H ... links one).")
    if figures:
        lines += ["", "## Figures", ""]
        for metric, path in figures:
            lines += [f"![{metric}]({path.relative_to(output.parent).as_posix()})", ""]
    others = [n for n in notes if not n.against]
    if others:
        lines += ["", "## Notes", ""]
        lines += [f"- {_when(n.created_at)}: {n.text}" for n in others]
    lines += ["", "## Resolution", ""]
    if hyp.outcome:
        lines.append(
            f"{hyp.outcome.capitalize()} on {_when(hyp.resolved_at)}."
            + (f" {hyp.belief}" if hyp.belief else "")
        )
    else:
        lines.append("Not resolved yet.")
    return lines
