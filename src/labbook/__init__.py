"""labbook: a local-first research notebook that runs experiments and keeps you honest.

    import labbook

    with labbook.init(config={"lr": 3e-4}, tags=["baseline"]) as run:
        for step in range(1000):
            run.log({"loss": loss}, step=step)
        run.summary["best_acc"] = best

Names are loaded on first use so that ``import labbook`` (and the ``lab`` command) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from labbook.errors import (
        BadInput,
        LabbookError,
        MetricValueError,
        NotebookNotFound,
        QueryError,
        RunNotFound,
    )
    from labbook.service.notebook import Notebook
    from labbook.tracking.sdk import Run, config, current, finish, init, log

_LAZY = {
    "init": "tracking.sdk",
    "log": "tracking.sdk",
    "finish": "tracking.sdk",
    "current": "tracking.sdk",
    "config": "tracking.sdk",
    "Run": "tracking.sdk",
    "Notebook": "service.notebook",
    "LabbookError": "errors",
    "BadInput": "errors",
    "MetricValueError": "errors",
    "NotebookNotFound": "errors",
    "QueryError": "errors",
    "RunNotFound": "errors",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labbook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
