"""Loggers and callbacks for training frameworks: their metrics and hyperparameters land in a run.

Each module imports its framework when it is imported, never before, so ``import labbook``
stays light; install the framework with its extra (``labbook[lightning]``, ``labbook[hf]``,
``labbook[keras]``).
"""
