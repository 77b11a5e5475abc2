"""Reading W&B runs kept on disk (``wandb/offline-run-*``, ``wandb/run-*``) into imported runs.

A run folder holds the run's transaction log, ``run-<id>.wandb``: every record the SDK made
(config, history rows, summary updates, system stats, console output, the exit) as wandb's own
protobuf ``Record`` messages. wandb 0.31 ships no Python reader of these files (it moved into its
Go core: ``wandb sync``, ``wandb leet inspect``), so the framing is read in ``wandb_log`` and every
record is decoded by wandb's own ``Record`` class. The choices:

- History: ``_step`` is the step and ``_timestamp`` the time; every number (bools as 0/1) is a
  series. Nested dicts are named as W&B shows them (``{"n": {"x": 1}}`` → ``n.x``), ``train/loss``
  stays. Media, text and lists are not series: they are counted in one ``Skipped`` per run.
- System stats become ``sys/<W&B name>`` (``sys/cpu``, ``sys/gpu.0.gpu``), the namespace labbook
  keeps its own system metrics in (left out of comparisons), stepped by sample as labbook's are.
- Config is flattened as labbook's params are (``model.depth``), without W&B's ``_wandb``.
- The summary is its last state, without W&B's ``_`` keys and media.
- Status: exit code 0 is finished, any other failed; no exit record is crashed, since an offline
  run that never wrote its exit was cut off.
- Tags: the run's own, and ``project=<project>`` and ``group=<group>`` (as MLflow's experiments).
- A cut-off or damaged file: every intact record is read; what was lost is said in the run's
  details and in a ``Skipped`` naming the file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from labbook.core.config import flatten
from labbook.errors import BadInput
from labbook.importers._common import Series, missing, quiet
from labbook.importers.wandb_log import Damage, NotALog, records
from labbook.records.imports import ImportedRun, Skipped
from labbook.records.runs import CRASHED, FAILED, FINISHED

SOURCE = "wandb"

PROGRESS_EVERY = 2000  # records between progress lines (lab import shows at most two a second)

_RUN_FOLDER = re.compile(r"(offline-)?run-[0-9]{8}_[0-9]{6}-.+")
_WHERE = "give the wandb/ folder wandb.init made (it holds offline-run-* and run-* folders), the folder holding it, or one run folder"


def read(
    source: str | Path, progress: Callable[[str], None] | None = None
) -> Iterator[ImportedRun | Skipped]:
    """Every run kept under ``source``: a ``wandb/`` folder, the folder holding it, or one run folder."""
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError:
        raise missing("W&B", "wandb") from None
    folders = run_folders(Path(source).expanduser())
    return _runs(folders, wandb_internal_pb2.Record, progress or quiet)


def run_folders(path: Path) -> list[Path]:
    """The run folders under ``path``, oldest first (their names start with the date); a ``.wandb`` file alone too."""
    if not path.exists():
        raise BadInput(f"{path} does not exist: {_WHERE}")
    if path.is_file():
        if path.suffix != ".wandb":
            raise BadInput(f"{path} is not a W&B run file (run-<id>.wandb): {_WHERE}")
        return [path]
    if _log_in(path) is not None:
        return [path]
    root = path / "wandb" if (path / "wandb").is_dir() else path
    folders = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and _RUN_FOLDER.fullmatch(d.name)),
        key=lambda d: d.name.removeprefix("offline-"),
    )
    if not folders:
        raise BadInput(f"no W&B runs in {path}: {_WHERE}")
    return folders


def _log_in(folder: Path) -> Path | None:
    logs = sorted(folder.glob("run-*.wandb"))
    return logs[0] if logs else None


def _runs(
    folders: list[Path], record: Callable[[], Any], progress: Callable[[str], None]
) -> Iterator[ImportedRun | Skipped]:
    for number, folder in enumerate(folders, 1):
        where = f"wandb: run {number} of {len(folders)}"
        progress(where)
        log = folder if folder.is_file() else _log_in(folder)
        if log is None:
            yield Skipped(
                str(folder), "no run-*.wandb file in this run folder, which is where W&B keeps a run"
            )
            continue
        yield from _read_run(log, record, progress, where)


def _read_run(
    log: Path, record: Callable[[], Any], progress: Callable[[str], None], where: str
) -> Iterator[ImportedRun | Skipped]:
    from google.protobuf.message import DecodeError

    damage = Damage()
    run = Reading(log)
    try:
        for data in records(log, damage):
            message = record()
            try:
                message.ParseFromString(data)
            except DecodeError:
                damage.undecodable += 1
                continue
            run.add(message)
            if run.records % PROGRESS_EVERY == 0:
                progress(f"{where}, {damage.position / 2**20:.0f} of {damage.size / 2**20:.0f} MB")
    except NotALog as err:
        yield Skipped(str(log), str(err))
        return
    except OSError as err:
        yield Skipped(str(log), f"cannot be read: {err.strerror or err}")
        return
    if run.records == 0:
        yield Skipped(str(log), f"no readable W&B record in it: {damage.describe(0) or 'the file is empty'}")
        return
    lost = damage.describe(run.records)
    yield run.imported(lost)
    if lost:
        yield Skipped(str(log), lost)
    if run.not_numbers:
        keys = ", ".join(sorted(run.not_numbers))
        count = sum(run.not_numbers.values())
        yield Skipped(
            f"wandb run {run.run_id} history: {keys}",
            f"not numbers (media, text or lists): {count} values stay in W&B",
        )


class Reading:
    """One run as its records arrive: config and summary as they are updated, series as packed arrays."""

    def __init__(self, log: Path) -> None:
        self.log, self.records = log, 0
        self.run: Any = None
        self.exit: Any = None
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.series: dict[str, Series] = {}
        self.samples = 0  # system stats records so far: the step of their points
        self.output: list[str] = []
        self.not_numbers: Counter[str] = Counter()
        self.environment: dict[str, str] = {}
        self.files: list[str] = []
        self.producer = ""
        self.first_time: float | None = None
        self.last_time: float | None = None

    @property
    def run_id(self) -> str:
        if self.run is not None and self.run.run_id:
            return str(self.run.run_id)
        return self.log.stem.removeprefix("run-")  # run-<id>.wandb

    def add(self, record: Any) -> None:
        self.records += 1
        kind = record.WhichOneof("record_type")
        handle = getattr(self, f"_on_{kind}", None)
        if handle is not None:
            handle(getattr(record, kind))

    def _on_header(self, header: Any) -> None:
        self.producer = str(header.version_info.producer)

    def _on_run(self, run: Any) -> None:
        self.run = run
        _apply(self.config, run.config)
        _apply(self.summary, run.summary)

    def _on_config(self, config: Any) -> None:
        _apply(self.config, config)

    def _on_summary(self, summary: Any) -> None:
        _apply(self.summary, summary)

    def _on_exit(self, exit: Any) -> None:
        self.exit = exit

    def _on_files(self, files: Any) -> None:
        self.files.extend(str(f.path) for f in files.files)

    def _on_environment(self, env: Any) -> None:
        for name in ("program", "code_path", "python", "os", "host", "executable"):
            value = getattr(env, name, "")
            if value:
                self.environment[name] = str(value)
        if env.HasField("started_at"):
            self._saw(_seconds(env.started_at))

    def _on_output_raw(self, output: Any) -> None:
        self.output.append(str(output.line))
        self._saw(_seconds(output.timestamp))

    _on_output = _on_output_raw  # the line-based record of older wandb versions

    def _on_history(self, history: Any) -> None:
        row = {_path(item): _item_value(item) for item in history.item}
        step, at = row.pop(("_step",), None), row.pop(("_timestamp",), None)
        row.pop(("_runtime",), None)
        step = step if isinstance(step, int) and not isinstance(step, bool) else int(history.step.num)
        at = float(at) if isinstance(at, int | float) and at == at else (self.last_time or 0.0)
        self._saw(at)
        media = {path[:-1] for path in row if path[-1] == "_type"}
        skipped: set[str] = set()
        for path, value in row.items():
            held = next((path[:n] for n in range(1, len(path)) if path[:n] in media), None)
            number = None if held is not None else _number(value)
            if number is None:
                skipped.add(".".join(held or path))
                continue
            key = ".".join(path)
            self._series(key).add(step, at, number)
        self.not_numbers.update(skipped)

    def _on_stats(self, stats: Any) -> None:
        at = _seconds(stats.timestamp)
        self._saw(at)
        for item in stats.item:
            number = _number(_json(item.value_json))
            if number is not None:
                self._series(f"sys/{item.key}").add(self.samples, at, number)
        self.samples += 1

    def _series(self, key: str) -> Series:
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = Series(key)
        return found

    def _saw(self, at: float) -> None:
        if at > 0:
            self.first_time = at if self.first_time is None else min(self.first_time, at)
            self.last_time = at if self.last_time is None else max(self.last_time, at)

    def imported(self, damage: str) -> ImportedRun:
        run = self.run
        started = (
            _seconds(run.start_time) if run is not None and run.HasField("start_time") else self.first_time
        )
        return ImportedRun(
            source=SOURCE,
            source_id=self.run_id,
            origin=str(self.log.parent.resolve()),
            name=(run.display_name or None) if run is not None else None,
            status=self._status(),
            started_at=started,
            ended_at=self._ended(started),
            params=flatten({k: v for k, v in self.config.items() if k != "_wandb"}),
            tags=self._tags(),
            summary=_summary(self.summary),
            series=[s.done() for s in self.series.values()],
            artifacts=list(dict.fromkeys(self.files)),
            details=self._details(damage),
            output=self._output(),
        )

    def _status(self) -> str:
        if self.exit is None:
            return CRASHED
        return FINISHED if self.exit.exit_code == 0 else FAILED

    def _ended(self, started: float | None) -> float | None:
        if self.exit is not None and started is not None:
            return max(self.last_time or 0.0, started + float(self.exit.runtime))
        return self.last_time

    def _tags(self) -> tuple[str, ...]:
        run = self.run
        if run is None:
            return ()
        extra = [f"project={run.project}"] if run.project else []
        extra += [f"group={run.run_group}"] if run.run_group else []
        return tuple(dict.fromkeys([*map(str, run.tags), *extra]))

    def _details(self, damage: str) -> dict[str, Any]:
        run = self.run
        details: dict[str, Any] = {}
        if run is not None:
            for name, value in (
                ("project", run.project),
                ("entity", run.entity),
                ("group", run.run_group),
                ("job_type", run.job_type),
                ("sweep_id", run.sweep_id),
                ("host", run.host),
                ("notes", run.notes),
                ("git_repo", run.git.remote_url),
                ("git_commit", run.git.commit),
            ):
                if value:
                    details[name] = str(value)
            if run.resumed:
                details["resumed"] = True
        details.update(self.environment)
        if self.exit is not None:
            details["exit_code"] = int(self.exit.exit_code)
        if self.producer:
            details["wandb_version"] = self.producer
        details["file"] = str(self.log.resolve())
        if damage:
            details["damage"] = damage
        return details

    def _output(self) -> str | None:
        if self.output:
            return "".join(self.output)
        log = self.log.parent / "files" / "output.log"  # where the records hold no console output
        if log.is_file():
            return log.read_text(encoding="utf-8", errors="replace")
        return None


def _apply(tree: dict[str, Any], changes: Any) -> None:
    """A config or summary record's updates and removals, applied to the state so far."""
    for item in changes.update:
        _put(tree, _path(item), _json(item.value_json))
    for item in changes.remove:
        _drop(tree, _path(item))


