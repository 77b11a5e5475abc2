"""``LabbookLogger`` for the ``lightning`` package: ``Trainer(logger=LabbookLogger())``.

For a Trainer of the older ``pytorch_lightning`` package, use ``labbook.integrations.pytorch_lightning.LabbookLogger``: the same
logger on that package's base.
"""

from __future__ import annotations

from labbook.integrations._common import missing
from labbook.integrations._lightning import logger_class

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
except ImportError as err:
    raise missing("Lightning", "lightning", err) from err

__all__ = ["LabbookLogger"]

LabbookLogger = logger_class(Logger, rank_zero_experiment, __name__)
