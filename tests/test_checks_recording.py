"""Sanity checks kept with the run: ``lab show``, ``lab ls --where``, ``lab compare``, ``lab check``, Lightning.

Real torch in real subprocesses (a training script as a user writes one), real notebooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import lab, lab_proc, write_script

MODEL = """
import os, sys
import torch
from torch import nn
import labbook, labbook.checks

torch.manual_seed(0)
torch.set_num_threads(1)
centres = torch.randn(4, 32, generator=torch.Generator().manual_seed(1234))
labels = torch.arange(128) % 4
x = centres[labels] + 0.01 * torch.randn(128, 32)

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 4)
    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))

model = MLP()
if "frozen" in sys.argv:
    model.fc1.requires_grad_(False)  # the planted bug: a layer that never learns
"""

SCRIPT = (
    MODEL
    + """
run = labbook.init(name=sys.argv[1])
report = labbook.checks.run(model, (x, labels), nn.CrossEntropyLoss(), lr=0.03)
open("trained-" + sys.argv[1], "w").write(str(report.failed))  # training would start here
run.log({"acc": 0.9 if "frozen" in sys.argv else 0.8}, step=0)
run.finish()
"""
)


def _python(project: Path, script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], cwd=project, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_report_is_kept_with_the_run_shown_queried_and_warned_about(project: Path) -> None:
    script = write_script(project, "train.py", SCRIPT)
    good = _python(project, script, "good")
    assert good.returncode == 0, good.stderr
    assert "sanity check" not in good.stderr
    bad = _python(project, script, "bad", "frozen")
    assert bad.returncode == 0, bad.stderr  # a failed check warns; it does not stop training
    (warning,) = [line for line in bad.stderr.splitlines() if "sanity check" in line]
    assert "1 sanity check(s) failed: gradients; lab show 2 lists them" in warning
    shown = lab("show", "2")
    assert shown.exit_code == 0
    assert "✗ gradients" in shown.output and "frozen: fc1.weight, fc1.bias" in shown.output
    assert "usually: a layer that never learns" in shown.output  # what a failure usually means
    assert "7 passed, 1 failed, 2 skipped" in shown.output and "checks" not in _summary_line(shown.output)
    data = json.loads(lab("show", "2", "--json").output)
    assert (data["checks"]["failed"], data["checks"]["passed"]) == (1, 7)
    assert [c["name"] for c in data["checks"]["checks"] if c["status"] == "failed"] == ["gradients"]
    assert data["summary"] == {}  # the report is not a summary value of the user's
    assert json.loads(lab("show", "1", "--json").output)["checks"]["failed"] == 0
    found = lab("ls", "--where", "checks.failed > 0", "--json")
    assert found.exit_code == 0 and [r["id"] for r in json.loads(found.output)] == [2]
    passed = lab("ls", "--where", "checks.failed == 0 and checks.passed >= 8", "--json")
    assert [r["id"] for r in json.loads(passed.output)] == [1]
    compared = lab("compare", "2", "1")
    assert compared.exit_code == 0, compared.output
    assert "A has run 2 that failed a sanity check" in compared.output


def _summary_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.startswith("summary")), "")


def test_checks_fields_are_known_before_any_run_ran_checks(project: Path) -> None:
    r = lab("ls", "--where", "checks.failed > 0")
    assert r.exit_code == 0, r.output
    wrong = lab("ls", "--where", "checks.broken > 0")
    assert wrong.exit_code == 2 and "unknown field 'checks.broken'" in wrong.output


def test_lab_check_stops_at_the_checks_and_says_how_they_went(project: Path) -> None:
    script = write_script(project, "train.py", SCRIPT)
    ok = lab_proc("check", "--", sys.executable, str(script), "pre", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert "8 passed, 0 failed, 2 skipped" in ok.stdout
    assert "kept with run 1" in ok.stdout
    assert not (project / "trained-pre").exists()  # it stopped before training
    bad = lab_proc("check", "--", sys.executable, str(script), "pre2", "frozen", cwd=project)
    assert bad.returncode == 1 and "✗ gradients" in bad.stdout and "needs:" in bad.stdout
    assert not (project / "trained-pre2").exists()
    runs = json.loads(lab("ls", "--json").output)
    assert [(r["name"], r["status"], r["tags"]) for r in runs] == [
        ("pre2", "finished", ["preflight"]), ("pre", "finished", ["preflight"])
    ]  # fmt: skip


def test_lab_check_of_a_script_that_never_checks_is_one_line(project: Path) -> None:
    script = write_script(project, "plain.py", "print('training without checks')\n")
    r = lab_proc("check", "--", sys.executable, str(script), cwd=project)
    assert r.returncode == 2 and "ended without calling labbook.checks.run" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    crashed = write_script(project, "crash.py", "raise SystemExit(3)\n")
    r = lab_proc("check", "--", sys.executable, str(crashed), cwd=project)
    assert r.returncode == 1 and "exited with 3 before calling labbook.checks.run" in r.stderr
    missing = lab("check", "--", "no-such-program-xyz")
    assert missing.exit_code == 2 and "command not found" in missing.output


@pytest.mark.parametrize(
    ("value", "says"), [("off", None), ("sometimes", "LABBOOK_CHECKS is one of on, only, off")]
)
def test_labbook_checks_off_checks_nothing_and_a_wrong_value_is_refused(
    project: Path, value: str, says: str | None
) -> None:
    script = write_script(project, "train.py", SCRIPT)
    r = _python(project, script, "x", LABBOOK_CHECKS=value)
    if says is None:
        assert r.returncode == 0, r.stderr
        assert json.loads(lab("show", "1", "--json").output)["checks"] is None
    else:
        assert r.returncode != 0 and says in r.stderr


LIGHTNING = (
    MODEL
    + """
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
from labbook.integrations.lightning import LabbookChecksCallback, LabbookLogger

