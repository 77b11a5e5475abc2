"""Collecting the files area's garbage: contents no artifact row names, and abandoned partial copies.

Apart from the service because it is the one part that races with adds in other processes,
without a lock; its safety argument (rename, ask the rows again, put back) reads best
alone. ``Artifacts.collect_garbage`` is its entry point.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from labbook.service.artifact_copy import PARTIAL

if TYPE_CHECKING:
    from labbook.store.protocols import Store

#: Partial copies and unreferenced contents younger than this are left alone by ``collect_garbage``.
GRACE_S = 600.0


def collect_garbage(folder: Path, store: Store, grace_s: float = GRACE_S) -> tuple[int, int]:
    """Delete the contents of the artifacts folder ``folder`` no row of ``store.artifacts`` names,
    and partial copies a killed process left; returns (files removed, bytes freed).

    Safe beside an ``add`` in another process, without a lock. Files younger than
    ``grace_s`` are not touched: an add under way keeps its partial copies (and the
    contents linked from them, one inode) young, so nothing it holds is taken. An older
    content is first renamed out of its place, then the rows are asked again; if one
    names it now (an add of the same bytes committed in between), it is put back. And
    an add writes its rows before it lets go of its partial copies, then links a copy
    back into place if the content went meanwhile: whichever moves first, the content
    is there once a row names it.
    """
    if not folder.is_dir():
        return 0, 0
    cutoff = time.time() - grace_s
    removed = freed = 0
    candidates: list[tuple[Path, str, int]] = []
    for entry in folder.iterdir():
        st = _old_stat(entry, cutoff)
        if st is None:
            continue
        if entry.name.startswith(PARTIAL) and stat.S_ISREG(st.st_mode):
            try:
                entry.unlink(missing_ok=True)
            except OSError:
                continue  # a read-only notebook: nothing to collect here
            removed, freed = removed + 1, freed + st.st_size
        elif stat.S_ISDIR(st.st_mode) and len(entry.name) == 2:
            candidates += _contents(entry, cutoff)
    named = store.artifacts.referenced([digest for _, digest, _ in candidates])
    for path, digest, size in candidates:
        if digest not in named and _take(folder, store, path, digest):
            removed, freed = removed + 1, freed + size
    return removed, freed


def _old_stat(path: Path, cutoff: float) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if st.st_mtime < cutoff or stat.S_ISDIR(st.st_mode) else None


def _contents(folder: Path, cutoff: float) -> list[tuple[Path, str, int]]:
    out = []
    for path in folder.iterdir():
        st = _old_stat(path, cutoff)
        if (
            st is not None
            and stat.S_ISREG(st.st_mode)
            and len(path.name) == 64
            and path.name.startswith(folder.name)
        ):
            out.append((path, path.name, st.st_size))
    return out


def _take(folder: Path, store: Store, path: Path, digest: str) -> bool:
    """Remove one unreferenced content, unless a row names it by the time it is out of place."""
    doomed = folder / f"{PARTIAL}gc-{digest[:16]}-{os.urandom(4).hex()}"
    try:
        os.rename(path, doomed)
    except OSError:
        return False  # gone already (another collector), or not ours to move
    if store.artifacts.referenced([digest]):
        try:
            os.link(doomed, path)
        except FileExistsError:
            pass  # the add put its own copy in place
        except OSError:
            os.replace(doomed, path)  # a filesystem without hard links
        doomed.unlink(missing_ok=True)
        return False
    try:
        doomed.unlink(missing_ok=True)  # its folder stays: an add may be about to link into it
    except OSError:
        return False  # left as a partial file, which the next collection removes
    return True
