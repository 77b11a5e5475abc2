"""Sizes in bytes as people write and read them: ``10MB`` in a setting, ``1.5 GB`` in output.

Units are of 1024, both ways, so a limit set as ``10MB`` is printed back as ``10.0 MB``.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1}
for _i, _letter in enumerate("kmgt", start=1):
    _UNITS.update({_letter: 1024**_i, f"{_letter}b": 1024**_i, f"{_letter}ib": 1024**_i})


def size_text(n: float) -> str:
    """Bytes as every command prints them."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def parse_size(text: str) -> int | None:
    """``10MB``, ``1.5GB``, ``512k`` or a number of bytes; None when it is not a size."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if m is None or m[2].lower() not in _UNITS:
        return None
    return int(float(m[1]) * _UNITS[m[2].lower()])
