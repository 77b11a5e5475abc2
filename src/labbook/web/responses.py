"""JSON exactly as ``--json`` prints it (NaN as "NaN"), compact on the wire."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from labbook.views.tables import jsonable


class LabJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(jsonable(content), ensure_ascii=False, separators=(",", ":")).encode()


def finite_list(values: Any) -> list[float | None]:
    """A numpy array for a chart: NaN and ±Inf become null, which a chart draws as a gap."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    out: list[float | None] = arr.tolist()
    if not np.isfinite(arr).all():
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            out[i] = None
    return out
