"""Artifacts: files kept with a run (checkpoints, outputs, source snapshots), stored by content."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: The kind of the untracked source files ``lab run --snapshot`` keeps; every other kind is an output.
SNAPSHOT = "snapshot"
#: The kind of the files ``lab run --artifact GLOB`` keeps.
OUTPUT = "output"


@dataclass(frozen=True)
class Artifact:
    """One file of a run: its name in the run, and the sha256 naming its content in the files area."""

    run_id: int
    name: str  # a relative POSIX path, unique within the run
    kind: str | None
    hash: str
    size: int
    source: str | None  # the path it was copied from
    created_at: float


class Logged(NamedTuple):
    """What ``run.log_artifact`` hands back: a file, or a directory stored file by file."""

    name: str
    hash: str  # of the content; a directory: of its files' names and hashes, in name order
    size: int  # bytes; a directory: of all its files
    files: int = 1


@dataclass(frozen=True)
class ArtifactDiff:
    """Artifacts of two runs (or two sides of runs) by name: which differ, which only one side has."""

    changed: list[str] = field(default_factory=list)  # the same name, a different content
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    same: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.only_a or self.only_b)


@dataclass(frozen=True)
class Snapshot:
    """What ``lab run --snapshot`` kept of the repository's untracked files, and what it left out."""

    repo: str
    stored: int
    bytes: int
    skipped: list[tuple[str, int, str]]  # (path, size, why), the first few
    skipped_count: int
    environments: list[str]  # Python environments set aside (not source)

    def as_dict(self) -> dict[str, Any]:
        """As the run's capture keeps it (``capture["snapshot"]``)."""
        return {
            "repo": self.repo,
            "files": self.stored,
            "bytes": self.bytes,
            "skipped": [{"path": p, "size": n, "why": why} for p, n, why in self.skipped],
            "skipped_count": self.skipped_count,
            "environments": self.environments,
        }