class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = model
        self.loss_fn = nn.CrossEntropyLoss()
    def forward(self, x):
        return self.net(x)
    def training_step(self, batch, i):
        loss = self.loss_fn(self(batch[0]), batch[1])
        self.log("loss", loss)
        return loss
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.03)

checks = LabbookChecksCallback()
data = DataLoader(TensorDataset(x, labels), batch_size=128)
trainer = pl.Trainer(max_epochs=2, logger=LabbookLogger(name="lit"), callbacks=[checks], accelerator="cpu",
                     enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                     log_every_n_steps=1)
trainer.fit(Module(), data)
print("fitted", checks.report.failed)
"""
)


def test_the_lightning_callback_checks_once_at_fit_start(project: Path) -> None:
    script = write_script(project, "lit.py", LIGHTNING)
    r = _python(project, script, "frozen")
    assert r.returncode == 0, r.stderr
    assert "fitted 1" in r.stdout
    (run,) = json.loads(lab("ls", "--json").output)
    data = json.loads(lab("show", str(run["id"]), "--json").output)
    assert [c["name"] for c in data["checks"]["checks"] if c["status"] == "failed"] == ["gradients"]
    assert data["metrics"]["loss"]["count"] == 2  # and training went on: one step an epoch
    stopped = lab_proc("check", "--", sys.executable, str(script), cwd=project)
    assert stopped.returncode == 0 and "fitted" not in stopped.stdout, stopped.stderr
    assert "8 passed, 0 failed" in stopped.stdout


def test_the_run_page_shows_the_report_and_the_summary_leaves_it_out(project: Path) -> None:
    from fastapi.testclient import TestClient

    from labbook.checks.report import Check, Report
    from labbook.records.checks import summary_values
    from labbook.service.notebook import Notebook
    from labbook.web import WebSettings, create_app

    report = Report((
        Check("gradients", "failed", 2, "every parameter gets a gradient", "a layer that never learns", "frozen: fc1.weight", 0.001),
        Check("data", "skipped", None, "no overlap", "a leaky split", "no val_batch given", 0.0),
    ))  # fmt: skip
    with Notebook.open(project) as nb:
        run = nb.start_run(name="r")
        nb.store.runs.set_summary(run.id, {"best": 0.5, **summary_values(report.to_json())})
        with TestClient(create_app(nb, WebSettings()), base_url="http://127.0.0.1:8765") as client:
            page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert "Sanity checks: 0 passed, 1 failed, 1 skipped" in page.text
    assert "frozen: fc1.weight" in page.text and "a layer that never learns" in page.text
    assert "<th>best</th>" in page.text and "<th>checks.failed</th>" not in page.text
