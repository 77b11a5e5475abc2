"""Sanity checks before spending compute: the first steps of the training recipe, for PyTorch.

    report = labbook.checks.run(model, (x, y), nn.CrossEntropyLoss(), optimizer=opt)

Most training bugs fail silently: nothing crashes, the model is just worse. The checks
(``torch_checks``) catch the common ones on one batch in seconds, and the report is kept
with the current run (``labbook.init``), so ``lab compare`` can warn that a run which
failed one is weak evidence. ``LABBOOK_CHECKS`` decides what a call does:

- unset (or ``on``): check, record, say in one line on stderr if a check failed, and go on;
- ``only`` (what ``lab check -- COMMAND`` sets): check, record, print the report, and end
  the process there, with exit code 0 when every check passed and 1 when one failed;
- ``off``: check nothing (an empty report), for a run that already passed them.

torch is imported when the checks run, never by ``import labbook``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from labbook.checks.report import Check, Report
from labbook.errors import BadInput

if TYPE_CHECKING:
    import torch

    from labbook.checks.torch_checks import LossFn

__all__ = ["Check", "Report", "run"]

ENV = "LABBOOK_CHECKS"
#: Where ``lab check`` asks for the report, as JSON, before the process ends.
REPORT_ENV = "LABBOOK_CHECKS_REPORT"
MODES = ("on", "only", "off")
PREFLIGHT_TAG = "preflight"


def run(
    model: torch.nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    num_classes: int | None = None,
    causal_dim: int | None = None,
    steps: int = 50,
    val_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    lr: float | None = None,
) -> Report:
    """Run the sanity checks on one batch, keep the report with the current run, and return it.

    ``batch`` and ``val_batch`` are ``(inputs, targets)``. The caller's model and optimizer
    are left as they were (the checks train copies). See ``torch_checks.run_checks`` for
    each check and its threshold.
    """
    mode = _mode()
    if mode == "off":
        return Report(())
    from labbook.checks.torch_checks import run_checks

    report = run_checks(
        model, batch, loss_fn, optimizer=optimizer, num_classes=num_classes, causal_dim=causal_dim,
        steps=steps, val_batch=val_batch, lr=lr,
    )  # fmt: skip
    current = _record(report, preflight=mode == "only")
    if mode == "only":
        _end_here(report, current)
    if report.failed:
        names = ", ".join(c.name for c in report.failures())
        where = f"; lab show {current.id} lists them" if current is not None else ""
        print(f"labbook: {report.failed} sanity check(s) failed: {names}{where}", file=sys.stderr, flush=True)
    return report


def _mode() -> str:
    raw = os.environ.get(ENV, "").strip().lower()
    if raw == "":
        return "on"
    if raw not in MODES:
        raise BadInput(f"{ENV} is one of {', '.join(MODES)}, not {raw!r}")
    return raw


def _record(report: Report, preflight: bool) -> Any:
    """The report on the current run (if there is one) and in the file ``lab check`` reads."""
    from labbook.tracking.sdk import current

    run = current()
    if run is not None:
        run.record_checks(report.to_json())
        if preflight:
            run.tag(PREFLIGHT_TAG)
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "w", encoding="utf-8") as f:
            json.dump({"run": run.id if run is not None else None, **report.to_json()}, f)
    return run


def _end_here(report: Report, current: Any) -> None:
    """``LABBOOK_CHECKS=only``: the checks were all that was asked for."""
    if not os.environ.get(REPORT_ENV):  # under lab check, lab check prints it
        print(report.render(), flush=True)
    if current is not None:
        current.finish()
    sys.exit(0 if report.ok else 1)
