"""The logging SDK: ``labbook.init`` returns a ``Run``; ``labbook.log`` logs to the current one.

Inside ``lab run`` the environment names the run (``LABBOOK_RUN_ID``, ``LABBOOK_DIR``)
and ``init`` attaches to it: the supervisor owns the status, this process only adds
metrics, parameters, tags and summaries. Outside, ``init`` starts a run owned by this
process, captures the code state in a background thread (so ``init`` returns at once),
and marks the run finished at exit, or failed if the program dies of an exception.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from labbook.core.config import flatten
from labbook.errors import BadInput, LabbookError
from labbook.records.artifacts import Logged
from labbook.records.runs import FAILED, FINISHED, KILLED, RunRecord
from labbook.service.notebook import Notebook
from labbook.service.place import ENV_DIR
from labbook.tracking.recorder import Recorder, writer_name

if TYPE_CHECKING:
    from labbook.tracking.uploader import Uploader

ENV_RUN = "LABBOOK_RUN_ID"
ENV_CONFIG = "LABBOOK_CONFIG"
#: Set by ``lab run`` for a command it could not tell was Python: an attaching SDK records its interpreter.
ENV_CAPTURE_PYTHON = "LABBOOK_CAPTURE_PYTHON"
#: Set by ``lab run`` to ``PID:START``: the supervisor an attached SDK follows (it stops the command if it dies).
ENV_SUPERVISOR = "LABBOOK_SUPERVISOR"

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("labbook_run", default=None)
_active: list[Run] = []  # unfinished runs of this process, for threads that lack the context


class Summary(MutableMapping[str, Any]):
    """Per-metric summaries (last/min/max/mean/count) plus values you set yourself.

    ``run.summary["best_acc"] = 0.93`` is stored at once and can be filtered on with
    ``lab ls --where 'best_acc > 0.9'``; metric entries are read from the notebook.
    """

    def __init__(self, run: Run) -> None:
        self._run = run

    def _load(self) -> dict[str, Any]:
        self._run._own_recorder().flush()
        record = self._run._notebook.store.runs.get_run(self._run.id)
        assert record is not None
        out: dict[str, Any] = {k: m.as_dict() for k, m in record.metrics.items()}
        out.update(record.summary)
        return out

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise BadInput("summary keys must be non-empty strings")
        self._run._own_recorder()  # a forked child writes through its own connection
        self._run._notebook.set_summary(self._run.id, {key: value})

    def __delitem__(self, key: str) -> None:
        raise BadInput("summary values are kept; overwrite one instead of deleting it")

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Summary({self._load()!r})"


class Run:
    """One run as seen from the process that logs to it.

    After ``os.fork()`` the child holds a copy of this object. The copy never writes the
    parent's buffer, never ends or compacts anything of the parent's, and never uses the
    parent's database connection: its first ``log`` opens the notebook afresh and writes
    through a series file of its own; its ``finish`` (or its exit) only closes that.
    """

    def __init__(self, notebook: Notebook, record: Any, *, owner: bool) -> None:
        self._notebook = notebook
        self._record: RunRecord = record
        self.id: int = record.id
        self.uid: str = record.uid
        self.name: str | None = record.name
        self.owner = owner
        self.dir: Path = notebook.run_dir(record)
        self.config: dict[str, Any] = {}
        self._capture: threading.Thread | None = None
        self._uploader: Uploader | None = None  # sends the run to a team server, when one is configured
        self._finished = False
        self._token: contextvars.Token[Run | None] | None = None
        self._pid = os.getpid()
        self._released = False  # the notebook connection was closed at finish()
        self._recorder: Recorder | None = self._new_recorder(owner)
        self.summary = Summary(self)
        self.log = self._recorder.log  # type: ignore[method-assign]  # one call less per log()

    def _new_recorder(self, owner: bool) -> Recorder:
        from labbook.service.liveness import HEARTBEAT_S
        from labbook.tracking.sysmon import sample_interval

        sampler = None
        if owner:
            from labbook.tracking.sysmon import sampler_for

            sampler = sampler_for([os.getpid()])
        watch = None if owner else _supervisor_watch()
        return Recorder(
            self._notebook.store,
            self.id,
            self.dir / "metrics",
            writer_name(),
            heartbeat_s=HEARTBEAT_S if owner else None,
            sampler=sampler,
            sample_s=sample_interval(),
            watch=watch,
            on_orphaned=_stop_own_process_group if watch is not None else None,
        )

    def _own_recorder(self) -> Recorder:
        """This process's writer; in a forked child, a new one over a fresh connection."""
        if self._released:  # finished, and its connection closed: reading its summary reopens one
            self._notebook = Notebook(self._notebook.root)
            self._released = False
        if self._recorder is None:
            self._notebook = Notebook(self._notebook.root)
            self._recorder = self._new_recorder(owner=False)
            self.log = self._recorder.log  # type: ignore[method-assign]
        return self._recorder

    def _forked(self) -> None:
        """In the child of ``os.fork()``: drop everything that belongs to the parent."""
        _inherited.append((self._notebook, self._recorder))  # never used, never collected, never closed
        self._recorder = None
        self._capture = None
        self._uploader = None  # the parent's thread: not in this process
        self.owner = False
        self._pid = os.getpid()
        self.log = self._log_after_fork  # type: ignore[method-assign]

    def _log_after_fork(self, data: Mapping[str, Any], step: int | None = None) -> None:
        self._own_recorder().log(data, step)

    def __repr__(self) -> str:
        return f"<labbook.Run {self.id} {self.name or ''}>".replace(" >", ">")

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record numbers (NaN and ±Inf included) at ``step`` (default: one past the last)."""
        self._own_recorder().log(data, step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters known only once the run has begun (a framework's hyperparameters).

        Nested mappings become dotted names (``{"optim": {"lr": 1e-3}}`` is ``optim.lr``); a
        name given again takes the new value. Other objects are kept as their text; one that
        cannot be stored is a ``BadInput`` naming it, and then nothing is written.
        """
        if not isinstance(params, Mapping):
            raise BadInput("params must be a mapping such as a dict")
        flat = flatten(params)
        if flat:
            self._own_recorder()  # a forked child writes through its own connection
            self._notebook.set_params(self.id, flat)

    def tag(self, *add: str, remove: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """Add and remove tags now, as ``lab tag`` does (journaled); returns (added, removed)."""
        self._own_recorder()  # a forked child writes through its own connection
        record = self._notebook.store.runs.get_run(self.id)
        assert record is not None
        ((_, added, removed),) = self._notebook.manage.tag([record], list(add), list(remove))
        return added, removed

    def record_checks(self, report: Mapping[str, Any]) -> None:
        """Keep a sanity-check report (what ``labbook.checks.run`` returns, as JSON) with the run.

        ``lab show`` prints it, ``lab ls --where "checks.failed > 0"`` finds the runs that
        failed one, and ``lab compare`` warns about them. A second report replaces the first.
        """
        from labbook.records.checks import summary_values

        self._own_recorder()
        self._notebook.set_summary(self.id, summary_values(dict(report)))

    def rename(self, name: str) -> None:
        """Give the run a new name, as ``lab rename`` does (journaled)."""
        self._own_recorder()
        self._notebook.manage.rename(str(self.id), name)
        self.name = name.strip()

    def log_examples(self, rows: Iterable[Mapping[str, Any]], split: str = "eval") -> int:
        """Per-example results for failure analysis: dicts with an ``id`` and any fields.

        ``output``, ``target`` and ``correct`` are what ``lab failures`` reads first. All rows
        are stored or, if one is unusable, none; logging an id again replaces it. Returns
        how many rows were stored.
        """
        self._own_recorder()  # a forked child writes through its own connection
        return self._notebook.failures.log_examples(self.id, rows, split).taken

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        kind: str | None = None,
        recursive: bool = False,
    ) -> Logged | None:
        """Keep a file (a checkpoint, a model, an output) with the run, copied in now.

        ``name`` defaults to the file's name; logging a name again replaces its content. A
        directory needs ``recursive=True`` (each file is kept as ``name/relative/path``).
        Returns (name, sha256, size, files), or None when it could not be kept: a file
        missing, over the ``artifact.limit`` setting, changed or unreadable while copied,
        a full disk. That is one line on stderr, never an exception: training goes on.
        """
        try:
            self._own_recorder()  # a forked child writes through its own connection
            return self._notebook.artifacts.log(self.id, path, name, kind, recursive)
        except Exception as err:  # never into the training loop
            what = err if isinstance(err, LabbookError) else f"{type(err).__name__}: {err}"
            print(f"labbook: artifact {name or os.fspath(path)!s} not kept: {what}", file=sys.stderr)
            return None

    def finish(self, status: str | None = None, exit_code: int | None = None) -> None:
        """Flush everything; if this process owns the run, mark it finished (or ``status``).

        Never raises for a busy, full or read-only notebook: what could not be recorded now
        is left for the next reader, and one line on stderr says so.
        """
        if self._finished:
            return
        self._finished = True
        report = self._recorder.close() if self._recorder is not None else None
        deferred = False  # the end is left to a background retry, which keeps the connection
        if self._capture is not None:
            self._capture.join()
        if report is not None and report.warning:
            print(f"labbook: {report.warning}", file=sys.stderr)
        if self.owner or (report is not None and not report.summaries_stored):
            problem = self._notebook.settle_run(
                self._record, (status or FINISHED) if self.owner else None, exit_code, report
            )
            if problem:
                print(f"labbook: {problem}", file=sys.stderr)
                deferred = True
        if self._uploader is not None:
            self._uploader.finish()
        if not deferred and self._recorder is not None:  # not the parent's connection in a fork child
            self._notebook.close()  # a finished run holds no connection (a later summary read reopens one)
            self._released = True
        if self in _active:
            _active.remove(self)
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # finished from another context
                _current.set(None)
            self._token = None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish(KILLED)
        else:
            self.finish(FAILED)


