"""The notebook service: every operation on a notebook, for every adapter.

A notebook is a directory (``.labbook/`` in a project) holding ``labbook.db`` (the
store) and a files area: ``runs/<uid>/`` with each run's metric series and saved
output, and ``cache/`` for slow probes. The CLI, the SDK and (later) the web UI and
server call this class; none of them touches the store or the files directly.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from labbook.errors import (
    BadInput,
    DamageWarning,
    DataLost,
    LaunchError,
    NotebookCorrupt,
    NotebookFull,
    NotebookReadOnly,
    QueryError,
    RunNotFound,
    StoreError,
)
from labbook.records.runs import PENDING, NewRun, Owner, RunRecord
from labbook.service import liveness
from labbook.service.place import DB_NAME, DIRNAME, ignore_in_git, locate
from labbook.store.protocols import Store
from labbook.store.sqlite.store import SQLiteStore

if TYPE_CHECKING:
    from labbook.records.runs import CloseReport
    from labbook.service.artifacts import Artifacts
    from labbook.service.failures import Failures
    from labbook.service.hypotheses import Hypotheses
    from labbook.service.imports import Imports
    from labbook.service.ingest import Ingest
    from labbook.service.journal import Journal
    from labbook.service.manage import Manage
    from labbook.service.outbox import Outbox
    from labbook.service.papers import Papers
    from labbook.service.plan import Plan
    from labbook.service.problems import Ideas, Problems
    from labbook.service.settings import Settings
    from labbook.service.tokens import Tokens
    from labbook.service.verify import Report as VerifyReport


def _warn_damage(run: RunRecord, damage: list[Any]) -> None:
    """Damage is said, never silent; a killed writer's torn tail is expected, not damage."""
    import warnings

    from labbook.records.runs import FINISHED
    from labbook.store.series.scan import DAMAGED

    for d in damage:
        if d.kind == DAMAGED or run.status == FINISHED:
            warnings.warn(DamageWarning(f"run {run.id}: {d}; `lab verify` checks the notebook"), stacklevel=3)


#: How runs queued on a cluster are settled when their scheduler ended them without a word
#: (cancelled in the queue, say). A launcher that queues runs provides one; the adapters that
#: open notebooks register it (``register_job_settler``), so the service never imports a launcher.
JOB_SETTLERS: list[Callable[[Notebook], None]] = []


def register_job_settler(settle: Callable[[Notebook], None]) -> None:
    if settle not in JOB_SETTLERS:
        JOB_SETTLERS.append(settle)


T = TypeVar("T")


