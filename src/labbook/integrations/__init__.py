"""Loggers and callbacks for training frameworks: their metrics and hyperparameters land in a run.

- ``labbook.integrations.lightning.LabbookLogger``: ``Trainer(logger=...)`` of ``lightning``
  (``labbook.integrations.pytorch_lightning`` for the older ``pytorch_lightning`` package);
- ``labbook.integrations.hf.LabbookCallback``: ``transformers.Trainer(callbacks=[...])``;
- ``labbook.integrations.keras.LabbookKerasCallback``: ``model.fit(callbacks=[...])`` in Keras 3.

Each module imports its framework when it is imported, never before, so ``import labbook``
stays light; install the framework with its extra (``labbook[lightning]``, ``labbook[hf]``,
``labbook[keras]``). What they share (which run they write to and when it ends) is in
``_common.RunSlot``.
"""
