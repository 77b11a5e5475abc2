"""``LabbookLogger`` for the ``lightning`` package: ``Trainer(logger=LabbookLogger())``; and
``LabbookChecksCallback``, the sanity checks at the start of ``fit`` (``labbook.checks``).

For a Trainer of the older ``pytorch_lightning`` package, use ``labbook.integrations.pytorch_lightning.LabbookLogger``: the same
logger on that package's base.
"""

from __future__ import annotations

from labbook.integrations._common import missing
from labbook.integrations._lightning import logger_class
from labbook.integrations._lightning_checks import checks_callback_class

try:
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
except ImportError as err:
    raise missing("Lightning", "lightning", err) from err

__all__ = ["LabbookChecksCallback", "LabbookLogger"]

LabbookLogger = logger_class(Logger, rank_zero_experiment, __name__)
LabbookChecksCallback = checks_callback_class(Callback, __name__)
