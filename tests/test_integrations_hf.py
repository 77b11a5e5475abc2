"""The Hugging Face callback with a real Trainer on the CPU: a tiny BERT built from a config, random data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import labbook
from labbook.integrations.hf import TOTALS, LabbookCallback

from .conftest import write_script
from .helpers_integrations import Points, read, runs, stored


class Pairs(Dataset[dict[str, torch.Tensor]]):
    """Random token ids with random labels: nothing to learn, but every number is real."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 32, (n, 8), generator=generator)
        self.labels = torch.randint(0, 2, (n,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


class Boom(TrainerCallback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.at:
            self.at = -1  # once: the next train() goes through
            raise RuntimeError("boom")


def trainer(project: Path, *callbacks: Any, epochs: int = 2) -> Trainer:
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        max_position_embeddings=16,
        source=PurePosixPath("data/pairs"),  # a config value that is no number or text
    )
    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(project / "out"),
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        logging_steps=2,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Pairs(32, 1),
        eval_dataset=Pairs(16, 2),
        callbacks=list(callbacks),
    )


def expected(log_history: list[dict[str, Any]]) -> Points:
    """The Trainer's own record of what it logged, as the run should hold it."""
    out: Points = {}
    for entry in log_history:
        for key, value in entry.items():
            if key != "step" and key not in TOTALS:
                name = key.replace("eval_", "eval/", 1) if key.startswith("eval_") else key
                out.setdefault(name, []).append((entry["step"], float(value)))
    return out


def test_training_writes_what_the_trainer_logged_into_a_finished_run(project: Path) -> None:
    t = trainer(project, LabbookCallback(name="tiny-bert", tags=["hf"], config={"data": "pairs"}))
    t.train()
    (rec,) = runs(project)
    assert (rec.status, rec.name, rec.tags) == ("finished", "tiny-bert", ("hf",))
    assert stored(project, rec.id) == expected(t.state.log_history)
    assert {"loss", "grad_norm", "learning_rate", "epoch", "eval/loss"} <= set(rec.metrics)
    assert rec.metrics["loss"].count == 4 and rec.metrics["eval/loss"].count == 2  # 8 steps, 2 epochs
    totals = t.state.log_history[-1]
    assert rec.summary == {key: totals[key] for key in TOTALS}
    params = rec.params
    assert (params["data"], params["learning_rate"], params["per_device_train_batch_size"]) == (
        "pairs",
        5e-05,
        8,
    )
    assert (params["lr_scheduler_type"], params["report_to"]) == ("linear", [])
    assert (params["model.hidden_size"], params["model.id2label.1"]) == (8, "LABEL_1")
    assert params["model.source"] == "data/pairs"


def test_a_training_that_raises_is_failed_when_the_next_one_begins(project: Path) -> None:
    t = trainer(project, LabbookCallback(), Boom(at=3))
    with pytest.raises(RuntimeError, match="boom"):
        t.train()
    assert runs(project)[0].status == "running"  # the Trainer says nothing when it dies
    t.train()
    failed, finished = runs(project)
    assert (failed.status, failed.metrics["loss"].count, finished.status) == ("failed", 1, "finished")


SCRIPT = """
    from pathlib import Path
    from labbook.integrations.hf import LabbookCallback
    from tests.test_integrations_hf import Boom, trainer

    try:
        trainer(Path.cwd(), LabbookCallback(), Boom(at=3)).train()
    except RuntimeError:
        print("caught; the program goes on and ends normally")
"""


def test_a_training_that_raised_is_failed_at_exit_even_if_the_program_went_on(project: Path) -> None:
    write_script(project, "train.py", textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "train.py"], cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "caught" in proc.stdout, proc.stderr
    (rec,) = runs(project)
    assert rec.status == "failed" and rec.metrics["loss"].count == 1


def test_the_users_run_is_borrowed_and_left_open(project: Path) -> None:
    with labbook.init(name="mine") as mine:
        t = trainer(project, LabbookCallback(name="ignored"))
        t.train()
        t.evaluate()  # the final evaluation joins the same run
        assert read(project, mine.id).status == "running"
    (rec,) = runs(project)
    assert (rec.id, rec.status, rec.name) == (mine.id, "finished", "mine")
    assert stored(project, rec.id) == expected(t.state.log_history) and rec.metrics["eval/loss"].count == 3


def test_processes_other_than_the_worlds_first_write_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Trainer, "is_world_process_zero", lambda self: False)
    t = trainer(project, LabbookCallback(), epochs=1)
    t.train()
    assert not t.state.is_world_process_zero and t.state.log_history
    assert runs(project) == []
