"""What the sanity checks found: one line per check, kept as plain JSON with a run.

Pure Python, so that a report can be read, compared and printed without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from labbook.errors import BadInput

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
STATUSES = (PASSED, FAILED, SKIPPED)
MARKS = {PASSED: "✓", FAILED: "✗", SKIPPED: "–"}
FIELDS = ("name", "status", "value", "threshold", "meaning", "detail", "seconds")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Check:
    """One check's verdict, with the rule it applied and what a failure usually means.

    A non-finite ``value`` (a loss that became NaN) is kept as None, so that a report
    always writes as JSON and reads back equal.
    """

    name: str
    status: str
    value: float | None
    threshold: str
    meaning: str
    detail: str
    seconds: float

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a check's status is one of {', '.join(STATUSES)}, not {self.status!r}")
        object.__setattr__(self, "value", _finite(self.value))
        object.__setattr__(self, "seconds", _finite(self.seconds) or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in FIELDS}


@dataclass(frozen=True)
class Report:
    """The checks of one model and batch, in the order they ran."""

    checks: tuple[Check, ...]

    def _count(self, status: str) -> int:
        return sum(1 for check in self.checks if check.status == status)

    @property
    def passed(self) -> int:
        return self._count(PASSED)

    @property
    def failed(self) -> int:
        return self._count(FAILED)

    @property
    def skipped(self) -> int:
        return self._count(SKIPPED)

    @property
    def ok(self) -> bool:
        """Skipped checks do not count against it: they say what was not looked at, not what is wrong."""
        return self.failed == 0

    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAILED]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "checks": [check.to_json() for check in self.checks],
        }

    @classmethod
    def from_json(cls, data: Any) -> Report:
        """The counts are derived, so only the checks are read back."""
        try:
            items = data["checks"]
            checks = tuple(_check_from_json(item) for item in items)
        except (KeyError, TypeError, ValueError) as err:
            raise BadInput(f"not a checks report ({err}); expected the dict Report.to_json() writes") from err
        return cls(checks)

    def render(self) -> str:
        """A table to print: failures get a second line with the rule and the usual cause."""
        width = max((len(check.name) for check in self.checks), default=0)
        lines = []
        for check in self.checks:
            lines.append(f"{MARKS[check.status]} {check.name.ljust(width)}  {check.detail}")
            if check.status == FAILED:
                lines.append(f"    needs: {check.threshold}")
                lines.append(f"    usually: {check.meaning}")
        lines.append(f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped")
        return "\n".join(lines)


def _check_from_json(item: Any) -> Check:
    value = item["value"]
    return Check(
        name=str(item["name"]),
        status=str(item["status"]),
        value=None if value is None else float(value),
        threshold=str(item["threshold"]),
        meaning=str(item["meaning"]),
        detail=str(item["detail"]),
        seconds=float(item["seconds"]),
    )
