"""The shapes of artifacts: ``lab artifacts ls``, ``lab show``'s artifacts, artifact differences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labbook.records.artifacts import SNAPSHOT, Artifact, ArtifactDiff
from labbook.service.artifact_rules import size_text as size_text  # the one way sizes are written

SHORT_HASH = 12


def artifact_dict(a: Artifact) -> dict[str, Any]:
    return {
        "name": a.name,
        "kind": a.kind,
        "size": a.size,
        "hash": a.hash,
        "source": a.source,
        "created_at": a.created_at,
    }


def artifacts_list(arts: Sequence[Artifact]) -> list[dict[str, Any]]:
    return [artifact_dict(a) for a in arts]


def artifact_rows(arts: Sequence[Artifact]) -> list[list[str]]:
    """Table rows: name, kind, size, the hash's first digits."""
    return [[a.name, a.kind or "-", size_text(a.size), a.hash[:SHORT_HASH]] for a in arts]


def diff_dict(d: ArtifactDiff) -> dict[str, Any]:
    return {"changed": d.changed, "only_a": d.only_a, "only_b": d.only_b, "same": d.same}


def diff_words(d: ArtifactDiff, a: str = "A", b: str = "B", shown: int = 8) -> str:
    """``model.pt differs; only in A: x; 3 the same``; names beyond ``shown`` counted, not listed."""

    def names(xs: list[str]) -> str:
        more = f" and {len(xs) - shown} more" if len(xs) > shown else ""
        return ", ".join(xs[:shown]) + more

    parts = []
    if d.changed:
        parts.append(f"{names(d.changed)} differ{'s' if len(d.changed) == 1 else ''}")
    if d.only_a:
        parts.append(f"only in {a}: {names(d.only_a)}")
    if d.only_b:
        parts.append(f"only in {b}: {names(d.only_b)}")
    if d.same:
        parts.append(f"{d.same} the same")
    return "; ".join(parts) or "none"


def snapshot_of(arts: Sequence[Artifact]) -> tuple[int, int]:
    """(files, bytes) of the source snapshot among ``arts``."""
    snap = [a for a in arts if a.kind == SNAPSHOT]
    return len(snap), sum(a.size for a in snap)
