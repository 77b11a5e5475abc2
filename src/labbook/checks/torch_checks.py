"""Sanity checks of a PyTorch model on one batch, before spending compute on training it.

The first steps of the usual training recipe: the loss at init is what chance gives, the
model can overfit one batch and does better with its inputs than without, gradients reach
every parameter and are cleared between steps, and neither other samples nor future
positions leak into an output. Each check states its rule and times itself.

Everything runs on deep copies: the caller's model, optimizer and torch's random state are
left as they were. torch is imported inside the functions only, so that importing this
module (and labbook) costs nothing where torch is not installed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labbook.checks.report import FAILED, PASSED, SKIPPED, Check, Report
from labbook.errors import BadInput

if TYPE_CHECKING:
    import torch

SEED = 0  # every check starts from the same random state: the real and zero-input fits see the same dropout
# A network with PyTorch's default init gives logits of std well under 1, so its softmax is near uniform and
# the loss exceeds ln C by about var/2 (0.1 at std 0.45). A broken init or loss is off by a multiple: logits
# scaled up, a sum where a mean was meant (B × ln C), or targets leaking (near 0). 25 % of ln C (0.58 nats at
# 10 classes, 0.17 at 2) keeps the first inside and the others out.
INIT_TOLERANCE = 0.25
OVERFIT_FACTOR = 0.1  # one memorised batch: Karpathy's "overfit one batch" wants the loss near 0
# Without inputs a model can learn only the label prior. One that reads real inputs ends far below it (a
# correct one that overfits at 0.1 × its start is near 0.1 × the prior's entropy); one whose labels are shuffled
# ends within a few percent of it, gaining only what it memorises by telling the examples apart.
INPUT_MARGIN = 0.9
LEAK_TOLERANCE = 1e-4  # no path gives an exact 0; this only absorbs rounding when outputs are compared
ZERO_GRAD_TOLERANCE = 0.01
SHOWN = 4  # names listed in a detail before "and N more"
# Without an optimizer, Adam at this rate: 3e-4 suits a long training run, but one batch is to be memorised in
# `steps` (50) steps, and a small correct MLP at 1e-3 ends just short of 0.1 × its start.
DEFAULT_LR = 3e-3

MEANING = {
    "finite_outputs": "NaN or inf already at init: an overflow, a log or sqrt of 0 or less, a division by 0, or bad inputs",
    "loss_at_init": "a broken init or loss: logits scaled far from 0, a sum where a mean was meant, or targets leaking into the inputs",
    "gradients": "a layer that never learns: requires_grad False or not used in forward; ignore if you froze it on purpose (NaN/inf gradients: an overflow)",
    "params_change": "a trainable parameter the optimizer never updates: left out of the optimizer, or a learning rate of 0",
    "zero_grad": "gradients accumulate across steps: optimizer.zero_grad() is missing from the loop or does nothing",
    "batch_independence": "samples mix inside the model: a view or reshape where a transpose/permute was meant, or a reduction over the batch dimension",
    "causal": "the model sees the future: a missing or wrong causal mask, symmetric padding, or targets not shifted against the inputs",
    "overfit_batch": "the model cannot fit: a wrong loss (softmax before CrossEntropyLoss), a learning rate far off, or targets not matched to inputs",
    "input_independent": "the inputs do not inform the targets: labels shuffled or misaligned against the inputs, or the inputs never reach the model",
    "data": "validation examples also in training: a leaky split, so validation scores overstate",
}

LossFn = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class _Setup:
    model: Any  # a pristine deep copy of the caller's model: each check copies it again
    inputs: Any
    targets: Any
    loss_fn: LossFn
    optimizer: Callable[[Any], Any]  # builds the caller's kind of optimizer over a copy
    steps: int
    num_classes: int | None
    causal_dim: int | None
    batchnorm_training: bool


@dataclass(frozen=True)
class _Fit:
    start: float
    final: float
    diverged_at: int | None  # the step whose loss was NaN or inf


class _NotApplicable(Exception):
    """Why a check cannot look at this model: it becomes a skipped check with that reason."""


def run_checks(
    model: torch.nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    num_classes: int | None = None,
    causal_dim: int | None = None,
    steps: int = 50,
    val_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    lr: float | None = None,
) -> Report:
    """Check a model, its loss and its optimizer on one batch, the way the training recipe starts.

    Minutes of these checks save days of training a model that could never have learned.
    The checks train copies: ``model`` (parameters, buffers, mode, requires_grad flags),
    ``optimizer`` and torch's global random state are as they were afterwards.

    The optimizer is rebuilt over each copy as an instance of the caller's class with the
    caller's param-group hyper-parameters (``lr``, when given, overrides the learning
    rate); without one, Adam at ``lr`` or ``DEFAULT_LR`` (3e-3). Because the copy is of the caller's class,
    a ``zero_grad`` it overrides is the one the ``zero_grad`` check calls: a class whose
    ``zero_grad`` does nothing stands for a training loop that never calls it. The fits
    clear gradients themselves, so that ``overfit_batch`` tests the model and the loss only.

    ``input_independent`` catches shuffled labels while ``steps`` is too short to memorise
    them: a model big enough fits even random labels on one batch, given time.
    """
    import torch

    inputs, targets = _pair(batch, "batch")
    val = None if val_batch is None else _pair(val_batch, "val_batch")
    _check_arguments(model, inputs, targets, steps=steps, num_classes=num_classes, lr=lr, optimizer=optimizer)
    dim = _causal_dim(causal_dim, inputs)
    with _forked_rng(model), torch.enable_grad():
        pristine = _copy(model)
        setup = _Setup(
            model=pristine,
            inputs=inputs.detach(),
            targets=targets.detach(),
            loss_fn=loss_fn,
            optimizer=_optimizer_factory(model, pristine, optimizer, lr),
            steps=steps,
            num_classes=num_classes,
            causal_dim=dim,
            batchnorm_training=_batchnorm_training(model),
        )
        _probe(setup)
        return Report(tuple(_run(setup, val)))


def _run(s: _Setup, val: tuple[Any, Any] | None) -> list[Check]:
    import torch

    checks = [
        _timed(lambda: _finite_outputs(s)),
        _timed(lambda: _loss_at_init(s)),
        _timed(lambda: _gradients(s)),
        _timed(lambda: _params_change(s)),
        _timed(lambda: _zero_grad(s)),
        _timed(lambda: _batch_independence(s)),
        _timed(lambda: _causal(s)),
    ]
    start = time.perf_counter()
    real = _fit(s, s.inputs)
    checks.append(_since(_overfit_batch(s, real), start))
    start = time.perf_counter()  # the real-input fit it compares with is overfit_batch's, and timed there
    zero = _fit(s, torch.zeros_like(s.inputs))
    checks.append(_since(_input_independent(s, real, zero), start))
    checks.append(_timed(lambda: _data(s, val)))
    return checks


# -- arguments ---------------------------------------------------------------------


def _pair(batch: Any, what: str) -> tuple[Any, Any]:
    import torch

    if not isinstance(batch, tuple | list):
        raise BadInput(f"{what} must be a pair (inputs, targets) of tensors; got {type(batch).__name__}")
    if len(batch) != 2:
        raise BadInput(
            f"{what} must be a pair (inputs, targets) of tensors; got a {type(batch).__name__} of {len(batch)}"
        )
    for name, item in zip(("inputs", "targets"), batch, strict=True):
        if not isinstance(item, torch.Tensor):
            raise BadInput(f"the {name} of {what} must be a torch.Tensor; got {type(item).__name__}")
    if batch[0].dim() == 0:
        raise BadInput(f"the inputs of {what} need a batch dimension; got a 0-d tensor")
    return batch[0], batch[1]


def _check_arguments(
    model: Any, inputs: Any, targets: Any, *, steps: Any, num_classes: Any, lr: Any, optimizer: Any
) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise BadInput(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if targets.dim() > 0 and targets.shape[0] != inputs.shape[0]:
        raise BadInput(
            f"the batch holds {inputs.shape[0]} inputs but {targets.shape[0]} targets; pair them up"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise BadInput(f"steps must be a whole number of at least 1; got {steps!r}")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
    ):
        raise BadInput(f"num_classes must be a whole number of at least 2; got {num_classes!r}")
    if lr is not None and not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise BadInput(f"lr must be a positive number; got {lr!r}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise BadInput(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise BadInput("the model has no parameter with requires_grad=True: there is no training to check")


def _causal_dim(causal_dim: Any, inputs: Any) -> int | None:
    if causal_dim is None:
        return None
    ndim, shape = int(inputs.dim()), list(inputs.shape)
    if isinstance(causal_dim, bool) or not isinstance(causal_dim, int) or not -ndim <= causal_dim < ndim:
        raise BadInput(
            f"causal_dim {causal_dim!r} is out of range for inputs of shape {shape}; give the sequence dimension"
        )
    dim = causal_dim % ndim
    if dim == 0:
        raise BadInput(
            f"causal_dim {causal_dim} is the batch dimension of inputs of shape {shape}; give the sequence dimension"
        )
    return dim


def _copy(model: Any) -> Any:
    try:  # RuntimeError for non-leaf tensors held as attributes, TypeError for unpicklable ones
        clone = copy.deepcopy(model)
    except Exception as err:
        raise BadInput(
            f"the model cannot be deep-copied ({err}); the checks train a copy to leave yours as it is"
        ) from err
    for param in clone.parameters():
        param.grad = None
    return clone


def _optimizer_factory(model: Any, pristine: Any, optimizer: Any, lr: float | None) -> Callable[[Any], Any]:
    """A builder of the caller's kind of optimizer over a copy, its parameters found by name."""
    import torch

    if optimizer is None:
        rate = DEFAULT_LR if lr is None else lr
        return lambda m: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=rate)
    names = {id(p): name for name, p in model.named_parameters()}
    groups = []
    for group in optimizer.param_groups:
        strangers = sum(1 for p in group["params"] if id(p) not in names)
        if strangers:
            raise BadInput(
                f"the optimizer holds {strangers} tensor(s) that are not the model's parameters;"
                " pass an optimizer over model.parameters(), or none to check with Adam"
            )
        hyper = {key: value for key, value in group.items() if key != "params"}
        if lr is not None:
            hyper["lr"] = lr
        groups.append((hyper, [names[id(p)] for p in group["params"]]))
    cls, defaults = type(optimizer), dict(optimizer.defaults)

    def build(m: Any) -> Any:
        params = dict(m.named_parameters())
        spec = [{**copy.deepcopy(hyper), "params": [params[n] for n in members]} for hyper, members in groups]
        return _construct(cls, spec, defaults)

    build(pristine)  # a class that cannot be rebuilt is a bad argument, said before any check runs
    return build