def _path(item: Any) -> tuple[str, ...]:
    return tuple(item.nested_key) or (str(item.key),)


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        child = tree.get(name)
        if not isinstance(child, dict):
            child = tree[name] = {}
        tree = child
    tree[path[-1]] = value


def _drop(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    for name in path[:-1]:
        tree = tree.get(name)  # type: ignore[assignment]
        if not isinstance(tree, dict):
            return
    tree.pop(path[-1], None)


def _json(text: str) -> Any:
    try:
        return json.loads(text)  # W&B writes NaN and Infinity, which json reads back
    except ValueError:
        return text


def _item_value(item: Any) -> Any:
    """A history value: JSON text in today's wandb, or one of the typed fields of the record's oneof."""
    which = item.WhichOneof("value")
    if which is None:
        return _json(item.value_json)
    if which == "json":
        return _json(item.json)
    if which == "none":
        return None
    return getattr(item, which)


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def _seconds(stamp: Any) -> float:
    return float(stamp.seconds) + float(stamp.nanos) / 1e9


def _summary(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The final summary, flat, without W&B's own ``_`` keys and without media (which are dicts with a _type)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not prefix and key.startswith("_"):
            continue
        if isinstance(value, dict):
            if "_type" not in value:
                out.update(_summary(value, f"{prefix}{key}."))
            continue
        out[f"{prefix}{key}"] = value
    return out
