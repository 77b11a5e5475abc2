"""``LabbookKerasCallback`` for Keras 3: ``model.fit(..., callbacks=[LabbookKerasCallback()])``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from labbook.integrations._common import RunOwner, missing, numbers, plain, prefixed
from labbook.records.runs import FAILED, FINISHED

try:
    import keras
except ImportError as err:
    raise missing("Keras", "keras", err) from err

__all__ = ["LabbookKerasCallback"]


def shortest(value: Any) -> Any:
    """Keras keeps the learning rate in a float32 variable: its config says 0.009999999776482582
    for 0.01, which ``--where 'optimizer.learning_rate == 0.01'`` would miss."""
    if isinstance(value, float) and float(np.float32(value)) == value:
        return float(str(np.float32(value)))
    return value


class LabbookKerasCallback(RunOwner, keras.callbacks.Callback):  # type: ignore[misc]  # Keras is opaque to mypy here
    """Writes what ``fit`` reports to a labbook run.

    ``epoch/<name>`` (Keras's epoch logs, ``val_`` metrics included) is logged at step = the
    epoch (from 0), ``batch/<name>`` (the epoch's running values) at step = batches done
    since ``fit`` began. Each ``fit`` starts a run (or attaches to the one ``lab run``
    started) and finishes it when training ends; one that raises is marked failed. A run
    you opened yourself (``labbook.init``) is borrowed and never ended.
    """

    _batches = _batches_before_epoch = 0  # batches done since fit began, and before this epoch

    def _fit_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {k: plain(v) for k, v in (self.params or {}).items() if k != "verbose"}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and callable(getattr(optimizer, "get_config", None)):
            params["optimizer"] = {k: shortest(v) for k, v in plain(optimizer.get_config()).items()}
        return params

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._slot.awaiting_end:  # the last fit raised and never reached its end
            self._slot.end(FAILED)
        self._slot.get(until_end=True).log_params(self._fit_params())
        self._batches_before_epoch = self._batches = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # ``batch`` counts within the epoch, and jumps by steps_per_execution when that is above 1
        self._batches = self._batches_before_epoch + batch + 1
        if logs:
            self._slot.get().log(prefixed("batch/", numbers(logs)), step=self._batches)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._batches_before_epoch = self._batches
        if logs:
            self._slot.get().log(prefixed("epoch/", numbers(logs)), step=epoch)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._slot.end(FINISHED)
