"""The pure part of artifacts: what a name may be, how two sets differ, what one call kept, how a size reads.

No file is touched here, so the service (``artifacts.py``), its copy-in (``artifact_copy.py``)
and the adapters all use these without importing one another's machinery.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from labbook.core.sizes import size_text as size_text  # re-exported: the service's messages use it
from labbook.errors import BadInput
from labbook.records.artifacts import SNAPSHOT, Artifact, ArtifactDiff, Logged


def check_name(name: str) -> str:
    """An artifact name: a relative POSIX path without ``..`` (it may become a path on restore)."""
    text = str(name).strip()
    pure = PurePosixPath(text)
    if not text or "\0" in text or pure.is_absolute() or ".." in pure.parts or pure.as_posix() == ".":
        raise BadInput(f"artifact name {name!r}: give a relative path such as model.pt or ckpt/last.pt")
    return pure.as_posix()


def compare_sets(a: Iterable[Artifact], b: Iterable[Artifact]) -> ArtifactDiff:
    """By name: contents that differ, names only one side has. A side of many runs differs when its set
    of contents under a name is not the other side's."""
    ha: dict[str, set[str]] = {}
    hb: dict[str, set[str]] = {}
    for side, rows in ((ha, a), (hb, b)):
        for art in rows:
            side.setdefault(art.name, set()).add(art.hash)
    common = ha.keys() & hb.keys()
    changed = sorted(n for n in common if ha[n] != hb[n])
    return ArtifactDiff(
        changed, sorted(ha.keys() - hb.keys()), sorted(hb.keys() - ha.keys()), len(common) - len(changed)
    )


def split_diff(a: Sequence[Artifact], b: Sequence[Artifact]) -> tuple[ArtifactDiff, ArtifactDiff]:
    """(outputs, snapshot files): a changed source file says something else than a changed checkpoint."""
    outputs = compare_sets([x for x in a if x.kind != SNAPSHOT], [x for x in b if x.kind != SNAPSHOT])
    snapshots = compare_sets([x for x in a if x.kind == SNAPSHOT], [x for x in b if x.kind == SNAPSHOT])
    return outputs, snapshots


def summarize(rows: Sequence[Artifact], directory: str | None = None) -> Logged:
    """One record for what one call stored: a file, or the files of ``directory`` under one hash."""
    if directory is None:
        return Logged(rows[0].name, rows[0].hash, rows[0].size)
    tree = hashlib.sha256("".join(f"{a.name}\t{a.hash}\n" for a in rows).encode())
    return Logged(directory, tree.hexdigest(), sum(a.size for a in rows), len(rows))