def _construct(cls: Any, spec: list[dict[str, Any]], defaults: dict[str, Any]) -> Any:
    try:
        return cls(spec, **copy.deepcopy(defaults))  # torch's optimizers take their defaults as keywords
    except TypeError:
        pass
    try:
        return cls(spec)  # the groups carry every hyper-parameter
    except TypeError as err:
        raise BadInput(
            f"cannot build a {cls.__name__} over a copy of the model ({err}); pass optimizer=None to check with Adam"
        ) from err


def _probe(s: _Setup) -> None:
    """One forward first: a loss that is not a scalar makes every check meaningless."""
    import torch

    with torch.no_grad():
        _, loss = _forward(s, _fresh(s, train=True), s.inputs)
    if not isinstance(loss, torch.Tensor):
        raise BadInput(f"loss_fn must return a scalar tensor; it returned a {type(loss).__name__}")
    if loss.numel() != 1 or not loss.is_floating_point():
        raise BadInput(
            f"loss_fn must return a scalar float tensor (reduce it with .mean()); it returned {loss.dtype} of shape {list(loss.shape)}"
        )


@contextmanager
def _forked_rng(model: Any) -> Iterator[None]:
    """torch's global random state (CPU and the model's devices) restored on the way out."""
    import torch

    devices = {p.device for p in model.parameters() if p.device.type not in ("cpu", "meta")}
    kinds = {d.type for d in devices}
    kind = kinds.pop() if len(kinds) == 1 else None
    indices = sorted(d.index or 0 for d in devices) if kind else []
    with torch.random.fork_rng(devices=indices, device_type=kind):
        yield


