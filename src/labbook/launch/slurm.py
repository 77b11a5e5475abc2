"""Runs on Slurm: each run of a sweep is one task of a job array submitted through submitit.

The driver (``lab run --launcher slurm`` on the login node) creates every run as
``pending`` with its job id, then submits jobs whose only work is the node's own
``lab run --adopt UID``: capture, saved streams, metrics and the running → finished /
failed / killed status are exactly those of a local run, recorded on the node. The
driver follows the jobs, records Slurm's last word on each (``job_state``) and settles
the runs the node could not: a job cancelled or timed out before it started ends
``cancelled``; a job that died under a run (node failure, out of memory) ``crashed``.

The notebook must live on a filesystem every node mounts at the same path (the
submitit folder, the run files and the SQLite database are all written from the node).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from labbook.errors import BadInput, LaunchError
from labbook.launch.sweep import Job, child_command
from labbook.records.runs import CANCELLED, CRASHED, KILLED, PENDING, RUNNING, RunRecord
from labbook.service.notebook import Notebook

# Slurm states after which a job never runs again (sacct's names).
ENDED = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
     "BOOT_FAIL", "DEADLINE", "REVOKED"}
)  # fmt: skip
# A run Slurm stopped on purpose reads as killed; one that died under it, as crashed.
_STOPPED = frozenset({"CANCELLED", "TIMEOUT", "PREEMPTED", "DEADLINE", "REVOKED"})
ACCOUNTING_S = 15.0  # how long to wait for sacct to report the state of jobs whose runs ended
SETTLE_S = 5.0  # how long a run may stay running after its job ended (the node is writing its end)


@dataclass(frozen=True)
class SlurmOptions:
    """What ``--slurm-*`` asks of each job; ``extra``: other sbatch options, KEY=VALUE or a bare flag."""

    partition: str | None = None
    time: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    mem: str | None = None
    extra: tuple[str, ...] = ()
    parallel: int | None = None

    def sbatch(self) -> dict[str, Any]:
        """submitit's parameters; ``time`` goes verbatim so every Slurm time format works."""
        extra: dict[str, Any] = {}
        for item in self.extra:
            key, sep, value = item.partition("=")
            key = key.strip().lstrip("-")
            if not key or (sep and not value):
                raise BadInput(
                    f"--slurm-opt {item!r} is not KEY=VALUE or a bare flag; e.g. --slurm-opt qos=high"
                )
            extra[key] = value if sep else True
        params: dict[str, Any] = {"time": None}
        if self.time:
            extra["time"] = self.time
        settings: tuple[tuple[str, str | int | None], ...] = (
            ("partition", self.partition),
            ("gpus_per_node", self.gpus),
            ("cpus_per_task", self.cpus),
            ("mem", self.mem),
            ("array_parallelism", self.parallel),
        )
        for name, setting in settings:
            if setting is not None:
                params[name] = setting
        params["additional_parameters"] = extra
        return params


@dataclass
class Submitted:
    job: Job
    run_id: int
    job_id: str
    handle: Any = field(repr=False, default=None)  # submitit's Job


class NodeRun:
    """What a job runs on the node: the ``lab run`` that adopts the pending run."""

    def __init__(self, argv: list[str], cwd: str) -> None:
        self.argv, self.cwd = argv, cwd

    def __call__(self) -> int:
        code = subprocess.run(self.argv, cwd=self.cwd).returncode
        if code != 0:  # so that Slurm, too, says FAILED (sacct, email notices, dependencies)
            raise RuntimeError(f"lab run exited with {code}; the run's own output is in lab logs")
        return code


