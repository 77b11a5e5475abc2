"""Sanity checks before training: correct models pass, and each planted bug trips its own check only."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labbook.checks.report import Check, Report
from labbook.checks.torch_checks import run_checks
from labbook.errors import BadInput

CLASSES, FEATURES, EXAMPLES = 4, 32, 128
VOCAB, LENGTH, SEQUENCES = 12, 16, 32
LR = 0.03  # Adam; the tiny models need more than the default 1e-3 to fit a batch in 50 steps
ALL = {
    "finite_outputs",
    "loss_at_init",
    "gradients",
    "params_change",
    "zero_grad",
    "batch_independence",
    "causal",
    "overfit_batch",
    "input_independent",
    "data",
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and the rest of the suite keeps its own setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def clusters(seed: int = 0, n: int = EXAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """One tight cluster per class around fixed centres: the labels follow the inputs.

    The clusters are tight and hold 32 examples each, so shuffled labels cannot be learned:
    their share in a cluster is the prior's, and its examples are near copies to memorise.
    """
    centres = torch.randn(CLASSES, FEATURES, generator=torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % CLASSES)[torch.randperm(n, generator=gen)]
    return centres[labels] + 0.01 * torch.randn(n, FEATURES, generator=gen), labels


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(FEATURES, 64)
        self.fc2 = nn.Linear(64, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))  # type: ignore[no-any-return]


class MixingMLP(MLP):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(0, 1).reshape(x.shape[0], -1)  # the bug: a reshape after a transpose of the batch
        return super().forward(x)


class SoftmaxMLP(MLP):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).softmax(-1)  # the bug: CrossEntropyLoss applies log_softmax itself


class BatchNormMLP(MLP):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.norm(self.fc1(x))))  # type: ignore[no-any-return]


class NoZeroGradSGD(torch.optim.SGD):
    """Stands for a training loop that never calls zero_grad."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


