"""Artifacts: files kept with a run (checkpoints, outputs, source snapshots), stored once by content.

Each content is one file of the files area, ``<notebook>/artifacts/<hash[:2]>/<hash>``
(the sha256 of its bytes), whatever runs and names point at it: the same checkpoint
logged by ten runs is kept once. A run's names for contents are rows of
``store.artifacts``.

This module is the service's surface (``notebook.artifacts``): what is kept, read, copied
out, compared. How a file is copied in safely is ``artifact_copy.py``; collecting what no
row names is ``artifact_gc.py``; the pure rules (names, comparisons, sizes) are
``artifact_rules.py``, whose names are importable from here too.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from labbook.errors import BadInput, DataLost, NotFound
from labbook.records.artifacts import SNAPSHOT, Artifact, ArtifactDiff, Logged, Snapshot
from labbook.records.runs import RunRecord
from labbook.service import artifact_gc
from labbook.service.artifact_copy import CHUNK, Copier, Progress, content_path, open_partial, write_all
from labbook.service.artifact_gc import GRACE_S as GRACE_S
from labbook.service.artifact_rules import check_name as check_name
from labbook.service.artifact_rules import compare_sets as compare_sets
from labbook.service.artifact_rules import size_text as size_text
from labbook.service.artifact_rules import split_diff as split_diff
from labbook.service.artifact_rules import summarize as summarize
from labbook.service.settings import ARTIFACT_LIMIT, size_limit

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

FOLDER = "artifacts"
NAMES_SHOWN = 20
SKIPPED_KEPT = 200  # skipped snapshot paths named in the capture; all are counted


class Artifacts:
    """The artifacts part of the notebook service (``notebook.artifacts``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.notebook = notebook
        self.store = notebook.store
        self.folder = notebook.root / FOLDER

    # -- where contents live ------------------------------------------------------
    def path_of(self, digest: str) -> Path:
        return content_path(self.folder, digest)

    def _run_id(self, run: RunRecord | int | str) -> int:
        return run.id if isinstance(run, RunRecord) else self.notebook.get_run(run).id

    # -- adding -------------------------------------------------------------------
    def add(
        self,
        run: RunRecord | int | str,
        path: str | os.PathLike[str],
        name: str | None = None,
        kind: str | None = None,
        recursive: bool = False,
        progress: Progress | None = None,
    ) -> list[Artifact]:
        """Keep ``path`` with the run as ``name`` (default: its file name); all or nothing.

        A directory needs ``recursive``: then every file under it is kept as
        ``name/relative/path``. A file over the ``artifact.limit`` setting is refused
        before anything is copied.
        """
        run_id = self._run_id(run)
        items = self._files(path, name, recursive)
        limit = size_limit(self.notebook.settings, ARTIFACT_LIMIT)
        for src, _, size in items:
            if size > limit:
                raise BadInput(
                    f"{src} is {size_text(size)}, over the artifact limit of {size_text(limit)}; nothing was "
                    "stored (lab settings set artifact.limit 50GB raises it)"
                )
        stored, _ = self._copier().store_all(run_id, [(src, n) for src, n, _ in items], kind, True, progress)
        return stored

    def log(
        self,
        run: RunRecord | int | str,
        path: str | os.PathLike[str],
        name: str | None = None,
        kind: str | None = None,
        recursive: bool = False,
    ) -> Logged:
        """``add``, summed up in one record (what ``run.log_artifact`` returns)."""
        rows = self.add(run, path, name, kind, recursive)
        if not Path(path).is_dir():
            return summarize(rows)
        return summarize(rows, check_name(name or Path(path).resolve().name))

    def add_files(
        self, run: RunRecord | int | str, items: Sequence[tuple[Path, str]], kind: str | None
    ) -> tuple[list[Artifact], list[str]]:
        """Keep each of ``items`` (path, name) that can be kept; (stored, one line per file that was not).

        For ``lab run --artifact``: the run is over, so one bad file must not cost the others.
        """
        run_id = self._run_id(run)
        limit = size_limit(self.notebook.settings, ARTIFACT_LIMIT)
        fits: list[tuple[Path, str]] = []
        problems: list[str] = []
        for src, item_name in items:
            try:
                size = src.stat().st_size
            except OSError as err:
                problems.append(f"{src}: {err.strerror}; not stored")
                continue
            if size > limit:
                problems.append(
                    f"{src} is {size_text(size)}, over the artifact limit of {size_text(limit)}; not stored"
                )
            else:
                fits.append((src, item_name))
        stored, failed = self._copier().store_all(run_id, fits, kind, False)
        return stored, problems + failed

    def snapshot(
        self,
        run: RunRecord | int | str,
        repo: Path,
        paths: Sequence[str],
        total: int,
        per_file: int,
        environments: Sequence[str] = (),
    ) -> Snapshot:
        """Keep the untracked files ``paths`` (relative to ``repo``) as kind ``snapshot``, within the limits.

        The smallest go first, so one large file never crowds out the source files around it.
        ``environments``: the Python environments the caller set aside, recorded as such.
        """
        run_id = self._run_id(run)
        sized: list[tuple[int, str]] = []
        skipped: list[tuple[str, int, str]] = []
        for rel in paths:
            try:
                st = (repo / rel).stat()
            except OSError as err:
                skipped.append((rel, 0, err.strerror or "unreadable"))
                continue
            if stat.S_ISREG(st.st_mode):
                sized.append((st.st_size, rel))
        used = 0
        chosen: list[tuple[Path, str]] = []
        for size, rel in sorted(sized):
            if size > per_file:
                skipped.append((rel, size, f"over the per-file limit of {size_text(per_file)}"))
            elif used + size > total:
                skipped.append((rel, size, f"over the snapshot limit of {size_text(total)}"))
            else:
                used += size
                chosen.append((repo / rel, rel))
        stored, _ = self._copier().store_all(run_id, chosen, SNAPSHOT, False)
        kept = {a.name for a in stored}
        skipped += [(rel, 0, "changed or unreadable while copied") for _, rel in chosen if rel not in kept]
        named = sorted(skipped)[:SKIPPED_KEPT]
        total_bytes = sum(a.size for a in stored)
        return Snapshot(str(repo), len(stored), total_bytes, named, len(skipped), list(environments))

    def _files(
        self, path: str | os.PathLike[str], name: str | None, recursive: bool
    ) -> list[tuple[Path, str, int]]:
        """(source, artifact name, size) of each file ``path`` stands for."""
        if not isinstance(path, str | os.PathLike):
            raise BadInput(f"an artifact path is a str or a Path, not {type(path).__name__}")
        src = Path(path)
        try:
            st = src.stat()
        except FileNotFoundError:
            raise NotFound(f"no file or directory {src}; nothing was stored") from None
        except OSError as err:
            raise BadInput(f"cannot read {src}: {err.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            if not recursive:
                raise BadInput(
                    f"{src} is a directory; --recursive (recursive=True) keeps every file under it"
                )
            return self._tree(src, check_name(name or src.resolve().name))
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{src} is not a regular file; nothing was stored")
        return [(src, check_name(name or src.name), st.st_size)]

    def _tree(self, top: Path, base: str) -> list[tuple[Path, str, int]]:
        out = []
        for folder, dirs, files in os.walk(top):  # symlinked directories are not followed: no loops
            dirs.sort()
            for f in sorted(files):
                p = Path(folder, f)
                try:
                    st = p.stat()
                except OSError:
                    continue  # a dangling link
                if stat.S_ISREG(st.st_mode):
                    out.append((p, f"{base}/{p.relative_to(top).as_posix()}", st.st_size))
        if not out:
            raise BadInput(f"{top} holds no files; nothing was stored")
        return out

    def _copier(self) -> Copier:
        """What copies contents in and writes their rows (``artifact_copy``)."""
        return Copier(self.folder, self.notebook.root, self.store)

    # -- reading ------------------------------------------------------------------
    def of_runs(self, run_ids: Iterable[int]) -> list[Artifact]:
        return self.store.artifacts.artifacts_of(run_ids)

    def find(self, run: RunRecord | int | str, name: str) -> Artifact:
        """The run's artifact ``name``, or a NotFound naming the ones it has."""
        run_id = self._run_id(run)
        found = self.store.artifacts.get_artifact(run_id, name)
        if found is not None:
            return found
        names = [a.name for a in self.store.artifacts.artifacts(run_id)]
        if not names:
            raise NotFound(f"run {run_id} has no artifacts (lab artifacts add {run_id} PATH keeps one)")
        more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
        raise NotFound(
            f"run {run_id} has no artifact {name!r}; its artifacts: {', '.join(names[:NAMES_SHOWN])}{more}"
        )

    def get(self, run: RunRecord | int | str, name: str) -> Path:
        """Where the content of the run's artifact ``name`` is (read it, never write it)."""
        return self._content(self.find(run, name))

    def _content(self, art: Artifact) -> Path:
        path = self.path_of(art.hash)
        if not path.is_file():
            raise DataLost(f"artifact {art.name!r} of run {art.run_id}: its content {path} is gone")
        return path

    def export(
        self, run: RunRecord | int | str, name: str, dest: str | os.PathLike[str], force: bool = False
    ) -> Path:
        """Copy the artifact out to ``dest`` (a directory: under its file name); atomic, checked against
        its hash. An existing file is replaced only with ``force``."""
        return self._export(self.find(run, name), Path(dest), force)

    def _export(self, art: Artifact, target: Path, force: bool) -> Path:
        src = self._content(art)
        if target.is_dir():
            target = target / PurePosixPath(art.name).name
        if target.exists() and not force:
            raise BadInput(f"{target} exists; --force replaces it")
        if not target.parent.is_dir():
            raise BadInput(f"no directory {target.parent} to write {target.name} into")
        try:
            fd, partial = open_partial(target.parent, f"{target.name}-", 0o666)
        except OSError as err:
            raise BadInput(f"cannot write {target}: {err.strerror}") from None
        try:
            self._export_to(art, src, fd, target)
            os.close(fd)
            fd = -1
            self._put_out(partial, target, force)
        finally:
            if fd >= 0:
                os.close(fd)
            partial.unlink(missing_ok=True)
        return target

    def _export_to(self, art: Artifact, src: Path, fd: int, target: Path) -> None:
        h = hashlib.sha256()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            reader = open(src, "rb", buffering=0)  # closed below; its errors told apart from ours
        except OSError as err:
            raise DataLost(
                f"artifact {art.name!r} of run {art.run_id}: its content {src}: {err.strerror}"
            ) from None
        with reader:
            while n := reader.readinto(buf):
                h.update(view[:n])
                try:
                    write_all(fd, view[:n])
                except OSError as err:
                    raise BadInput(f"cannot write {target}: {err.strerror}") from None
        if h.hexdigest() != art.hash:
            raise DataLost(
                f"artifact {art.name!r} of run {art.run_id}: its stored content is damaged (hash differs)"
            )
        try:
            os.fsync(fd)
        except OSError as err:
            raise BadInput(f"cannot write {target}: {err.strerror}") from None

    def _put_out(self, partial: Path, target: Path, force: bool) -> None:
        if force:
            os.replace(partial, target)
            return
        try:
            os.link(partial, target)  # never replaces: a file that appeared meanwhile is kept
        except FileExistsError:
            raise BadInput(f"{target} exists; --force replaces it") from None
        except OSError:
            os.replace(partial, target)  # a filesystem without hard links

    def restore(self, arts: Sequence[Artifact], into: Path) -> list[str]:
        """Copy artifacts out under ``into`` by their names (a rerun's snapshot); the names restored."""
        done = []
        for art in arts:
            target = into / check_name(art.name)
            if target.is_dir():
                raise BadInput(f"{target} is a directory there; the file {art.name} cannot be put back")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise BadInput(f"cannot write {target}: {err.strerror}") from None
            self._export(art, target, force=True)
            done.append(art.name)
        return done

    # -- comparing ----------------------------------------------------------------
    def differ(
        self, run_a: RunRecord | int | str, run_b: RunRecord | int | str, snapshot: bool = False
    ) -> ArtifactDiff:
        """The outputs (with ``snapshot``: the snapshot files) of two runs by name: which differ, which
        only one has."""
        a, b = self.list(run_a), self.list(run_b)
        outputs, snapshots = split_diff(a, b)
        return snapshots if snapshot else outputs

    # -- collecting garbage ---------------------------------------------------------
    def collect_garbage(self, grace_s: float = GRACE_S) -> tuple[int, int]:
        """Delete contents no artifact row names, and partial copies a killed process left;
        returns (files removed, bytes freed). Safe beside an ``add`` in another process,
        without a lock: ``artifact_gc.collect_garbage`` says how."""
        return artifact_gc.collect_garbage(self.folder, self.store, grace_s)

    def list(self, run: RunRecord | int | str) -> builtins.list[Artifact]:
        """The run's artifacts by name (last here: the name would hide the builtin above)."""
        return self.store.artifacts.artifacts(self._run_id(run))