def check_reachable(options: SlurmOptions) -> None:
    """Fail before anything is written when Slurm cannot take jobs, naming the missing piece."""
    options.sbatch()  # --slurm-opt syntax
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise LaunchError("--launcher slurm needs submitit: pip install 'labbook[slurm]'") from None
    for tool in ("sbatch", "sinfo", "sacct", "scancel"):
        if shutil.which(tool) is None:
            raise LaunchError(
                f"Slurm not reachable: {tool} is not on PATH; install the Slurm client "
                "(Debian: slurm-client) or use --launcher local"
            )
    conf = os.environ.get("SLURM_CONF")
    if conf and not os.path.exists(conf):
        raise LaunchError(f"Slurm not reachable: SLURM_CONF names {conf}, which does not exist")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        raise LaunchError("Slurm not reachable: sinfo did not answer in 15 s; is slurmctld up?") from None
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise LaunchError(
            f"Slurm not reachable: sinfo failed ({why}); is slurmctld running and SLURM_CONF set?"
        )
    partitions = sorted(set(out.stdout.split()))
    if options.partition and options.partition not in partitions:
        raise LaunchError(
            f"Slurm has no partition {options.partition!r}; partitions: {', '.join(partitions) or 'none'}"
        )


def submit(
    notebook: Notebook,
    jobs: list[Job],
    configs: list[dict[str, Any] | None],
    sweep_id: str | None,
    options: SlurmOptions,
    *,
    names: list[str | None],
    tags: tuple[str, ...],
    note: str | None,
    hypothesis: str | None,
) -> list[Submitted]:
    """Create the runs as pending and submit one array task per run; returns them in order."""
    import submitit

    from labbook.core.config import flatten

    folder = notebook.root / "slurm" / (sweep_id or f"run-{time.time_ns()}")
    executor = submitit.SlurmExecutor(folder=folder)
    executor.update_parameters(job_name=f"lab-{sweep_id or 'run'}", **options.sbatch())
    made: list[Submitted] = []
    for job, config, name in zip(jobs, configs, names, strict=True):
        run = notebook.start_run(
            name=name,
            tags=tags,
            note=note,
            command=list(job.argv),
            params=flatten(config) if config is not None else None,
            source="slurm",
            hypothesis=hypothesis,
            sweep_id=sweep_id,
            pending=True,
        )
        job.run_id = run.id
        job.options = [*job.options, "--adopt", run.uid]
        made.append(Submitted(job, run.id, ""))
    with tempfile.TemporaryFile() as said:
        try:
            with _stderr_to(said), executor.batch():
                for s in made:
                    s.handle = executor.submit(NodeRun(child_command(notebook, s.job, sweep_id), os.getcwd()))
        except Exception as err:  # sbatch refused (bad option, no such resources): the runs never were
            notebook.discard_pending([s.run_id for s in made])
            shutil.rmtree(folder, ignore_errors=True)
            forget_configs(jobs)
            said.seek(0)
            lines = said.read().decode(errors="replace").splitlines() + str(err).splitlines()
            raise LaunchError(f"sbatch refused the jobs: {_sbatch_reason(lines)}") from None
    for s in made:
        s.job_id = str(s.handle.job_id)
        notebook.set_job(s.run_id, s.job_id, PENDING.upper())
    return made


def forget_configs(jobs: list[Job]) -> None:
    """The jobs' config files (and their sweep folder, once empty): nothing stays of a refused submission."""
    for job in jobs:
        if job.config_path is not None:
            job.config_path.unlink(missing_ok=True)
    folders = {job.config_path.parent for job in jobs if job.config_path is not None}
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty: something else lives there


