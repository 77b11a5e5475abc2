"""``LabbookLogger`` for the older ``pytorch_lightning`` package: ``Trainer(logger=LabbookLogger())``.

For a Trainer of the ``lightning`` package, use ``labbook.integrations.lightning.LabbookLogger``: the same
logger on that package's base.
"""

from __future__ import annotations

from labbook.integrations._common import missing
from labbook.integrations._lightning import logger_class
from labbook.integrations._lightning_checks import checks_callback_class

try:
    from pytorch_lightning.callbacks import Callback
    from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
except ImportError as err:
    raise missing("pytorch_lightning", "lightning", err) from err

__all__ = ["LabbookChecksCallback", "LabbookLogger"]

LabbookLogger = logger_class(Logger, rank_zero_experiment, __name__)
LabbookChecksCallback = checks_callback_class(Callback, __name__)