class Area(Generic[T]):
    """A service area of the notebook, built on first use: ``lab ls`` never imports the papers service."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = f"_{attr}"

    def __get__(self, notebook: Notebook | None, owner: type | None = None) -> T:
        if notebook is None:  # looked up on the class (help(), documentation tools)
            return self  # type: ignore[return-value]
        area: T | None = notebook.__dict__.get(self.attr)
        if area is None:
            import importlib

            area = getattr(importlib.import_module(self.module), self.name)(notebook)
            notebook.__dict__[self.attr] = area
        return area


class Notebook:
    """One notebook: the store plus its files area."""

    # The service areas, each built on first use.
    hypotheses: Area[Hypotheses] = Area("labbook.service.hypotheses", "Hypotheses")
    journal: Area[Journal] = Area("labbook.service.journal", "Journal")  # notes, timeline, search
    papers: Area[Papers] = Area("labbook.service.papers", "Papers")
    problems: Area[Problems] = Area("labbook.service.problems", "Problems")
    ideas: Area[Ideas] = Area("labbook.service.problems", "Ideas")
    plan: Area[Plan] = Area("labbook.service.plan", "Plan")  # tasks, riskiest cheap step first
    failures: Area[Failures] = Area("labbook.service.failures", "Failures")  # examples, samples, piles
    settings: Area[Settings] = Area("labbook.service.settings", "Settings")
    imports: Area[Imports] = Area("labbook.service.imports", "Imports")  # runs from other trackers
    artifacts: Area[Artifacts] = Area("labbook.service.artifacts", "Artifacts")  # files kept by content
    manage: Area[Manage] = Area("labbook.service.manage", "Manage")  # tags, names, trash, archive
    tokens: Area[Tokens] = Area("labbook.service.tokens", "Tokens")  # the team server's tokens
    ingest: Area[Ingest] = Area("labbook.service.ingest", "Ingest")  # what clients send a server
    outbox: Area[Outbox] = Area("labbook.service.outbox", "Outbox")  # what a client has still to send

    def __init__(self, root: Path, store: Store | None = None) -> None:
        """``root`` holds the files area; ``store`` defaults to the embedded SQLite file in it."""
        self.root = root
        self.store: Store = store if store is not None else SQLiteStore(root / DB_NAME)
        self._settling = False  # reap() is settling cluster jobs (settling reads runs too)

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, explicit: str | os.PathLike[str] | None = None) -> Notebook:
        return cls(locate(explicit))

    @classmethod
    def init(cls, project: Path) -> tuple[Notebook, bool, bool]:
        """Create ``project/.labbook``; returns (notebook, created, added_to_gitignore)."""
        project = project.expanduser().resolve()
        if project.exists() and not project.is_dir():
            raise BadInput(f"{project} is a file; give a directory to hold the notebook")
        root = project / DIRNAME
        created = not (root / DB_NAME).exists()
        try:
            (root / "runs").mkdir(parents=True, exist_ok=True)
            # Git ignores the notebook even in a repository created after it.
            (root / ".gitignore").write_text("# created by labbook: the notebook is not source\n*\n")
            notebook = cls(root)
            ignored = ignore_in_git(project) if created else False
        except OSError as err:
            if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise NotebookReadOnly(f"cannot create a notebook in {project}: it is not writable") from None
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NotebookFull.at(project) from None
            raise StoreError(f"cannot create a notebook in {project}: {err.strerror or err}") from None
        return notebook, created, ignored

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Notebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths ---------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        """Where slow probes are remembered: per user, so a new notebook starts warm.

        ``$LABBOOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/labbook`` or ``~/.cache/labbook``;
        the notebook's own ``cache/`` when there is no usable home directory.
        """
        explicit = os.environ.get("LABBOOK_CACHE_DIR")
        if explicit:
            return Path(explicit)
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        if os.path.isabs(base) and os.access(os.path.dirname(base.rstrip("/")) or "/", os.W_OK):
            return Path(base) / "labbook"
        return self.root / "cache"

    def run_dir(self, run: RunRecord | str) -> Path:
        uid = run if isinstance(run, str) else run.uid
        return self.root / "runs" / uid

    # -- writing runs ----------------------------------------------------------
    def start_run(
        self,
        *,
        name: str | None = None,
        tags: tuple[str, ...] = (),
        note: str | None = None,
        command: list[str] | None = None,
        cwd: str | None = None,
        params: dict[str, Any] | None = None,
        source: str = "sdk",
        owner: Owner | None = None,
        hypothesis: str | int | None = None,
        sweep_id: str | None = None,
        pending: bool = False,
    ) -> RunRecord:
        """Record a new running run owned by ``owner`` (default: this process).

        ``pending``: the run is queued on a cluster; the node's ``lab run`` adopts it.
        """
        hyp_id = self.hypotheses.get(hypothesis).id if hypothesis is not None else None
        uid = os.urandom(16).hex()  # 128 random bits, globally unique like a uuid4, without importing uuid
        run_dir = self.run_dir(uid)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise NotebookReadOnly.at(self.root) from None
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NotebookFull.at(self.root) from None
            raise StoreError(f"cannot create the run directory {run_dir}: {err.strerror}") from None
        try:
            run_id = self.store.runs.create_run(  # the row, its tags and params: all or nothing
                NewRun(
                    uid=uid,
                    name=name,
                    created_at=time.time(),
                    note=note,
                    command=command,
                    cwd=cwd or os.getcwd(),
                    source=source,
                    owner=owner or liveness.current_owner(),
                    tags=tuple(dict.fromkeys(tags)),
                    hyp_id=hyp_id,
                    sweep_id=sweep_id,
                    pending=pending,
                    params=params,
                )
            )
        except BaseException:
            try:
                run_dir.rmdir()  # still empty: a refused run leaves nothing behind
            except OSError:
                pass
            raise
        return self._get(run_id)

    def adopt_run(self, uid: str, cwd: str | None = None) -> RunRecord:
        """Start a pending run in this process (the node side of a cluster job)."""
        ids = self.store.runs.find_run_ids(uid)
        if len(ids) != 1:
            raise RunNotFound(f"no pending run {uid} in this notebook; was it submitted from here?")
        if not self.store.runs.adopt_run(ids[0], liveness.current_owner(), time.time(), cwd or os.getcwd()):
            run = self._get(ids[0])
            raise LaunchError(f"run {run.id} is {run.status}, not pending; a run is started once")
        job = os.environ.get("SLURM_JOB_ID")
        array = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        if all(array):
            job = f"{array[0]}_{array[1]}"
        if job:
            self.store.runs.set_job(ids[0], job, "RUNNING")
        return self._get(ids[0])

    def discard_pending(self, ids: list[int]) -> None:
        """Forget runs that were queued but never submitted (the cluster refused them)."""
        import shutil

        uids = [
            r.uid for r in (self.store.runs.get_run(i) for i in ids) if r is not None and r.status == PENDING
        ]
        self.store.runs.delete_pending(ids)
        for uid in uids:
            shutil.rmtree(self.run_dir(uid), ignore_errors=True)

    def set_job(self, run_id: int, job_id: str | None, job_state: str | None = None) -> None:
        self.store.runs.set_job(run_id, job_id, job_state)

    def set_command(self, run_id: int, command: list[str]) -> None:
        self.store.runs.set_command(run_id, command)

    def record_capture(self, run_id: int, capture: dict[str, Any]) -> None:
        self.store.runs.set_capture(run_id, capture)

    def set_params(self, run_id: int, params: dict[str, Any]) -> None:
        self.store.runs.set_params(run_id, params)

    def set_summary(self, run_id: int, values: dict[str, Any]) -> None:
        self.store.runs.set_summary(run_id, values)

    def add_tags(self, run_id: int, tags: tuple[str, ...]) -> None:
        self.store.runs.add_tags(run_id, tags)

    def fill_in(self, run_id: int, name: str | None = None, note: str | None = None) -> None:
        """Set the name and note where the run has none (lab run's flags take precedence)."""
        if name is not None or note is not None:
            self.store.runs.fill_in(run_id, name, note)

    def link_run(self, run_id: int, hypothesis: str | int) -> None:
        self.store.research.link_run(run_id, self.hypotheses.get(hypothesis).id)

    def end_run(
        self, run_id: int, status: str, exit_code: int | None = None, ended_at: float | None = None
    ) -> bool:
        """Record how a run ended, then resolve what its hypothesis's predictions can now."""
        ended = self.store.runs.end_run(run_id, status, ended_at or time.time(), exit_code)
        run = self.store.runs.get_run(run_id)
        if ended and run is not None and run.hyp_id is not None:
            self.hypotheses.auto_resolve(self.hypotheses.get(run.hyp_id))
        return ended

    def settle_run(
        self,
        run: RunRecord,
        status: str | None,
        exit_code: int | None = None,
        report: CloseReport | None = None,
    ) -> str | None:
        """End a run as its writer closes; None when done, else who will finish the job (``service/settle``)."""
        from labbook.service import settle

        return settle.settle_run(self, run, status, exit_code, report)

    def apply_settlements(self) -> int:
        """Apply the notes writers left when the store refused them; returns how many remain."""
        from labbook.service import settle

        return settle.apply_settlements(self)

    # -- reading runs ----------------------------------------------------------
    def reap(self) -> list[int]:
        """Settle what writers left for a reader; mark runs whose owner vanished as crashed."""
        dead: list[int] = []
        try:
            self.apply_settlements()
            now = time.time()
            dead = [row.id for row in self.store.runs.live_runs() if liveness.is_dead(row, now)]
            if dead:
                self.store.runs.mark_crashed(dead, now)
                for run_id in dead:
                    self._rebuild_summaries(run_id)
            if JOB_SETTLERS and not self._settling and self.store.runs.unfinished_jobs():
                self._settling = True
                try:
                    for settle_jobs in JOB_SETTLERS:
                        settle_jobs(self)
                finally:
                    self._settling = False
        except (StoreError, OSError):
            pass  # a read-only copy, a busy or full store: the next reader that can write will do it
        return dead

    def _rebuild_summaries(self, run_id: int) -> None:
        """A crashed writer may have written points whose summary never reached the store."""
        from labbook.core.summaries import summarize
        from labbook.store.series.read import read_all

        run = self.store.runs.get_run(run_id)
        if run is None:
            return
        series = read_all(self.run_dir(run) / "metrics")
        summaries = [summarize(key, s.steps, s.values) for key, s in series.items()]
        if summaries:
            self.store.runs.replace_metrics(run_id, summaries)

    def _get(self, run_id: int) -> RunRecord:
        run = self.store.runs.get_run(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id} in this notebook; `lab ls` lists runs")
        return run

    def resolve(self, ref: str | int) -> int:
        """A run id from a short id, a name, or a prefix of the unique id."""
        text = str(ref).strip()
        ids = self.store.runs.find_run_ids(text) if text else []
        if not ids:
            if text and self.store.runs.find_run_ids(text, in_trash=True):
                raise RunNotFound(f"run {text!r} is in the trash; `lab rm --undo {text}` brings it back")
            raise RunNotFound(f"no run {text!r} in this notebook; `lab ls` lists runs")
        if len(ids) > 1:
            shown = ", ".join(str(i) for i in ids[:8])
            raise BadInput(f"{text!r} matches {len(ids)} runs ({shown}); use the short id")
        return ids[0]

    def get_run(self, ref: str | int) -> RunRecord:
        self.reap()
        return self._get(self.resolve(ref))

    def list_runs(
        self,
        where: str | None = None,
        sort: str | None = None,
        limit: int | None = 50,
        archived: bool = False,
        offset: int = 0,
    ) -> tuple[list[RunRecord], int]:
        """Runs matching ``where``, ordered by ``sort`` (default newest first), and the total.

        Runs in the trash are never listed; archived ones only with ``archived``. ``offset``
        skips that many of the ordered runs (a page of a long list).
        """
        from labbook.core.query import parse_sort, parse_where

        self.reap()
        fields = self.store.runs.fields() if (where or sort) else None
        cond = parse_where(where, fields) if where and fields else None
        order = parse_sort(sort, fields) if sort and fields else []
        if limit is not None and limit < 0:
            raise QueryError("--limit must be 0 (all) or a positive number")
        if offset < 0:
            raise QueryError("offset must be 0 or a positive number")
        return self.store.runs.query_runs(cond, order, limit or None, archived, offset)

    def blob(self, ref: Any) -> str | None:
        if isinstance(ref, dict) and "blob" in ref:
            return self.store.runs.blob(ref["blob"])
        return ref if isinstance(ref, str) else None

    # -- series and output -------------------------------------------------------
    def metric_keys(self, run: RunRecord) -> list[str]:
        return sorted(run.metrics)

    def series(self, run: RunRecord, key: str) -> Any:
        """Every intact point of ``key``; damage met on the way is a ``DamageWarning`` naming it."""
        from labbook.store.series.read import read

        folder = self.run_dir(run) / "metrics"
        reading = read(folder, key)
        _warn_damage(run, reading.damage)
        s = reading.series.get(key)
        if s is None:
            counted = run.metrics[key].count if key in run.metrics else 0
            if counted:
                where = "its series folder is missing" if not folder.is_dir() else "its files hold none"
                raise DataLost(
                    f"run {run.id}'s summary counts {counted:,} points of {key!r} but {where} ({folder}); "
                    "`lab verify` checks the whole notebook"
                )
            known = ", ".join(sorted(run.metrics)) or "none yet"
            raise BadInput(f"run {run.id} has no metric {key!r} (its metrics: {known})")
        return s

    def damage(self, run: RunRecord) -> list[str]:
        """One line per way the run's files fall short of what it accepted (for ``lab show``)."""
        from labbook.service.verify import shortfall

        return shortfall(self, run)

    def output_path(self, run: RunRecord, stream: str = "output") -> Path:
        return self.run_dir(run) / f"{stream}.log"

    # -- maintenance -------------------------------------------------------------
    def verify(self, refs: list[str] | None = None) -> VerifyReport:
        """Check the database and the series files of ``refs`` (default: every run)."""
        from labbook.service.verify import Problem, verify

        try:
            runs = [self.get_run(ref) for ref in refs] if refs else self.list_runs(limit=0, archived=True)[0]
        except NotebookCorrupt as err:  # the runs cannot even be listed: the database check says why
            return verify(self, [], [Problem(None, "database", f"database: {err}")])
        return verify(self, runs)

    def backup(self, target: Path) -> Path:
        """Write a consistent copy of the notebook to the new directory ``target`` (``service/backup``)."""
        from labbook.service.backup import backup

        return backup(self, target)