def _batchnorm_training(model: Any) -> bool:
    import torch

    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


# -- helpers -----------------------------------------------------------------------


def _timed(measure: Callable[[], Check]) -> Check:
    import torch

    torch.manual_seed(SEED)
    start = time.perf_counter()
    return _since(measure(), start)


def _since(check: Check, start: float) -> Check:
    return dataclasses.replace(check, seconds=time.perf_counter() - start)


def _check(name: str, status: str, value: float | None, threshold: str, detail: str) -> Check:
    return Check(name, status, value, threshold, MEANING[name], detail, 0.0)


def _skip(name: str, threshold: str, why: str) -> Check:
    return _check(name, SKIPPED, None, threshold, why)


def _verdict(ok: bool) -> str:
    return PASSED if ok else FAILED


def _fresh(s: _Setup, *, train: bool) -> Any:
    return copy.deepcopy(s.model).train(train)


def _forward(s: _Setup, model: Any, inputs: Any) -> tuple[Any, Any]:
    outputs = model(inputs)
    return outputs, s.loss_fn(outputs, s.targets)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _tensors(value: Any) -> list[Any]:
    """The tensors in a model's output: itself, or those in its tuple, list or dict (a ModelOutput too)."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, tuple | list):
        return [t for item in value for t in _tensors(item)]
    return []


def _is_integer(t: Any) -> bool:
    import torch

    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def _shape(t: Any) -> str:
    return "[" + ", ".join(str(n) for n in t.shape) + "]"


# -- the checks at init ------------------------------------------------------------


def _finite_outputs(s: _Setup) -> Check:
    import torch

    threshold = "no NaN or inf in the outputs or the loss at init"
    with torch.no_grad():
        outputs, loss = _forward(s, _fresh(s, train=True), s.inputs)
    values = [t for t in [*_tensors(outputs), loss] if t.is_floating_point() or t.is_complex()]
    bad = sum(int((~torch.isfinite(t)).sum()) for t in values)
    total = sum(t.numel() for t in values)
    if bad:
        detail = f"{bad} of {total} values are NaN or inf (the loss is {float(loss):.3g})"
    else:
        detail = f"no NaN or inf in {total - 1} output values or the loss"
    return _check("finite_outputs", _verdict(bad == 0), bad, threshold, detail)


def _loss_at_init(s: _Setup) -> Check:
    import torch

    with torch.no_grad():
        outputs, loss = _forward(s, _fresh(s, train=True), s.inputs)
    spec = _classes(outputs, s.targets, s.num_classes)
    if spec is None:
        shapes = (
            f"outputs {_shape(outputs)}"
            if isinstance(outputs, torch.Tensor)
            else f"a {type(outputs).__name__}"
        )
        why = (
            f"not a classification ({shapes}, targets {_shape(s.targets)} {s.targets.dtype}):"
            " integer targets shaped like the outputs without their class dimension, or num_classes, make it one"
        )
        return _skip("loss_at_init", f"within {INIT_TOLERANCE:.0%} of −ln(1/C)", why)
    classes, prior = spec
    uniform = math.log(classes)
    references = {f"−ln(1/{classes})": uniform}
    if prior is not None and abs(_entropy(prior) - uniform) > 0.01 * uniform:
        references["the label prior's entropy"] = _entropy(prior)  # a last bias set to the prior gives this
    value = float(loss)
    ok = any(abs(value - ref) <= INIT_TOLERANCE * ref for ref in references.values())
    stated = " or ".join(f"{name} = {ref:.3g}" for name, ref in references.items())
    threshold = f"within {INIT_TOLERANCE:.0%} of {stated}"
    return _check("loss_at_init", _verdict(ok), value, threshold, f"loss {value:.3g} at init; {stated}")


def _classes(outputs: Any, targets: Any, num_classes: int | None) -> tuple[int, list[float] | None] | None:
    """How many classes, and their share in the targets; None when this is not a classification."""
    dim = _class_dim(outputs, targets)
    if num_classes is None:
        if dim is None or outputs.shape[dim] < 2:
            return None
        num_classes = int(outputs.shape[dim])
    return num_classes, _prior(targets, num_classes)


def _class_dim(outputs: Any, targets: Any) -> int | None:
    """The classes' dimension: last ([B, ..., C]) or CrossEntropyLoss's dim 1 ([B, C, ...]), with integer targets."""
    import torch

    if not isinstance(outputs, torch.Tensor) or outputs.dim() < 2 or not _is_integer(targets):
        return None
    shape, wanted = tuple(outputs.shape), tuple(targets.shape)
    if wanted == shape[:-1]:
        return int(outputs.dim()) - 1
    if wanted == shape[:1] + shape[2:]:
        return 1
    return None


def _prior(targets: Any, classes: int) -> list[float] | None:
    import torch

    if not _is_integer(targets):
        return None
    inside = (targets >= 0) & (targets < classes)  # ignore_index (-100) and padding fall out
    valid = targets[inside].flatten()
    if valid.numel() == 0:
        return None
    counts = torch.bincount(valid.cpu(), minlength=classes).double()
    return [float(c) for c in counts / counts.sum()]


def _entropy(prior: list[float]) -> float:
    return -sum(p * math.log(p) for p in prior if p > 0)


# -- one backward, one step --------------------------------------------------------


def _gradients(s: _Setup) -> Check:
    import torch

    threshold = "every parameter has requires_grad and gets a finite, not all-zero gradient from one backward"
    model = _fresh(s, train=True)
    _, loss = _forward(s, model, s.inputs)
    if loss.requires_grad:
        loss.backward()
    problems: dict[str, list[str]] = {
        "frozen": [],
        "no gradient": [],
        "NaN/inf gradient": [],
        "all-zero gradient": [],
    }
    params = list(model.named_parameters())
    for name, p in params:
        if not p.requires_grad:
            problems["frozen"].append(name)
        elif p.grad is None:
            problems["no gradient"].append(name)
        elif not bool(torch.isfinite(p.grad).all()):
            problems["NaN/inf gradient"].append(name)
        elif not bool(p.grad.any()):
            problems["all-zero gradient"].append(name)
    count = sum(len(names) for names in problems.values())
    if count:
        detail = "; ".join(f"{kind}: {_names(names)}" for kind, names in problems.items() if names)
    else:
        detail = f"all {len(params)} parameters get finite, non-zero gradients"
    return _check("gradients", _verdict(count == 0), count, threshold, detail)


def _params_change(s: _Setup) -> Check:
    """Trainable parameters only: a frozen one is the gradients check's to report."""
    import torch

    threshold = "every trainable parameter changes in one optimizer step"
    model = _fresh(s, train=True)
    optimizer = s.optimizer(model)
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    before = {name: p.detach().clone() for name, p in trainable.items()}
    _, loss = _forward(s, model, s.inputs)
    if loss.requires_grad:
        loss.backward()
    optimizer.step()
    same = [name for name, p in trainable.items() if torch.equal(p.detach(), before[name])]
    frozen = sum(1 for p in model.parameters() if not p.requires_grad)
    if same:
        detail = f"{len(same)} of {len(trainable)} unchanged after a {type(optimizer).__name__} step: {_names(same)}"
    else:
        detail = f"all {len(trainable)} trainable parameters changed" + (
            f" ({frozen} frozen not counted)" if frozen else ""
        )
    return _check("params_change", _verdict(not same), len(same), threshold, detail)


