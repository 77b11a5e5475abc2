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
    │   ├── ConfigError (2, 400)       a config file or override that cannot be used as given
    │   ├── LaunchError (2, 400)       an empty command, or one that does not exist
    │   ├── NotAuthorized (2, 401)     a team server refused the token (wrong, revoked, or its role too low)
    │   ├── Conflict (2, 409)          one side holds other content under uids the other sends: nothing written
    │   └── Refused (2, 4xx)           what else a team server refused, in its one line (``status``, ``body``)
    ├── SchemaTooNew (2, 409)          the notebook was written by a newer labbook
    ├── Gap (1, 409)                   a batch of points starts past what the server holds (``counts``): send from there
    └── StoreError (1, 500)            the store could not do what was asked
        ├── NotebookBusy (1, 503)      another process held the write lock past the wait
        ├── StoreUnreachable (1, 503)  the database server does not answer (down, restarting, unreachable)
        ├── NotebookFull (1, 507)      the disk (or quota) holding the notebook is full
        ├── NotebookReadOnly (1, 403)  files or mount not writable: reads work, writes do not
        ├── NotebookCorrupt (1, 500)   the database file is damaged or not a database
        └── DataLost (1, 500)          points the notebook accepted are gone (a deleted folder, damage)

    LabbookWarning (UserWarning)       said, not raised; the CLI prints each as one line
    └── DamageWarning                  a reader skipped a damaged region, named with its run and file
"""

from __future__ import annotations

from typing import Any


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


class ConfigError(BadInput):
    """A config file or override that cannot be used as given."""


class LaunchError(BadInput):
    pass


class NotAuthorized(BadInput):
    """The team server refused the token: wrong, revoked, or without the role this needs."""

    http_status = 401


class Conflict(BadInput):
    """Uids one side holds with other content than the other sends; ``uids`` lists them, nothing was written."""

    http_status = 409

    def __init__(self, message: str, uids: list[str]) -> None:
        super().__init__(message)
        self.uids = uids
        self.details = {"conflicts": uids}

    @classmethod
    def of(cls, uids: list[str], where: str, done: str) -> Conflict:
        shown = ", ".join(uids[:10]) + (f" and {len(uids) - 10} more" if len(uids) > 10 else "")
        return cls(f"{where} other content under these uids: {shown}; nothing was {done}", uids)


class Refused(BadInput):
    """A team server's 4xx other than the above, with its one line; ``status`` and ``body`` say more."""

    def __init__(self, message: str, status: int, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class Gap(LabbookError):
    """A batch of points starts past what the server holds; ``counts`` is what it holds, to send from."""

    http_status = 409

    def __init__(self, message: str, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.counts = counts
        self.details = {"counts": counts}


class SchemaTooNew(LabbookError):
    exit_code = 2
    http_status = 409


class StoreError(LabbookError):
    pass


class NotebookBusy(StoreError):
    """Retryable: the lock holder (a long transaction, a backup) will let go."""

    http_status = 503


class StoreUnreachable(StoreError):
    """Retryable: the database server is down or restarting; nothing was written by the failed call."""

    http_status = 503


class NotebookFull(StoreError):
    """Nothing was written; freeing space is the fix."""

    http_status = 507

    @classmethod
    def at(cls, where: object) -> NotebookFull:
        return cls(f"the disk holding the notebook at {where} is full; free some space and try again")


class NotebookReadOnly(StoreError):
    """The notebook can be read but not written; a copy somewhere writable can be."""

    http_status = 403

    @classmethod
    def at(cls, where: object) -> NotebookReadOnly:
        """The one message every write to a read-only notebook gets, from the store or the files area."""
        return cls(
            f"the notebook at {where} is read-only; writes need a writable copy"
            " (`lab backup DIR` to a writable place, then `lab --dir DIR ...`)"
        )


class NotebookCorrupt(StoreError):
    """The database file cannot be trusted; ``lab verify`` says what is left."""


class DataLost(StoreError):
    """Found, not caused: the notebook holds less than it once accepted; ``lab verify`` lists it all."""


class LabbookWarning(UserWarning):
    """Something a reader must hear about but that does not stop the operation."""


class DamageWarning(LabbookWarning):
    pass


__all__ = [
    "BadInput",
    "DamageWarning",
    "DataLost",
    "LabbookError",
    "LabbookWarning",
    "LaunchError",
    "MetricValueError",
    "NotFound",
    "NotebookBusy",
    "NotebookCorrupt",
    "NotebookFull",
    "NotebookNotFound",
    "NotebookReadOnly",
    "QueryError",
    "RunNotFound",
    "SchemaTooNew",
    "StoreError",
]
