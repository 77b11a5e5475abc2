"""The Lightning logger, written once for both packages (``lightning`` and ``pytorch_lightning``).

Each package's Trainer insists on a logger that subclasses its own ``Logger``, so
``labbook.integrations.lightning`` and ``labbook.integrations.pytorch_lightning`` each join
this class to their package's base. Both packages check the rank through the one
``rank_zero_only`` of ``lightning_utilities``, whose ``rank`` their strategies set.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable, Mapping
from typing import Any

from labbook.integrations._common import RunOwner, missing, numbers, plain
from labbook.records.runs import FAILED, FINISHED, KILLED

try:
    from lightning_utilities.core.rank_zero import rank_zero_only
except ImportError as err:
    raise missing("Lightning", "lightning", err) from err

import labbook

_ENDS = {"success": FINISHED, "failed": FAILED, "aborted": KILLED, "interrupted": KILLED, "killed": KILLED}


def ended_as(status: str) -> str:
    """Lightning's word for how a stage ended, in labbook's; an unknown word is not a success."""
    end = _ENDS.get(status, FAILED)
    if end == FAILED and isinstance(sys.exc_info()[1], KeyboardInterrupt | SystemExit):
        return KILLED  # Ctrl-C, or SIGTERM (Lightning's SIGTERMException), reported as "failed"
    return end


class LabbookLoggerBase(RunOwner):
    """A Lightning logger that writes to a labbook run: ``Trainer(logger=LabbookLogger())``.

    Each Trainer stage (``fit``, ``validate``, ``test``) starts a run, or attaches to the one
    ``lab run`` started, and ends it with the stage's status; to keep ``fit`` and ``test`` in
    one run, open it yourself (``with labbook.init(): ...``) and the logger borrows it (then
    ``name``, ``tags`` and ``note`` are yours to set there; ``config`` is added to its params).
    Only global rank 0 writes. Checkpoints go where Lightning puts them
    (``default_root_dir/<name>/version_<run id>``), not into the notebook.
    """

    def _run(self) -> labbook.Run:
        """The run to write to: a stage's first write after another stage ended starts a new one."""
        return self._slot.get(until_end=True)

    def _latest(self) -> labbook.Run:
        """The run in progress, else the one that ended last (``logger.version`` after ``fit``)."""
        return self._slot.run or self._slot.last or self._run()

    _latest_on_rank_zero = rank_zero_only(_latest)

    @property
    def name(self) -> str:
        """The same on every rank (checkpoint paths are built from it before ranks agree)."""
        return self._slot.name or "labbook"

    @property
    def version(self) -> int | None:
        """The run's id: Lightning names the checkpoint folder ``version_<id>`` after it."""
        run = self._latest_on_rank_zero()
        return None if run is None else run.id

    @property
    def log_dir(self) -> str | None:
        """The run's folder in the notebook (its output and metric files)."""
        run = self._latest_on_rank_zero()
        return None if run is None else str(run.dir)

    @property
    def root_dir(self) -> str | None:
        """The notebook's folder of run folders."""
        run = self._latest_on_rank_zero()
        return None if run is None else str(run.dir.parent)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._run().log(numbers(metrics), step=step)

    @rank_zero_only
    def log_hyperparams(
        self, params: Mapping[str, Any] | Namespace | None, *args: Any, **kwargs: Any
    ) -> None:
        """Nested hyperparameters become dotted names (``optim.lr``); objects are kept as their text."""
        values = plain(params)
        if isinstance(values, dict) and values:
            self._run().log_params(values)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Record where the best checkpoint is, so ``lab show`` points at it."""
        path = getattr(checkpoint_callback, "best_model_path", "")
        if path:
            self._run().summary["best_checkpoint"] = str(path)

    def save(self) -> None:
        """Nothing to do: points reach the disk in the background within a second."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if status == "finished":
            return  # said only before a Slurm requeue, and training goes on until the job is stopped
        self._slot.end(ended_as(status))


def logger_class(base: type, rank_zero_experiment: Callable[..., Any], module: str) -> type[Any]:
    """``LabbookLogger`` on one package's ``Logger``: named as its module exports it, so it pickles."""

    def experiment(self: LabbookLoggerBase) -> labbook.Run:
        """The labbook run (after a stage, the one it ended); on other ranks, Lightning's stand-in."""
        return self._latest()

    namespace = {
        "__doc__": LabbookLoggerBase.__doc__,
        "__module__": module,
        "__qualname__": "LabbookLogger",
        "experiment": property(rank_zero_experiment(experiment)),
    }
    return type("LabbookLogger", (LabbookLoggerBase, base), namespace)