def _zero_grad(s: _Setup) -> Check:
    threshold = f"after optimizer.zero_grad() a second backward gives the first gradient again (within {ZERO_GRAD_TOLERANCE:.0%} of its norm)"
    model = _fresh(s, train=True)
    optimizer = s.optimizer(model)
    first = _gradient(s, model)
    optimizer.zero_grad()  # the caller's class's: one that does nothing stands for a loop that never calls it
    second = _gradient(s, model)
    norm = _norm(first.values())
    if norm == 0:
        return _skip("zero_grad", threshold, "one backward gives no gradient to compare (see gradients)")
    diff = _norm(second[name] - grad for name, grad in first.items() if name in second)
    ratio = _norm(second.values()) / norm
    value = diff / norm
    ok = value <= ZERO_GRAD_TOLERANCE
    detail = f"after {type(optimizer).__name__}.zero_grad() the second gradient is {ratio:.2f}× the first"
    if not ok and abs(ratio - 2) < 0.1:
        detail += ": they accumulate"
    return _check("zero_grad", _verdict(ok), value, threshold, detail)


def _gradient(s: _Setup, model: Any) -> dict[str, Any]:
    """A backward from the same random state, so that dropout cannot tell the two apart."""
    import torch

    torch.manual_seed(SEED)
    _, loss = _forward(s, model, s.inputs)
    if loss.requires_grad:
        loss.backward()
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def _norm(tensors: Any) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))


