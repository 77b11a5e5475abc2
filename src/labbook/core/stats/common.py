"""What every statistic here shares: the default level and alpha, and the checks on its inputs."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.errors import BadInput

LEVEL = 0.95
ALPHA = 0.05


Floats = NDArray[np.float64]


def flat_values(x: ArrayLike, what: str = "values") -> Floats:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise BadInput(f"{what} must be a flat list of numbers")
    return a


def float_or_array(x: Floats) -> Floats | float:
    """A 0-d result as a float, anything else as the array."""
    return x if np.ndim(x) else float(x)
