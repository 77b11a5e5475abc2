"""Copying files into the files area: the streamed, hashed, synced copy-in behind ``Artifacts.add``.

It lives apart from the service because it is the one part that must get the order of
writes right, and it reads best alone. Adding a file copies it in chunks (memory stays
flat at any size) into a partial file of the files area while hashing it, then syncs it
and links it into place under its hash (or finds that content there already, and drops
the copy unsynced). The source is checked before and after: a file that vanished,
changed or could not be read while copied is refused and nothing is recorded. A row is
written only once its content is in place, so no reader ever sees a name without bytes
or half a file under a final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook.errors import BadInput, DataLost, NotebookFull, NotebookReadOnly, NotFound, StoreError
from labbook.records.artifacts import Artifact
from labbook.service.artifact_rules import check_name

if TYPE_CHECKING:
    from labbook.store.protocols import Store

CHUNK = 1 << 20
PIPELINE_MIN = 8 << 20  # files larger than this are written by a second thread while the first hashes
PARTIAL = ".partial-"
#: How often an add touches the copies it holds (partial and linked content share an inode), so
#: that in a batch that takes longer than the grace (``artifact_gc.GRACE_S``) none of them looks
#: abandoned.
REFRESH_S = 60.0
SYNC_THREADS = 8  # concurrent fsyncs of one batch: the filesystem commits them together

Progress = Callable[[int], None]  # bytes copied so far of the current file


def content_path(folder: Path, digest: str) -> Path:
    """Where the content ``digest`` lives in the artifacts folder ``folder``."""
    return folder / digest[:2] / digest


def open_partial(folder: Path, stem: str = "", mode: int = 0o444) -> tuple[int, Path]:
    """A new file beside where it will end up (a rename within one filesystem is atomic)."""
    while True:
        path = folder / f"{PARTIAL}{stem}{os.urandom(6).hex()}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), path
        except FileExistsError:
            continue


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _touch(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            os.utime(path)
        except OSError:
            pass


_NO_HARD_LINKS = (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOTSUP)


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst``, its folder made the first time; where there are no hard links, move it."""
    try:
        os.link(src, dst)
    except FileNotFoundError:
        dst.parent.mkdir(exist_ok=True)
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno not in _NO_HARD_LINKS:
            raise
        os.replace(src, dst)


@dataclass
class _Pending:
    """A content copied into the files area whose row is not written yet; its partial copy is kept
    until then, so a content the garbage collector takes meanwhile can be put back."""

    artifact: Artifact
    partial: Path
    final: Path
    synced: bool = False  # the partial copy is on disk: only one about to be linked into place needs to be


class _Writer(threading.Thread):
    """Writes the chunks a copy hands over while it hashes the next ones: hashing and writing
    (both without the GIL) overlap on two cores. ``DEPTH`` buffers bound the memory."""

    DEPTH = 4

    def __init__(self, fd: int) -> None:
        super().__init__(name="labbook-artifact-writer", daemon=True)
        self.fd = fd
        self.free: queue.Queue[bytearray] = queue.Queue()
        self.full: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self.error: OSError | None = None
        for _ in range(self.DEPTH):
            self.free.put(bytearray(CHUNK))

    def run(self) -> None:
        while (item := self.full.get()) is not None:
            buf, n = item
            if self.error is None:
                try:
                    write_all(self.fd, memoryview(buf)[:n])
                except OSError as err:
                    self.error = err
            self.free.put(buf)