def _capture_in_background(run: Run, argv: list[str]) -> threading.Thread:
    nb = run._notebook

    def work() -> None:
        try:
            from labbook.tracking.capture import capture_all

            nb.record_capture(run.id, capture_all(argv, os.getcwd(), cache_dir=nb.cache_dir))
        except Exception as err:
            print(f"labbook: could not capture the environment of run {run.id}: {err}", file=sys.stderr)

    thread = threading.Thread(target=work, name="labbook-capture", daemon=True)
    thread.start()
    return thread


def _capture_python_in_background(run: Run) -> threading.Thread:
    """Inside ``lab run`` of a non-Python command (a shell script, say): this interpreter is the one."""
    from labbook.tracking.capture import python_capture

    nb = run._notebook

    def work() -> None:
        try:
            nb.record_capture(run.id, python_capture(sys.executable, nb.cache_dir))
        except Exception as err:
            print(f"labbook: could not record the interpreter of run {run.id}: {err}", file=sys.stderr)

    thread = threading.Thread(target=work, name="labbook-capture", daemon=True)
    thread.start()
    return thread


def init(
    config: Mapping[str, Any] | None = None,
    name: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    note: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    hypothesis: str | int | None = None,
) -> Run:
    """Start a run (or attach to the one ``lab run`` started) and make it current."""
    if config is not None and not isinstance(config, Mapping):
        raise BadInput("config must be a mapping such as a dict")
    params = flatten(config or {})
    tags = tuple(tags or ())
    attached_uid = os.environ.get(ENV_RUN)
    notebook = Notebook.open(dir if dir is not None else os.environ.get(ENV_DIR))
    try:
        if attached_uid:
            record = notebook.get_run(attached_uid)
            run = Run(notebook, record, owner=False)
            if params:
                notebook.set_params(run.id, params)
            if tags:
                notebook.add_tags(run.id, tags)
            notebook.fill_in(run.id, name, note)
            if hypothesis is not None and record.hyp_id is None:
                notebook.link_run(run.id, hypothesis)
            run.name = run.name or name
            if os.environ.get(ENV_CAPTURE_PYTHON) == "1":
                run._capture = _capture_python_in_background(run)
            _install_exit_hooks()
        else:
            record = notebook.start_run(
                name=name, tags=tags, note=note, params=params, source="sdk", hypothesis=hypothesis
            )
            run = Run(notebook, record, owner=True)
            run._capture = _capture_in_background(run, list(sys.argv))
            from labbook.tracking.uploader import start_uploader

            run._uploader = start_uploader(notebook.root, run.id)
            _install_exit_hooks()
    except BaseException:
        notebook.close()
        raise
    run.config = dict(config) if config is not None else _config_from_env()
    run._token = _current.set(run)
    _active.append(run)
    return run