# -- what an output may depend on --------------------------------------------------


def _batch_independence(s: _Setup) -> Check:
    import torch

    name = "batch_independence"
    threshold = f"a sample's output moves with other samples' inputs under {LEAK_TOLERANCE:g} × as much as with its own (eval mode)"
    size = int(s.inputs.shape[0])
    if size < 2:
        return _skip(name, threshold, "one sample in the batch: nothing to mix")
    model = _fresh(s, train=False)
    shape = [size] + [1] * (s.inputs.dim() - 1)
    results = []
    try:
        for i in sorted({0, size - 1}):
            others = (torch.arange(size, device=s.inputs.device) != i).view(shape).expand_as(s.inputs)
            results.append((_influence(model, s.inputs, _sample(i, size), others), i))
    except _NotApplicable as why:
        return _skip(name, threshold, str(why))
    worst, i = max(results)
    how = _how(s.inputs)
    if worst > LEAK_TOLERANCE:
        detail = f"sample {i}'s output moves with other samples' inputs ({worst:.3g} × as much as with its own, {how})"
    else:
        detail = f"samples {', '.join(str(j) for _, j in results)} depend on their own inputs only ({how})"
    if s.batchnorm_training:
        detail += "; BatchNorm mixes samples in training mode by design, so this is eval mode's answer"
    return _check(name, _verdict(worst <= LEAK_TOLERANCE), worst, threshold, detail)


