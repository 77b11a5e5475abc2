"""``LabbookChecksCallback``: the sanity checks once, at the start of ``fit``, on the first batch.

Written once for both packages, as the logger is (``_lightning.py``): each package's
Trainer wants callbacks of its own ``Callback`` class.
"""

from __future__ import annotations

from typing import Any

from labbook.errors import BadInput


class ChecksCallbackBase:
    """``Trainer(callbacks=[LabbookChecksCallback(nn.CrossEntropyLoss())])``: check before training.

    The checks take the model's ``forward`` on the first training batch's ``(inputs,
    targets)`` (its first two items), ``loss_fn`` (or the module's ``loss_fn`` or
    ``criterion`` attribute) and the Trainer's first optimizer; the first validation batch,
    when there is one, goes to the data check. The report is kept with the run the
    labbook logger (or ``labbook.init``) holds. ``LABBOOK_CHECKS=only`` (``lab check``)
    ends the program after them.
    """

    def __init__(
        self,
        loss_fn: Any = None,
        *,
        num_classes: int | None = None,
        causal_dim: int | None = None,
        steps: int = 50,
        lr: float | None = None,
    ) -> None:
        super().__init__()
        self.loss_fn, self.num_classes, self.causal_dim, self.steps, self.lr = (
            loss_fn, num_classes, causal_dim, steps, lr
        )  # fmt: skip
        self.report: Any = None  # the checks' Report, once they ran

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        import labbook.checks

        if self.report is not None or not trainer.is_global_zero:
            return
        logger = trainer.logger
        if logger is not None and type(logger).__name__ == "LabbookLogger":
            logger.experiment  # noqa: B018 (the run exists before its report is kept)
        loss_fn = self.loss_fn or getattr(pl_module, "loss_fn", None) or getattr(pl_module, "criterion", None)
        if loss_fn is None:
            raise BadInput(
                "LabbookChecksCallback needs the loss: LabbookChecksCallback(loss_fn=nn.CrossEntropyLoss())"
            )
        batch = _pair(next(iter(trainer.train_dataloader)), pl_module.device, "training")
        val = _first_val_batch(trainer, pl_module.device)
        held, pl_module.trainer = pl_module.trainer, None  # the checks copy the module, not the Trainer
        try:
            self.report = labbook.checks.run(
                pl_module, batch, loss_fn, optimizer=trainer.optimizers[0] if trainer.optimizers else None,
                num_classes=self.num_classes, causal_dim=self.causal_dim, steps=self.steps, val_batch=val,
                lr=self.lr,
            )  # fmt: skip
        finally:
            pl_module.trainer = held


def _pair(batch: Any, device: Any, what: str) -> tuple[Any, Any]:
    if isinstance(batch, dict):
        batch = [batch[k] for k in ("inputs", "targets") if k in batch] or list(batch.values())
    if not isinstance(batch, tuple | list) or len(batch) < 2:
        raise BadInput(f"the first {what} batch is not (inputs, targets, ...); the checks need both")
    return batch[0].to(device), batch[1].to(device)


def _first_val_batch(trainer: Any, device: Any) -> tuple[Any, Any] | None:
    loaders = trainer.val_dataloaders
    if isinstance(loaders, list | tuple):
        loaders = loaders[0] if loaders else None
    if loaders is None:
        return None
    try:
        return _pair(next(iter(loaders)), device, "validation")
    except (StopIteration, BadInput):
        return None


def checks_callback_class(base: type, module: str) -> type[Any]:
    """``ChecksCallbackBase`` joined to a package's ``Callback``."""
    return type("LabbookChecksCallback", (ChecksCallbackBase, base), {"__module__": module})