def _config_from_env() -> dict[str, Any]:
    path = os.environ.get(ENV_CONFIG)
    if not path:
        return {}
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def config() -> dict[str, Any]:
    """The run's resolved config: what ``lab run -c`` resolved (``$LABBOOK_CONFIG``), or what
    was passed to ``labbook.init``; ``{}`` when there is none."""
    run = current()
    if run is not None:
        return run.config
    return _config_from_env()


def current() -> Run | None:
    """The run ``labbook.log`` writes to: this context's, else this process's latest."""
    run = _current.get()
    if run is None and _active:
        run = _active[-1]
    return run


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """Log to the current run (see ``current``)."""
    run = current()
    if run is None:
        raise BadInput("no active run: call labbook.init() first")
    run.log(data, step)


def log_artifact(
    path: str | os.PathLike[str], name: str | None = None, kind: str | None = None, recursive: bool = False
) -> Logged | None:
    """Keep a file with the current run (see ``Run.log_artifact``)."""
    run = current()
    if run is None:
        raise BadInput("no active run: call labbook.init() first")
    return run.log_artifact(path, name, kind, recursive)


def finish() -> None:
    run = current()
    if run is not None:
        run.finish()


_hooks_installed = False
_died_of_exception = False
#: What a forked child inherited from its parent: kept referenced so it is never finalised here.
_inherited: list[tuple[Notebook, Recorder | None]] = []


