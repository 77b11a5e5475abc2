"""``LabbookCallback`` for the Hugging Face ``Trainer``: ``Trainer(..., callbacks=[LabbookCallback()])``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import labbook
from labbook.integrations._common import RunOwner, missing, numbers, plain
from labbook.records.runs import FAILED, FINISHED

try:
    from transformers import TrainerCallback
except ImportError as err:
    raise missing("transformers", "hf", err) from err

__all__ = ["LabbookCallback"]

#: Figures about the whole training, logged once at its end: summary values, not series.
TOTALS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
#: The Trainer names evaluation metrics ``eval_loss``; they become ``eval/loss``.
SPLITS = ("eval_", "test_")


def metric_name(key: str) -> str:
    for prefix in SPLITS:
        if key.startswith(prefix):
            return f"{prefix[:-1]}/{key[len(prefix) :]}"
    return key


def training_params(args: Any, model: Any) -> dict[str, Any]:
    """The TrainingArguments, and the model's config under ``model.``: what a comparison of runs needs."""
    params: dict[str, Any] = dict(plain(args.to_dict()))
    config = getattr(model, "config", None)
    if config is not None and callable(getattr(config, "to_dict", None)):
        params["model"] = plain(config.to_dict())
    return params


class LabbookCallback(RunOwner, TrainerCallback):  # type: ignore[misc]  # transformers is opaque to mypy here
    """Writes the Trainer's logs to a labbook run, from the world's main process only.

    Each ``trainer.train()`` starts a run (or attaches to the one ``lab run`` started) and
    finishes it when training ends; one that raises is marked failed. Metrics are logged
    at ``state.global_step``. To keep a later ``trainer.evaluate()`` in the same run, open it
    yourself (``with labbook.init(): ...``): the callback borrows it and never ends it.
    """

    def _run(self, args: Any, model: Any, *, training: bool = False) -> labbook.Run:
        fresh = self._slot.run is None
        run = self._slot.get(until_end=training)
        if fresh or training:
            run.log_params(training_params(args, model))
        return run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self._slot.awaiting_end:  # the last train() raised and never reached its end
            self._slot.end(FAILED)
        self._run(args, model, training=True)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._run(args, kwargs.get("model"))
        values = numbers(logs)
        run.log({metric_name(k): v for k, v in values.items() if k not in TOTALS}, step=state.global_step)
        for key in TOTALS:
            if key in values:
                run.summary[key] = values[key]

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._slot.end(FINISHED)
