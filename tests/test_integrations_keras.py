"""The Keras callback with a real ``fit`` on the torch backend (CPU), a tiny dense model, random data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"  # read once, when keras is first imported: before the import below
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="labbook-test-keras-"))  # not ~/.keras

import keras
import numpy as np
import pytest

import labbook
from labbook.integrations.keras import LabbookKerasCallback

from .helpers_integrations import Points, points, read, runs, stored

assert keras.backend.backend() == "torch", "keras was imported with another backend before this module"

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


class Recording(keras.callbacks.Callback):
    """What Keras hands every callback: batch logs (numbered from the start of fit) and epoch logs."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[dict[str, float], int]] = []
        self.epochs: list[tuple[dict[str, float], int]] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.batches.append((dict(logs or {}), len(self.batches) + 1))

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epochs.append((dict(logs or {}), epoch))


class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch == 1:
            raise RuntimeError("boom")


def fit(*callbacks: Any, epochs: int = 3) -> Any:
    """48 samples, a quarter held out, batches of 12: three batches an epoch."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 3)).astype("float32"), rng.normal(size=(48, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model.fit(
        x, y, epochs=epochs, batch_size=12, validation_split=0.25, verbose=0, callbacks=list(callbacks)
    )


def renamed(prefix: str, logged: Points) -> Points:
    return {prefix + key: pts for key, pts in logged.items()}


def test_fit_writes_what_keras_logged_into_a_finished_run(project: Path) -> None:
    recording = Recording()
    history = fit(LabbookKerasCallback(name="tiny-keras", tags=["keras"], config={"seed": 0}), recording)
    (rec,) = runs(project)
    assert (rec.status, rec.name, rec.tags) == ("finished", "tiny-keras", ("keras",))
    want = {**renamed("batch/", points(recording.batches)), **renamed("epoch/", points(recording.epochs))}
    assert stored(project, rec.id) == want
    assert [step for step, _ in want["batch/loss"]] == list(range(1, 10))
    for key, values in history.history.items():  # Keras's own record of each epoch
        assert stored(project, rec.id)[f"epoch/{key}"] == list(enumerate(values))
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    params = rec.params
    assert (params["seed"], params["epochs"], params["steps"]) == (0, 3, 3)
    assert (params["optimizer.name"], params["optimizer.learning_rate"]) == ("adam", 0.01)


def test_a_fit_that_raises_is_failed_when_the_next_one_begins(project: Path) -> None:
    callback = LabbookKerasCallback()
    with pytest.raises(RuntimeError, match="boom"):
        fit(callback, Boom())
    assert runs(project)[0].status == "running"  # Keras says nothing to callbacks when fit dies
    fit(callback, epochs=1)
    failed, finished = runs(project)
    assert (failed.status, failed.metrics["epoch/loss"].count) == ("failed", 2)
    assert (finished.status, finished.metrics["epoch/loss"].count, finished.metrics["batch/loss"].count) == (
        "finished",
        1,
        3,
    )


def test_the_users_run_is_borrowed_and_left_open(project: Path) -> None:
    with labbook.init(name="mine") as mine:
        callback = LabbookKerasCallback(name="ignored")
        fit(callback, epochs=2)
        fit(callback, epochs=1)  # a second fit: same run, its epochs counted from 0 again
        assert read(project, mine.id).status == "running"
    (rec,) = runs(project)
    assert (rec.status, rec.name) == ("finished", "mine")
    assert [step for step, _ in stored(project, rec.id)["epoch/loss"]] == [0, 1, 0]
    assert rec.params["epochs"] == 1  # the latest fit's