def _causal(s: _Setup) -> Check:
    import torch

    threshold = f"the output at position t moves with inputs after t under {LEAK_TOLERANCE:g} × as much as with those up to t (eval mode)"
    if s.causal_dim is None:
        return _skip("causal", threshold, "no causal_dim given")
    dim, length = s.causal_dim, int(s.inputs.shape[s.causal_dim])
    if length < 2:
        return _skip("causal", threshold, f"one position along dimension {dim}: no future to see")
    model = _fresh(s, train=False)
    shape = [1] * s.inputs.dim()
    shape[dim] = length
    results = []
    try:
        for t in sorted({0, length // 2, length - 2}):
            later = (torch.arange(length, device=s.inputs.device) > t).view(shape).expand_as(s.inputs)
            results.append((_influence(model, s.inputs, _position(dim, t, length), later), t))
    except _NotApplicable as why:
        return _skip("causal", threshold, str(why))
    worst, t = max(results)
    how = _how(s.inputs)
    if worst > LEAK_TOLERANCE:
        detail = f"the output at position {t} moves with later inputs ({worst:.3g} × as much as with earlier ones, {how})"
    else:
        detail = f"outputs at positions {', '.join(str(u) for _, u in results)} do not depend on later inputs ({how})"
    return _check("causal", _verdict(worst <= LEAK_TOLERANCE), worst, threshold, detail)


def _how(inputs: Any) -> str:
    return "by gradient" if inputs.is_floating_point() else "by changing tokens"


def _sample(i: int, size: int) -> Callable[[Any], Any]:
    def pick(outputs: Any) -> Any:
        _need_tensor(outputs)
        if outputs.dim() == 0 or outputs.shape[0] != size:
            raise _NotApplicable(
                f"the output {_shape(outputs)} does not start with the batch dimension ({size})"
            )
        return outputs[i]

    return pick


def _position(dim: int, t: int, length: int) -> Callable[[Any], Any]:
    def pick(outputs: Any) -> Any:
        _need_tensor(outputs)
        if outputs.dim() <= dim or outputs.shape[dim] != length:
            raise _NotApplicable(
                f"the output {_shape(outputs)} has no dimension {dim} of the inputs' {length} positions"
            )
        return outputs.select(dim, t)

    return pick


def _need_tensor(outputs: Any) -> None:
    import torch

    if not isinstance(outputs, torch.Tensor):
        raise _NotApplicable(f"the model returns a {type(outputs).__name__}, not a tensor")


def _influence(model: Any, inputs: Any, pick: Callable[[Any], Any], region: Any) -> float:
    """How much the picked outputs move with the inputs in ``region``, as a share of how much with the rest.

    Float inputs by gradient, which is exactly 0 where no path leads. Integer inputs (tokens)
    carry no gradient: then each part's tokens are changed and the picked outputs compared.
    """
    leak, own = _by_gradient(model, inputs, pick, region) if inputs.is_floating_point() else (None, None)
    if leak is None or own is None:
        leak, own = _by_change(model, inputs, pick, region)
    if leak == 0:
        return 0.0
    return leak / own if own > 0 else math.inf


def _by_gradient(
    model: Any, inputs: Any, pick: Callable[[Any], Any], region: Any
) -> tuple[float | None, float | None]:
    import torch

    x = inputs.detach().clone().requires_grad_(True)
    picked = pick(model(x))
    if not picked.requires_grad:  # a forward under no_grad or detached from x: compare outputs instead
        return None, None
    (picked * torch.randn_like(picked)).sum().backward()  # random weights: no chance of cancelling to 0
    if x.grad is None:  # the outputs depend on parameters only: on no input at all
        return 0.0, 0.0
    grad = x.grad.abs()
    return _largest(grad[region]), _largest(grad[~region])


def _by_change(model: Any, inputs: Any, pick: Callable[[Any], Any], region: Any) -> tuple[float, float]:
    import torch

    with torch.no_grad():
        base = pick(model(inputs)).double()
        leak = pick(model(_changed(inputs, region))).double() - base
        own = pick(model(_changed(inputs, ~region))).double() - base
    return _largest(leak.abs()), _largest(own.abs())


def _changed(inputs: Any, region: Any) -> Any:
    """The inputs with those in ``region`` changed: floats by noise, tokens to the next token the batch holds."""
    import torch

    if inputs.is_floating_point():
        scale = float(inputs.std()) if inputs.numel() > 1 else 1.0
        return inputs + torch.randn_like(inputs) * (scale or 1.0) * region
    values = torch.unique(inputs)
    if values.numel() < 2:
        raise _NotApplicable("every input token is the same: there is nothing to change them to")
    following = values[(torch.searchsorted(values, inputs.contiguous()) + 1) % values.numel()]
    return torch.where(region, following, inputs)


def _largest(t: Any) -> float:
    return float(t.max()) if t.numel() else 0.0


# -- training on the one batch -----------------------------------------------------


def _fit(s: _Setup, inputs: Any) -> _Fit:
    """Train a copy on one batch. The loss is measured in eval mode, where dropout does not blur the fit."""
    import torch

    torch.manual_seed(SEED)
    model = _fresh(s, train=True)
    optimizer = s.optimizer(model)
    start = _eval_loss(s, model, inputs)
    model.train()
    for step in range(s.steps):
        for p in model.parameters():
            p.grad = None  # not optimizer.zero_grad(): the zero_grad check tests that, this one the fit alone
        _, loss = _forward(s, model, inputs)
        if not bool(torch.isfinite(loss).all()):
            return _Fit(start, math.nan, step)
        if not loss.requires_grad:
            break
        loss.backward()
        optimizer.step()
    return _Fit(start, _eval_loss(s, model, inputs), None)


def _eval_loss(s: _Setup, model: Any, inputs: Any) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        _, loss = _forward(s, model, inputs)
    return float(loss)


def _overfit_batch(s: _Setup, fit: _Fit) -> Check:
    name = "overfit_batch"
    threshold = f"falls below {OVERFIT_FACTOR:g} × its start within {s.steps} steps (measured in eval mode)"
    if fit.diverged_at is not None:
        detail = f"the loss became NaN or inf at step {fit.diverged_at} (it started at {fit.start:.3g})"
        return _check(name, FAILED, None, threshold, detail)
    if not fit.start > 0:
        return _skip(name, threshold, f"the loss starts at {fit.start:.3g}: a share of it means nothing")
    ratio = fit.final / fit.start
    detail = f"loss {fit.start:.3g} → {fit.final:.3g} in {s.steps} steps ({ratio:.2g} of its start)"
    return _check(name, _verdict(ratio <= OVERFIT_FACTOR), ratio, threshold, detail)


def _input_independent(s: _Setup, real: _Fit, zero: _Fit) -> Check:
    name = "input_independent"
    threshold = f"after {s.steps} steps the loss is at most {INPUT_MARGIN:g} × that of a copy trained on zeroed inputs"
    if real.diverged_at is not None:
        return _skip(name, threshold, "the training on the real inputs diverged (see overfit_batch)")
    if zero.diverged_at is not None:
        return _skip(name, threshold, f"the training on zeroed inputs diverged at step {zero.diverged_at}")
    if not zero.final > 0:
        return _skip(
            name, threshold, f"the zero-input loss reaches {zero.final:.3g}: a share of it means nothing"
        )
    ratio = real.final / zero.final
    detail = f"loss {real.final:.3g} with the inputs, {zero.final:.3g} with them zeroed ({ratio:.2g}×)"
    return _check(name, _verdict(ratio <= INPUT_MARGIN), ratio, threshold, detail)


# -- the data ----------------------------------------------------------------------


def _data(s: _Setup, val: tuple[Any, Any] | None) -> Check:
    threshold = "no validation example also in the training batch (by a hash of its input's content)"
    if val is None:
        return _skip("data", threshold, "no val_batch given")
    val_inputs, val_targets = val
    seen = set(_digests(s.inputs))
    shared = sum(1 for digest in _digests(val_inputs) if digest in seen)
    labels = f"labels: train {_distribution(s.targets)}, val {_distribution(val_targets)}"
    detail = f"{shared} of {len(val_inputs)} validation examples also in the training batch; {labels}"
    return _check("data", _verdict(shared == 0), shared, threshold, detail)


def _digests(inputs: Any) -> list[str]:
    import torch

    out = []
    for sample in inputs.detach().cpu():
        raw = sample.contiguous().flatten().view(torch.uint8).numpy().tobytes()
        out.append(hashlib.sha256(f"{sample.dtype}{list(sample.shape)}".encode() + raw).hexdigest())
    return out


def _distribution(targets: Any) -> str:
    import torch

    if not _is_integer(targets):
        return f"mean {float(targets.double().mean()):.3g}" if targets.numel() else "empty"
    values, counts = torch.unique(targets.flatten().cpu(), return_counts=True)  # sorted by value
    pairs = list(zip(values.tolist(), counts.tolist(), strict=True))
    if len(pairs) > 8:  # a vocabulary: its size and the most common token say enough
        value, count = max(pairs, key=lambda pair: pair[1])
        return f"{len(pairs)} classes, most common {value} ({count / int(counts.sum()):.0%})"
    return "{" + ", ".join(f"{value}: {count}" for value, count in pairs) + "}"
