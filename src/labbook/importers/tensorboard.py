"""TensorBoard log directories as runs: every folder holding event files is one run.

Every point of every scalar tag is kept (TensorBoard's own UI samples 1,000 per tag);
several event files in one folder (a writer reopened, a run resumed) are one run, read in
the order their writers started. Parameters come from the HParams plugin when a writer
recorded them. A file cut off mid-record is imported up to the cut, and the cut reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labbook.errors import BadInput
from labbook.formats.tfevents import EventReader, Points, find_event_files
from labbook.importers._common import quiet
from labbook.records.imports import ImportedRun, ImportedSeries, Skipped


def read(
    source: str | Path, progress: Callable[[str], None] | None = None
) -> Iterator[ImportedRun | Skipped]:
    root = Path(source).expanduser()
    if not root.is_dir():
        raise BadInput(f"{source} is not a directory; give the log directory TensorBoard was pointed at")
    root = root.resolve()
    files: dict[Path, list[Path]] = {}
    for path in find_event_files(root):
        files.setdefault(path.parent, []).append(path)
    if not files:
        raise BadInput(f"no TensorBoard event files (events.out.tfevents.*) under {source}")
    folders = {}
    for i, (path, found) in enumerate(sorted(files.items()), 1):
        (progress or quiet)(
            f"tensorboard: folder {i} of {len(files)}: {path.relative_to(root).as_posix() or '.'}"
        )
        folders[path] = _Folder(root, path, sorted(found, key=_writer_start))
    for folder in _sessions_into_parents(folders):
        yield from folder.skipped
        run = folder.run()
        yield (
            run if run.series or run.params else Skipped(str(folder.path), "its event files hold no scalars")
        )


def _sessions_into_parents(folders: dict[Path, _Folder]) -> list[_Folder]:
    """``add_hparams`` (tensorboardX, ``torch.utils.tensorboard``) writes the parameters and
    their metrics to a subfolder of the run's own: that subfolder is part of its parent's run."""
    for path in sorted(folders, key=lambda p: -len(p.parts)):
        parent = folders.get(path.parent)
        if folders[path].hparams and parent is not None:
            parent.absorb(folders.pop(path))
    return [folders[p] for p in sorted(folders)]


def _writer_start(path: Path) -> tuple[int, str]:
    parts = path.name.split(".")
    return (int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0, path.name)


class _Folder:
    """What the event files of one folder hold."""

    def __init__(self, root: Path, path: Path, files: list[Path]) -> None:
        self.root, self.path, self.files = root, path, list(files)
        self.tags: dict[str, Points] = {}
        self.hparams: dict[str, Any] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.skipped: list[Skipped] = []
        for file in files:
            self._read(file)

    def _read(self, path: Path) -> None:
        reader = EventReader(path)
        try:
            points = reader.read()
        except OSError as err:
            self.skipped.append(Skipped(str(path), f"cannot be read ({err.strerror or err})"))
            return
        self._add(points, reader.hparams, reader.counts)
        if reader.torn:
            where = f"cut off mid-record after byte {reader.offset:,}; imported up to there"
            self.skipped.append(Skipped(str(path), where))
        if reader.damaged:
            self.skipped.append(Skipped(str(path), f"{reader.damaged} damaged record(s) left out"))

    def _add(
        self, points: dict[str, Points], hparams: dict[str, Any], counts: dict[str, dict[str, int]]
    ) -> None:
        for tag, p in points.items():
            into = self.tags.setdefault(tag, Points())
            into.steps += p.steps
            into.times += p.times
            into.values += p.values
        self.hparams.update(hparams)
        for kind, by_tag in counts.items():
            mine = self.counts.setdefault(kind, {})
            for tag, n in by_tag.items():
                mine[tag] = mine.get(tag, 0) + n

    def absorb(self, child: _Folder) -> None:
        self._add(child.tags, child.hparams, child.counts)
        self.files += child.files
        self.skipped += child.skipped

    def run(self) -> ImportedRun:
        name = self.path.relative_to(self.root).as_posix()
        run = ImportedRun(
            "tensorboard", str(self.path), str(self.root), name=self.root.name if name == "." else name
        )
        times = [t for p in self.tags.values() for t in (p.times[0], p.times[-1]) if p.times]
        run.started_at, run.ended_at = (min(times), max(times)) if times else (None, None)
        run.params = dict(self.hparams)
        run.series = [ImportedSeries(tag, p.steps, p.times, p.values) for tag, p in sorted(self.tags.items())]
        run.details = {"event files": [str(f.relative_to(self.root)) for f in self.files]}
        if self.counts:
            run.details["not stored"] = self.counts
        return run