@contextmanager
def _stderr_to(file: IO[bytes]) -> Iterator[None]:
    """sbatch writes its complaint to the inherited stderr: keep it for one clean error line."""
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _sbatch_reason(lines: list[str]) -> str:
    for line in reversed(lines):
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1] if lines else "no message"


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each job (``12`` or array task ``12_3``): sacct, then squeue for the rest."""
    states: dict[str, str] = {}
    if not job_ids:
        return states
    bases = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(bases)],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        rows = out.stdout.splitlines() if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        rows = []
    collapsed: dict[str, str] = {}  # "12" → state of a pending array shown as 12_[0-3]
    for row in rows:
        jid, _, state = row.partition("|")
        state = state.split()[0] if state.split() else "UNKNOWN"
        if "_[" in jid:
            collapsed[jid.split("_")[0]] = state
        else:
            states[jid] = state
    for j in job_ids:
        if j not in states and j.split("_")[0] in collapsed:
            states[j] = collapsed[j.split("_")[0]]
    missing = [j for j in job_ids if j not in states]
    if missing:
        states.update(_squeue_states(missing))
    return states


def _squeue_states(job_ids: list[str]) -> dict[str, str]:
    try:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i|%T", "-j", ",".join(job_ids)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = dict(line.split("|", 1) for line in out.stdout.splitlines() if "|" in line)
    return {j: found.get(j, "UNKNOWN") for j in job_ids}


def settle(notebook: Notebook, run: RunRecord, state: str, ended_for: float = 0.0) -> str:
    """Record the job's state; end a run the node could not (never started, or died with its job)."""
    notebook.set_job(run.id, None, state)
    if state not in ENDED:
        return run.status
    if run.status == PENDING:
        status = CANCELLED if state in _STOPPED else CRASHED
        notebook.end_run(run.id, status)
        return status
    if run.status == RUNNING and ended_for >= SETTLE_S:
        status = KILLED if state in _STOPPED else CRASHED
        notebook.end_run(run.id, status)
        return status
    return run.status


@dataclass
class _Watch:
    ended: dict[str, float] = field(default_factory=dict)  # job id → when Slurm first said it ended
    runs_done_at: float | None = None  # when every run had ended (accounting may lag behind)


def follow(
    notebook: Notebook,
    submitted: list[Submitted],
    on_progress: Callable[[int, int, int], None] | None = None,
    poll_s: float = 1.0,
) -> tuple[dict[int, str], bool]:
    """Wait until every run has ended; Ctrl-C cancels the jobs (the runs end killed or cancelled).

    Returns each run's status and whether the wait was interrupted.
    """
    watch = _Watch()
    try:
        return _follow(notebook, submitted, on_progress, poll_s, watch), False
    except KeyboardInterrupt:
        cancel(submitted)
        deadline = time.time() + 30
        return _follow(notebook, submitted, on_progress, poll_s, watch, deadline), True


def _follow(
    notebook: Notebook,
    submitted: list[Submitted],
    on_progress: Callable[[int, int, int], None] | None,
    poll_s: float,
    watch: _Watch,
    deadline: float | None = None,
) -> dict[int, str]:
    while True:
        now = time.time()
        states = job_states([s.job_id for s in submitted])
        statuses: dict[int, str] = {}
        for s in submitted:
            state = states.get(s.job_id, "UNKNOWN")
            if state in ENDED:
                watch.ended.setdefault(s.job_id, now)
            run = notebook.store.runs.get_run(s.run_id)
            assert run is not None
            statuses[s.run_id] = settle(notebook, run, state, now - watch.ended.get(s.job_id, now))
        unfinished = [r for r, st in statuses.items() if st in (PENDING, RUNNING)]
        if on_progress is not None:
            running = sum(1 for st in statuses.values() if st == RUNNING)
            failed = sum(1 for st in statuses.values() if st not in (PENDING, RUNNING, "finished"))
            on_progress(len(statuses) - len(unfinished), running, failed)
        if not unfinished:
            watch.runs_done_at = watch.runs_done_at or now
            if (
                all(states.get(s.job_id) in ENDED for s in submitted)
                or now - watch.runs_done_at > ACCOUNTING_S
            ):
                return statuses
        if deadline is not None and now > deadline:
            return statuses
        time.sleep(poll_s)


def cancel(submitted: list[Submitted]) -> None:
    ids = [s.job_id for s in submitted]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)


def settle_unfinished(notebook: Notebook) -> None:
    """For readers: runs whose queued job ended without them (cancelled in the queue, say)."""
    jobs = notebook.store.runs.unfinished_jobs()
    runs = [notebook.store.runs.get_run(rid) for rid, _, status in jobs if status == PENDING]
    pending = [run for run in runs if run is not None and run.source == "slurm" and run.job_id]
    if not pending or shutil.which("sacct") is None:
        return
    states = job_states([str(run.job_id) for run in pending])
    for run in pending:
        state = states.get(str(run.job_id))
        if state in ENDED:
            settle(notebook, run, state)
