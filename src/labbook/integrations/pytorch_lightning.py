"""``LabbookLogger`` for the older ``pytorch_lightning`` package: ``Trainer(logger=LabbookLogger())``.

For a Trainer of the ``lightning`` package, use
``labbook.integrations.lightning.LabbookLogger``: the same logger on that base.
"""

from __future__ import annotations

import labbook
from labbook.integrations._common import missing
from labbook.integrations._lightning import LabbookLoggerBase

try:
    from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
except ImportError as err:
    raise missing("pytorch_lightning", "lightning", err) from err

__all__ = ["LabbookLogger"]


class LabbookLogger(LabbookLoggerBase, Logger):  # type: ignore[misc]  # Lightning is opaque to mypy here
    __doc__ = LabbookLoggerBase.__doc__

    @property
    @rank_zero_experiment  # type: ignore[untyped-decorator]
    def experiment(self) -> labbook.Run:
        """The labbook run (after a stage, the one it ended); on other ranks, Lightning's stand-in."""
        return self._latest()