class Copier:
    """Copies files into the artifacts folder ``folder`` of the notebook at ``root`` and writes
    their rows to ``store.artifacts``."""

    def __init__(self, folder: Path, root: Path, store: Store) -> None:
        self.folder = folder
        self.root = root
        self.store = store

    def _area_error(self, err: OSError) -> StoreError:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return NotebookReadOnly.at(self.root)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return NotebookFull.at(self.root)
        return StoreError(f"cannot write to the files area {self.folder}: {err.strerror or err}")

    def store_all(
        self,
        run_id: int,
        items: Sequence[tuple[Path, str]],
        kind: str | None,
        strict: bool,
        progress: Progress | None = None,
    ) -> tuple[list[Artifact], list[str]]:
        """Copy every item in, then write their rows in one transaction; ``strict``: the first
        file that cannot be copied ends it all (its error raised), else it is one line.

        The order is what keeps it safe: copies synced, then linked into place, their
        folders synced, then the rows; the partial copies go last. The syncs of a batch
        run from a few threads at once, which the filesystem commits together.
        """
        pending: list[_Pending] = []
        problems: list[str] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._area_error(err) from None
        try:
            self._copy_all(run_id, items, kind, strict, progress, pending, problems)
            fresh = [p for p in pending if not p.final.exists()]  # a content kept already needs no sync
            self._sync_all([p.partial for p in fresh], strict=True)
            for p in fresh:
                p.synced = True
            for p in pending:
                self._install(p, after_commit=False)
            self._sync_all(sorted({p.final.parent for p in pending}), strict=False)
            self.store.artifacts.put_artifacts([p.artifact for p in pending])
            for p in pending:
                self._install(p, after_commit=True)
        finally:
            for p in pending:
                p.partial.unlink(missing_ok=True)
        return [p.artifact for p in pending], problems

    def _copy_all(
        self,
        run_id: int,
        items: Sequence[tuple[Path, str]],
        kind: str | None,
        strict: bool,
        progress: Progress | None,
        pending: list[_Pending],
        problems: list[str],
    ) -> None:
        touched = time.monotonic()
        for src, item_name in items:
            try:
                pending.append(self._copy_in(run_id, src, check_name(item_name), kind, progress))
            except BadInput as err:
                if strict:
                    raise
                problems.append(str(err))
            if time.monotonic() - touched > REFRESH_S:
                _touch(p.partial for p in pending)
                touched = time.monotonic()

    def _sync_all(self, paths: Sequence[Path], strict: bool) -> None:
        """fsync files (``strict``: an error is raised) or folders (some filesystems cannot)."""
        if len(paths) <= 1:
            for path in paths:
                self._sync_path(path, strict)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(SYNC_THREADS, len(paths)), thread_name_prefix="labbook-sync") as pool:
            list(pool.map(lambda path: self._sync_path(path, strict), paths))

    def _sync_path(self, path: Path, strict: bool) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            if strict:
                raise self._area_error(err) from None

    def _copy_in(
        self, run_id: int, src: Path, name: str, kind: str | None, progress: Progress | None
    ) -> _Pending:
        """Copy ``src`` into a partial file of the files area (not synced yet)."""
        try:
            fd, partial = open_partial(self.folder)
        except OSError as err:
            raise self._area_error(err) from None
        try:
            digest, size = self._copy_from(src, fd, progress)
        except BaseException:
            os.close(fd)
            partial.unlink(missing_ok=True)
            raise
        os.close(fd)
        art = Artifact(run_id, name, kind, digest, size, str(src.absolute()), time.time())
        return _Pending(art, partial, content_path(self.folder, digest))

    def _copy_from(self, src: Path, fd: int, progress: Progress | None) -> tuple[str, int]:
        """Copy ``src`` to ``fd`` in chunks, hashing; (sha256, bytes). Refused if ``src`` changed meanwhile."""
        try:
            reader = open(src, "rb", buffering=0)  # closed below; its errors told apart from ours
        except FileNotFoundError:
            raise NotFound(f"no file {src}; nothing was stored") from None
        except OSError as err:
            raise BadInput(f"cannot read {src}: {err.strerror}; nothing was stored") from None
        with reader:
            before = os.fstat(reader.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise BadInput(f"{src} is not a regular file; nothing was stored")
            digest, size = self._pump(src, reader, fd, progress, before.st_size)
            after = os.fstat(reader.fileno())
        try:
            now = os.stat(src)
        except OSError:
            raise BadInput(f"{src} vanished while it was copied; nothing was stored") from None
        if (
            size != before.st_size
            or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
            or (now.st_ino, now.st_dev, now.st_mtime_ns) != (before.st_ino, before.st_dev, before.st_mtime_ns)
        ):
            raise BadInput(
                f"{src} changed while it was copied; nothing was stored (keep it once it is complete)"
            )
        return digest, size

    def _pump(
        self, src: Path, reader: Any, fd: int, progress: Progress | None, expected: int
    ) -> tuple[str, int]:
        """(sha256, bytes) of what was copied; never more than one byte past ``expected``, so a file
        that keeps growing (a live log) is refused rather than chased. A large file is written by a
        second thread while this one hashes."""
        writer = _Writer(fd) if expected > PIPELINE_MIN else None
        if writer is not None:
            writer.start()
        h = hashlib.sha256()
        spare = bytearray(CHUNK) if writer is None else None
        done = 0
        try:
            while done <= expected and (writer is None or writer.error is None):
                buf = writer.free.get() if writer is not None else spare
                assert buf is not None
                view = memoryview(buf)
                try:
                    n = reader.readinto(view[: min(CHUNK, expected + 1 - done)])
                except OSError as err:
                    raise BadInput(f"cannot read {src}: {err.strerror}; nothing was stored") from None
                if not n:
                    break
                h.update(view[:n])
                if writer is not None:
                    writer.full.put((buf, n))
                else:
                    self._write(fd, view[:n])
                done += n
                if progress is not None:
                    progress(done)
        finally:
            if writer is not None:
                writer.full.put(None)
                writer.join()
        if writer is not None and writer.error is not None:
            raise self._area_error(writer.error)
        return h.hexdigest(), done

    def _write(self, fd: int, data: memoryview) -> None:
        try:
            write_all(fd, data)
        except OSError as err:
            raise self._area_error(err) from None

    def _install(self, p: _Pending, after_commit: bool) -> None:
        """Link the partial copy into place under its hash, unless the content is there already.

        Called again once the row is written: if ``collect_garbage`` took an old copy of the
        same content in between, this puts it back (the partial copy is still here).
        """
        if p.final.exists():
            return
        try:
            if not p.synced:  # it was there when the copy ended, and has been collected since
                self._sync_path(p.partial, strict=True)
                p.synced = True
            _link(p.partial, p.final)
        except FileExistsError:
            return
        except OSError as err:
            if after_commit:
                raise DataLost(
                    f"artifact {p.artifact.name!r}: its content could not be put in place ({err})"
                ) from None
            raise self._area_error(err) from None
        if after_commit:
            self._sync_path(p.final.parent, strict=False)
