"""Stores: where the notebook keeps runs, tags, parameters and metric summaries.

``base`` defines the interface, ``sqlite`` the embedded implementation, ``migrations``
the versioned schema.
"""

from labbook.records.runs import BatchSummary, Fields, NewRun, Owner
from labbook.store.base import Store

__all__ = ["BatchSummary", "Fields", "NewRun", "Owner", "Store"]
