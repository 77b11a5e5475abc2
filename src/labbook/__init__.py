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

if TYPE_CHECKING:  # explicit re-exports, so that mypy --strict accepts ``labbook.init`` in user code
    from labbook.errors import BadInput as BadInput
    from labbook.errors import LabbookError as LabbookError
    from labbook.errors import MetricValueError as MetricValueError
    from labbook.errors import NotebookNotFound as NotebookNotFound
    from labbook.errors import QueryError as QueryError
    from labbook.errors import RunNotFound as RunNotFound
    from labbook.service.notebook import Notebook as Notebook
    from labbook.tracking.sdk import Run as Run
    from labbook.tracking.sdk import config as config
    from labbook.tracking.sdk import current as current
    from labbook.tracking.sdk import finish as finish
    from labbook.tracking.sdk import init as init
    from labbook.tracking.sdk import log as log
    from labbook.tracking.sdk import log_artifact as log_artifact

_LAZY = {
    "init": "tracking.sdk",
    "log": "tracking.sdk",
    "log_artifact": "tracking.sdk",
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

__all__ = [
    "BadInput",
    "LabbookError",
    "MetricValueError",
    "Notebook",
    "NotebookNotFound",
    "QueryError",
    "Run",
    "RunNotFound",
    "__version__",
    "config",
    "current",
    "finish",
    "init",
    "log",
    "log_artifact",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labbook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
