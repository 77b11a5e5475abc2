"""``LabbookLogger`` for the ``lightning`` package: ``Trainer(logger=LabbookLogger())``.

For a Trainer of the older ``pytorch_lightning`` package, use
``labbook.integrations.pytorch_lightning.LabbookLogger``: the same logger on that base.
"""

from __future__ import annotations

import labbook
from labbook.integrations._common import missing
from labbook.integrations._lightning import LabbookLoggerBase

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
except ImportError as err:
    raise missing("Lightning", "lightning", err) from err

__all__ = ["LabbookLogger"]


class LabbookLogger(LabbookLoggerBase, Logger):  # type: ignore[misc]  # Lightning is opaque to mypy here
    __doc__ = LabbookLoggerBase.__doc__

    @property
    @rank_zero_experiment  # type: ignore[untyped-decorator]
    def experiment(self) -> labbook.Run:
        """The labbook run (after a stage, the one it ended); on other ranks, Lightning's stand-in."""
        return self._latest()
