"""The Lightning logger with a real Trainer on the CPU, over ``lightning`` and ``pytorch_lightning``."""

from __future__ import annotations

import json
import pickle
import signal
import sys
import textwrap
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch
import pytest
import pytorch_lightning
import torch
from lightning_utilities.core.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, TensorDataset

import labbook
import labbook.integrations.lightning
import labbook.integrations.pytorch_lightning

from .conftest import lab_proc, write_script
from .helpers_integrations import points, read, runs, stored

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:.*`srun` command is available"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec"),
    pytest.mark.filterwarnings("ignore:.*is a sequence of length"),
    pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`"),
]

PACKAGES = {
    "lightning": (lightning.pytorch, labbook.integrations.lightning),
    "pytorch_lightning": (pytorch_lightning, labbook.integrations.pytorch_lightning),
}


def kit(package: str) -> SimpleNamespace:
    """A tiny module and a recording logger (what Lightning hands every logger) for one package."""
    pl, integration = PACKAGES[package]

    class Tiny(pl.LightningModule):
        def __init__(
            self,
            lr: float = 0.1,
            layers: dict[str, int] | None = None,
            stop_at: int = -1,
            stop_with: str = "",
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))

        def _loss(self, batch: Any) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            if self.global_step == self.hparams.stop_at:
                raise {"boom": RuntimeError("boom"), "ctrl-c": KeyboardInterrupt()}[self.hparams.stop_with]
            loss = self._loss(batch)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            self.log("val_loss", self._loss(batch))

        def test_step(self, batch: Any, index: int) -> None:
            self.log("test_loss", self._loss(batch))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class Recording(pl.loggers.Logger):
        def __init__(self) -> None:
            super().__init__()
            self.logged: list[tuple[dict[str, float], int]] = []

        @property
        def name(self) -> str:
            return "recording"

        @property
        def version(self) -> int:
            return 0

        def log_metrics(self, metrics: dict[str, float], step: int) -> None:
            self.logged.append((dict(metrics), step))

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    def trainer(*loggers: Any, **options: Any) -> Any:
        settings: dict[str, Any] = {
            "max_epochs": 2,
            "log_every_n_steps": 2,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
        }
        return pl.Trainer(logger=list(loggers), **{**settings, **options})

    return SimpleNamespace(Tiny=Tiny, Recording=Recording, Logger=integration.LabbookLogger, trainer=trainer)


@pytest.fixture(params=list(PACKAGES))
def both(request: pytest.FixtureRequest) -> SimpleNamespace:
    return kit(request.param)


@pytest.fixture
def lit() -> SimpleNamespace:
    return kit("lightning")


def data(n: int = 32) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(n, 3, generator=generator), torch.randn(n, 1, generator=generator)), 8
    )


def test_fit_writes_what_lightning_logged_into_a_finished_run(project: Path, both: SimpleNamespace) -> None:
    logger, recording = both.Logger(name="tiny", tags=["smoke"], config={"data": {"n": 32}}), both.Recording()
    trainer = both.trainer(logger, recording)
    trainer.fit(both.Tiny(layers={"hidden": 4}), data(), data(16))

    rec = read(project, logger.version)
    assert (rec.status, rec.name, rec.tags) == ("finished", "tiny", ("smoke",))
    assert rec.params == {"data.n": 32, "lr": 0.1, "layers.hidden": 4, "stop_at": -1, "stop_with": ""}
    assert stored(project, rec.id) == points(recording.logged)
    assert {"train_loss", "val_loss", "epoch"} <= set(rec.metrics) and rec.metrics["val_loss"].count == 2
    best = trainer.checkpoint_callback.best_model_path
    assert rec.summary == {"best_checkpoint": best} and Path(best).is_file()
    assert f"tiny/version_{rec.id}/checkpoints" in best  # named after the run, outside the notebook
    assert logger.log_dir == str(logger.experiment.dir)
    assert Path(logger.log_dir).parent == Path(logger.root_dir)


def test_a_fit_that_raises_is_failed_and_keeps_its_points(project: Path, lit: SimpleNamespace) -> None:
    logger, recording = lit.Logger(), lit.Recording()
    with pytest.raises(RuntimeError, match="boom"):
        lit.trainer(logger, recording, enable_checkpointing=False).fit(
            lit.Tiny(stop_at=5, stop_with="boom"), data()
        )
    rec = read(project, logger.version)
    assert rec.status == "failed"
    assert stored(project, rec.id) == points(recording.logged) and rec.metrics["train_loss"].count == 2


@pytest.fixture
def sigint_restored() -> Iterator[None]:
    """Lightning ignores Ctrl-C from the first one on; the rest of the suite must not."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_ctrl_c_during_fit_is_killed(project: Path, lit: SimpleNamespace, sigint_restored: None) -> None:
    logger = lit.Logger()
    # Lightning turns KeyboardInterrupt into exit(1), after finalize("failed")
    with pytest.raises(SystemExit):
        lit.trainer(logger, enable_checkpointing=False).fit(lit.Tiny(stop_at=3, stop_with="ctrl-c"), data())
    assert read(project, logger.version).status == "killed"


def test_each_stage_is_a_run_unless_you_opened_one(project: Path, lit: SimpleNamespace) -> None:
    logger = lit.Logger(name="staged")
    trainer = lit.trainer(logger, enable_checkpointing=False)
    trainer.fit(lit.Tiny(), data())
    fitted = logger.version
    trainer.test(trainer.lightning_module, data())
    fit, test = runs(project)
    assert (fit.id, fit.status, test.status, test.name) == (fitted, "finished", "finished", "staged")
    assert "test_loss" not in fit.metrics and set(test.metrics) == {"test_loss", "epoch"}
    assert logger.version == test.id and test.params == fit.params

    with labbook.init(name="mine") as mine:
        logger = lit.Logger(name="ignored", config={"seed": 1})
        trainer = lit.trainer(logger, enable_checkpointing=False)
        trainer.fit(lit.Tiny(), data())
        trainer.test(trainer.lightning_module, data())
        assert logger.experiment is mine and read(project, mine.id).status == "running"
    rec = read(project, mine.id)
    assert (rec.status, rec.name, rec.params["seed"]) == ("finished", "mine", 1)
    assert {"train_loss", "test_loss"} <= set(rec.metrics) and len(runs(project)) == 3


def test_ranks_other_than_zero_write_nothing(
    project: Path, lit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = lit.Logger()
    lit.trainer(logger, enable_checkpointing=False).fit(lit.Tiny(), data())
    logger.log_metrics({"x": 1.0}, step=0)
    assert logger.version is None and logger.log_dir is None
    assert not isinstance(logger.experiment, labbook.Run)
    assert runs(project) == []


def test_the_logger_called_directly(project: Path, lit: SimpleNamespace) -> None:
    """Namespaces and nested values as hyperparameters; only numbers as metrics; a copy starts afresh."""
    logger = lit.Logger()
    logger.log_hyperparams(Namespace(lr=torch.tensor(0.5), model=Namespace(depth=2, act=torch.nn.Tanh)))
    logger.log_metrics({"loss": torch.tensor(0.25), "note": "text", "acc": 1}, step=4)
    copy = pickle.loads(pickle.dumps(logger))  # a spawned worker's copy
    logger.finalize("finished")  # Lightning's word before a Slurm requeue: the run goes on
    assert read(project, logger.version).status == "running"
    logger.finalize("success")
    rec = read(project, logger.version)
    assert rec.status == "finished" and stored(project, rec.id) == {"loss": [(4, 0.25)], "acc": [(4, 1.0)]}
    assert rec.params == {"lr": 0.5, "model.depth": 2, "model.act": str(torch.nn.Tanh)}
    assert copy._slot.run is None and len(runs(project)) == 1


@pytest.mark.parametrize(
    ("word", "status"), [("failed", "failed"), ("aborted", "killed"), ("unheard-of", "failed")]
)
def test_lightnings_word_for_the_end_becomes_the_status(
    project: Path, lit: SimpleNamespace, word: str, status: str
) -> None:
    logger = lit.Logger()
    logger.log_metrics({"x": 1.0}, step=0)
    logger.finalize(word)
    assert read(project, logger.version).status == status


TRAIN = """
    import json, sys
    import lightning.pytorch as pl
    import torch
    from labbook.integrations.lightning import LabbookLogger

    class Tiny(pl.LightningModule):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(3, 1)

        def training_step(self, batch, index):
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class Recording(pl.loggers.Logger):
        name, version, logged = "recording", 0, []

        def log_metrics(self, metrics, step):
            self.logged.append((metrics, step))

        def log_hyperparams(self, params, *args, **kwargs):
            pass

    data = torch.utils.data.TensorDataset(torch.randn(32, 3), torch.randn(32, 1))
    trainer = pl.Trainer(
        max_epochs=2, log_every_n_steps=2, logger=[LabbookLogger(name="under-lab-run"), Recording()],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=8))
    with open("logged.json", "w") as fh:
        json.dump(Recording.logged, fh)
    sys.exit(3)
"""


def test_under_lab_run_the_points_join_its_run_and_the_exit_decides(project: Path) -> None:
    write_script(project, "train.py", textwrap.dedent(TRAIN))
    proc = lab_proc("run", "--", sys.executable, "train.py", cwd=project)
    assert proc.returncode == 3, proc.stderr
    (rec,) = runs(project)
    assert (rec.status, rec.exit_code, rec.source, rec.name) == ("failed", 3, "cli", "under-lab-run")
    logged = [(values, step) for values, step in json.loads((project / "logged.json").read_text())]
    assert stored(project, rec.id) == points(logged) and rec.params["lr"] == 0.1