def _after_fork_in_child() -> None:
    for run in _active:
        run._forked()


def _supervisor_watch() -> Callable[[], bool] | None:
    """Inside ``lab run``: a check that the supervisor still lives (None when there is none)."""
    from labbook.service.liveness import process_started

    pid, _, stamp = os.environ.get(ENV_SUPERVISOR, "").partition(":")
    try:
        expected = (int(pid), float(stamp))
    except ValueError:
        return None
    if process_started(expected[0]) != expected[1]:
        return None  # already gone, or a stale variable: nothing of ours to follow
    return lambda: process_started(expected[0]) == expected[1]


def _stop_own_process_group() -> None:
    """``lab run`` died: stop the command it started (this process's group), as it would have."""
    import signal

    from labbook.service.liveness import grace_s

    try:  # stderr was a pipe to lab run, which is gone: the line may have nowhere to go
        print("labbook: lab run supervising this command has died; stopping the command", file=sys.stderr)
    except (OSError, ValueError):
        pass
    try:
        os.killpg(os.getpgrp(), signal.SIGTERM)
        threading.Event().wait(grace_s())
        os.killpg(os.getpgrp(), signal.SIGKILL)
    except OSError:
        pass


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    os.register_at_fork(after_in_child=_after_fork_in_child)
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        global _died_of_exception
        _died_of_exception = True
        status = KILLED if issubclass(kind, KeyboardInterrupt) else FAILED
        for run in list(_active):
            run.finish(status)
        previous(kind, exc, tb)

    sys.excepthook = hook
    atexit.register(_finish_all)


def _finish_all() -> None:
    for run in list(_active):
        run.finish(FAILED if _died_of_exception else FINISHED)
