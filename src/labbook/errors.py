"""The exception tree.

Every error labbook raises on purpose is a ``LabbookError``. Each class carries the
exit code the CLI uses and the HTTP status a server would answer with, so that every
adapter renders errors at exactly one boundary and never prints a traceback to a user.

    LabbookError (1, 500)              the operation failed
    ├── BadInput (2, 400)              the user asked for something malformed
    │   ├── NotFound (2, 404)          a reference that names nothing
    │   │   ├── NotebookNotFound       no notebook here or above
    │   │   └── RunNotFound            an unknown run id
    │   ├── QueryError (2, 400)        a --where / --sort that does not parse or names nothing
    │   ├── MetricValueError (2, 400)  a metric value that is not a number (also a TypeError)
    │   └── LaunchError (2, 400)       an empty command, or one that does not exist
    ├── SchemaTooNew (2, 409)          the notebook was written by a newer labbook
    └── StoreError (1, 500)            the store could not do what was asked
"""

from __future__ import annotations


class LabbookError(Exception):
    """Base of every error labbook raises deliberately."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(LabbookError):
    """The request itself is wrong; the fix is on the caller's side."""

    exit_code = 2
    http_status = 400


class NotFound(BadInput):
    """A reference (run, hypothesis, prediction) that names nothing in this notebook."""

    http_status = 404


class NotebookNotFound(NotFound):
    pass


class RunNotFound(NotFound):
    pass


class QueryError(BadInput):
    pass


class MetricValueError(BadInput, TypeError):
    """A value passed to ``run.log`` that cannot be stored as a number."""


class LaunchError(BadInput):
    pass


class SchemaTooNew(LabbookError):
    exit_code = 2
    http_status = 409


class StoreError(LabbookError):
    pass


__all__ = [
    "BadInput",
    "LabbookError",
    "LaunchError",
    "MetricValueError",
    "NotFound",
    "NotebookNotFound",
    "QueryError",
    "RunNotFound",
    "SchemaTooNew",
    "StoreError",
]