def sequences(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences where each token fixes the next (a random successor table); targets are the next tokens."""
    gen = torch.Generator().manual_seed(seed)
    successor = torch.randperm(VOCAB, generator=gen)
    tokens = [torch.randint(VOCAB, (SEQUENCES,), generator=gen)]
    for _ in range(LENGTH):
        tokens.append(successor[tokens[-1]])
    x = torch.stack(tokens, dim=1)
    return x[:, :-1], x[:, 1:]


class CausalConv(nn.Module):
    """Embedding, a 1-D convolution over the past three positions, and a head predicting the next token."""

    def __init__(self, leak: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.conv = nn.Conv1d(32, 32, kernel_size=3)
        self.head = nn.Linear(32, VOCAB)
        self.pad = (1, 1) if leak else (2, 0)  # the bug: padding on both sides lets position t see t + 1

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.pad(self.embed(tokens).transpose(1, 2), self.pad))
        return self.head(torch.relu(h).transpose(1, 2))  # type: ignore[no-any-return]


def next_token_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs.reshape(-1, VOCAB), targets.reshape(-1))


def classify(model: nn.Module, batch: Any = None, **kwargs: Any) -> Report:
    return run_checks(model, batch or clusters(), nn.CrossEntropyLoss(), **{"lr": LR, **kwargs})


def statuses(report: Report, status: str) -> set[str]:
    return {check.name for check in report.checks if check.status == status}


def check(report: Report, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


# -- correct models pass ---------------------------------------------------------------


def test_a_correct_classifier_passes_every_check_that_applies() -> None:
    torch.manual_seed(0)
    report = classify(MLP(), val_batch=clusters(seed=1))
    assert {c.name for c in report.checks} == ALL
    assert report.ok and statuses(report, "failed") == set(), report.render()
    assert statuses(report, "skipped") == {"causal"}
    assert check(report, "causal").detail == "no causal_dim given"
    assert "−ln(1/4)" in check(report, "loss_at_init").threshold
    assert "{0: 32, 1: 32, 2: 32, 3: 32}" in check(report, "data").detail
    assert all(c.seconds >= 0 for c in report.checks)


def test_a_correct_causal_model_passes_every_check_that_applies() -> None:
    torch.manual_seed(0)
    report = run_checks(CausalConv(), sequences(), next_token_loss, causal_dim=1, lr=0.01)
    assert statuses(report, "failed") == set(), report.render()
    assert statuses(report, "skipped") == {"data"}
    assert "by changing tokens" in check(report, "causal").detail  # tokens carry no gradient
    assert "by changing tokens" in check(report, "batch_independence").detail
    assert "−ln(1/12)" in check(report, "loss_at_init").threshold  # classes on the last dimension


def test_batchnorm_in_training_mode_is_checked_in_eval_mode_and_said() -> None:
    torch.manual_seed(0)
    report = classify(BatchNormMLP(), steps=1)
    independence = check(report, "batch_independence")
    assert independence.status == "passed" and "BatchNorm" in independence.detail


# -- each planted bug trips its check and no other ---------------------------------------


def test_mixing_the_batch_trips_batch_independence() -> None:
    torch.manual_seed(0)
    report = classify(MixingMLP())
    assert statuses(report, "failed") == {"batch_independence"}, report.render()
    assert "sample 0's output moves with other samples' inputs" in check(report, "batch_independence").detail


def test_a_missing_zero_grad_trips_zero_grad() -> None:
    torch.manual_seed(0)
    model = MLP()
    report = classify(model, optimizer=NoZeroGradSGD(model.parameters(), lr=0.5, momentum=0.9), lr=None)
    assert statuses(report, "failed") == {"zero_grad"}, report.render()
    zero_grad = check(report, "zero_grad")
    assert "NoZeroGradSGD.zero_grad()" in zero_grad.detail and "accumulate" in zero_grad.detail
    assert zero_grad.value == pytest.approx(1.0, abs=1e-3)  # the second gradient is twice the first


def test_softmax_before_cross_entropy_trips_overfit_batch_only() -> None:
    """At init softmax outputs look like near-equal logits, so the loss there is ln C: only the fit shows it."""
    torch.manual_seed(0)
    report = classify(SoftmaxMLP())
    assert statuses(report, "failed") == {"overfit_batch"}, report.render()
    assert check(report, "loss_at_init").status == "passed"


def test_a_frozen_layer_trips_gradients_only() -> None:
    torch.manual_seed(0)
    model = MLP()
    model.fc1.requires_grad_(False)
    report = classify(model)
    assert statuses(report, "failed") == {"gradients"}, report.render()
    assert check(report, "gradients").detail == "frozen: fc1.weight, fc1.bias"
    assert "(2 frozen not counted)" in check(report, "params_change").detail


def test_the_next_token_leaking_trips_causal() -> None:
    torch.manual_seed(0)
    report = run_checks(CausalConv(leak=True), sequences(), next_token_loss, causal_dim=1, lr=0.01)
    assert statuses(report, "failed") == {"causal"}, report.render()
    assert "moves with later inputs" in check(report, "causal").detail


def test_shuffled_labels_trip_input_independent() -> None:
    """It fails overfit_batch too, necessarily: a model that fits its batch ends far below an input-free one."""
    torch.manual_seed(0)
    inputs, labels = clusters()
    report = classify(MLP(), (inputs, labels[torch.randperm(len(labels))]))
    assert statuses(report, "failed") == {"input_independent", "overfit_batch"}, report.render()
    assert check(report, "loss_at_init").status == "passed"


def test_a_validation_batch_overlapping_training_trips_data() -> None:
    torch.manual_seed(0)
    inputs, labels = batch = clusters()
    fresh_inputs, fresh_labels = clusters(seed=1, n=24)
    val = (torch.cat([inputs[:8], fresh_inputs]), torch.cat([labels[:8], fresh_labels]))
    report = classify(MLP(), batch, val_batch=val)
    assert statuses(report, "failed") == {"data"}, report.render()
    data = check(report, "data")
    assert data.value == 8 and data.detail.startswith(
        "8 of 32 validation examples also in the training batch"
    )


class FloatCausalConv(nn.Module):
    """A regression over a float sequence [B, T, 3]: the causal check goes by gradient."""

    def __init__(self, pad: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 2, kernel_size=3)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x.transpose(1, 2), self.pad)).transpose(1, 2)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("pad", "status"), [((2, 0), "passed"), ((1, 1), "failed")])
def test_causal_goes_by_gradient_for_float_inputs(pad: tuple[int, int], status: str) -> None:
    torch.manual_seed(0)
    batch = (torch.randn(4, 10, 3), torch.randn(4, 10, 2))
    report = run_checks(FloatCausalConv(pad), batch, F.mse_loss, causal_dim=-2, steps=1)
    causal = check(report, "causal")
    assert causal.status == status and "by gradient" in causal.detail, causal.detail
    assert check(report, "loss_at_init").status == "skipped"  # a regression


# -- the caller's objects are left alone -------------------------------------------------


def test_the_callers_model_optimizer_and_random_state_are_left_as_they_were() -> None:
    torch.manual_seed(0)
    model = BatchNormMLP()
    model.fc2.bias.requires_grad_(False)
    optimizer = torch.optim.Adam(
        [{"params": [model.fc1.weight], "lr": 0.02}, {"params": [model.fc1.bias, model.fc2.weight]}]
    )
    nn.CrossEntropyLoss()(model(clusters()[0]), clusters()[1]).backward()
    optimizer.step()  # so that the optimizer holds state, and the parameters gradients
    model.eval()
    before = copy.deepcopy(model.state_dict())
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    state = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()

    report = classify(model, optimizer=optimizer, val_batch=clusters(seed=1))
    assert report.checks

    assert all(torch.equal(value, model.state_dict()[key]) for key, value in before.items())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert all(torch.equal(p.grad, grads[name]) for name, p in model.named_parameters() if p.grad is not None)
    assert not any(m.training for m in model.modules())
    after = optimizer.state_dict()
    assert after["param_groups"] == state["param_groups"]
    assert after["state"].keys() == state["state"].keys()
    for key, values in state["state"].items():
        assert all(torch.equal(value, after["state"][key][name]) for name, value in values.items())
    assert optimizer.param_groups[0]["params"][0] is model.fc1.weight
    assert torch.equal(torch.get_rng_state(), rng)


def test_importing_the_checks_does_not_import_torch() -> None:
    code = "import sys, labbook.checks.torch_checks; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# -- the report --------------------------------------------------------------------------


def test_the_report_round_trips_through_json_and_renders_failures_with_their_meaning() -> None:
    torch.manual_seed(0)
    report = classify(SoftmaxMLP())
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert list(data) == ["passed", "failed", "skipped", "checks"]
    assert (data["passed"], data["failed"], data["skipped"]) == (7, 1, 2)
    assert all(
        list(item) == ["name", "status", "value", "threshold", "meaning", "detail", "seconds"]
        for item in data["checks"]
    )
    assert Report.from_json(data) == report

    text = report.render()
    lines = text.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("✗ overfit_batch"))
    assert "loss" in lines[failed] and "steps" in lines[failed]
    assert (
        lines[failed + 1].startswith("    needs: ")
        and "falls below 0.1 × its start within 50 steps" in lines[failed + 1]
    )
    assert (
        lines[failed + 2].startswith("    usually: ")
        and "softmax before CrossEntropyLoss" in lines[failed + 2]
    )
    assert any(line.startswith("✓ gradients") for line in lines)
    assert any(line.startswith("– causal") for line in lines)
    assert lines[-1] == "7 passed, 1 failed, 2 skipped"


def test_a_report_keeps_no_non_finite_number() -> None:
    nan = Check("overfit_batch", "failed", float("nan"), "rule", "meaning", "loss became NaN", float("inf"))
    report = Report((nan, Check("data", "skipped", None, "rule", "meaning", "no val_batch given", 0.01)))
    assert nan.value is None and nan.seconds == 0.0
    assert json.loads(json.dumps(report.to_json(), allow_nan=False))["checks"][0]["value"] is None
    assert (report.passed, report.failed, report.skipped, report.ok) == (0, 1, 1, False)
    assert report.failures() == [nan]
    with pytest.raises(ValueError, match="status"):
        Check("x", "fine", None, "", "", "", 0.0)
    with pytest.raises(BadInput, match="not a checks report"):
        Report.from_json({"checks": [{"name": "x"}]})


# -- bad arguments -----------------------------------------------------------------------


def per_sample_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, targets, reduction="none")


def float_loss(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float(F.cross_entropy(outputs, targets))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch": "three"}, "batch must be a pair (inputs, targets) of tensors; got a tuple of 3"),
        ({"batch": "tensor"}, "batch must be a pair (inputs, targets) of tensors; got Tensor"),
        ({"batch": "list targets"}, "the targets of batch must be a torch.Tensor; got list"),
        ({"steps": 0}, "steps must be a whole number of at least 1; got 0"),
        ({"causal_dim": 2}, "causal_dim 2 is out of range for inputs of shape [128, 32]"),
        ({"causal_dim": 0}, "causal_dim 0 is the batch dimension"),
        ({"loss_fn": per_sample_loss}, "loss_fn must return a scalar float tensor (reduce it with .mean())"),
        ({"loss_fn": float_loss}, "loss_fn must return a scalar tensor; it returned a float"),
        ({"val_batch": "one"}, "val_batch must be a pair (inputs, targets) of tensors; got Tensor"),
        ({"num_classes": 1}, "num_classes must be a whole number of at least 2"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"optimizer": "foreign"}, "the optimizer holds 1 tensor(s) that are not the model's parameters"),
    ],
)
def test_unusable_arguments_are_refused_with_one_clear_line(change: dict[str, Any], message: str) -> None:
    torch.manual_seed(0)
    model, (inputs, labels) = MLP(), clusters()
    batches = {
        "three": (inputs, labels, labels),
        "tensor": inputs,
        "list targets": (inputs, labels.tolist()),
        "one": inputs,
    }
    kwargs: dict[str, Any] = {"loss_fn": nn.CrossEntropyLoss(), "batch": (inputs, labels)}
    for key, value in change.items():
        if key in ("batch", "val_batch"):
            value = batches[value]
        elif key == "optimizer":
            value = torch.optim.SGD([*model.parameters(), torch.zeros(3, requires_grad=True)], lr=0.1)
        kwargs[key] = value
    model_before = copy.deepcopy(model.state_dict())
    with pytest.raises(BadInput) as raised:
        run_checks(model, kwargs.pop("batch"), kwargs.pop("loss_fn"), **kwargs)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in model_before.items())
