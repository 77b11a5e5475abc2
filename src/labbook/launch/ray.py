"""Runs on Ray: each run of a batch is one task on an existing Ray cluster.

As on Slurm (``launch/slurm.py``), the driver (``lab run --launcher ray``) creates every
run as ``pending``, then submits tasks whose only work is the worker's own
``lab run --adopt UID``: capture, saved streams, metrics and the running → finished /
failed / killed status are those of a local run, recorded where the task runs. The
driver waits on the tasks (``ray.wait``), records Ray's last word on each
(``job_state``: the task's state, ``job_id``: its task id) and settles the runs the
worker could not: a task cancelled before its run started ends it ``cancelled``, one
that failed before (no labbook on the node, say) ``crashed``; a run still running after
its task ended reads ``killed`` (cancelled) or ``crashed`` (its worker or node died).

A task belongs to the driver's Ray job, and Ray ends a job's tasks when its driver
exits: there is no ``--detach``. The notebook must live on a filesystem every node
mounts at the same path, as for Slurm. Ray is imported only here, and only when a
launch asks for it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from labbook.errors import BadInput, LaunchError
from labbook.launch.process import die_with
from labbook.launch.slurm import SETTLE_S, Submitted, forget_configs
from labbook.launch.sweep import Job, child_command
from labbook.records.runs import CANCELLED, CRASHED, KILLED, PENDING, RUNNING, RunRecord
from labbook.service.liveness import grace_s, hostname, process_started
from labbook.service.notebook import Notebook

CONNECT_S = 60.0  # how long ray.init may take: a port that answers but is no Ray head would hang it
FINISHED_STATE, FAILED_STATE, CANCELLED_STATE = "FINISHED", "FAILED", "CANCELLED"
DRIVER_EXITED = "DRIVER_EXITED"  # the driver vanished: Ray ended its job's tasks with it
# Variables of the driver's environment a task never gets: Ray sets them for the task's
# own devices and CPUs, and the driver's would name another machine's.
_PLACED = frozenset(
    {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES",
     "TPU_VISIBLE_CHIPS", "ONEAPI_DEVICE_SELECTOR", "HABANA_VISIBLE_MODULES", "ASCEND_RT_VISIBLE_DEVICES",
     "OMP_NUM_THREADS", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_"}
)  # fmt: skip


@dataclass(frozen=True)
class RayOptions:
    """What ``--ray-*`` asks: the cluster (Ray's own address forms) and each task's resources."""

    address: str = "auto"
    gpus: float | None = None
    cpus: float | None = None

    def resources(self) -> dict[str, float]:
        """The task's ``num_cpus`` / ``num_gpus``; Ray's default is one CPU and no GPU."""
        cpus = 1.0 if self.cpus is None else self.cpus
        gpus = self.gpus or 0.0
        for flag, value in (("--ray-cpus", cpus), ("--ray-gpus", gpus)):
            if value > 1 and value != int(value):
                raise BadInput(f"{flag} {value:g}: Ray takes a fraction below 1 or a whole number")
        return {"num_cpus": cpus, "num_gpus": gpus}


@dataclass
class RayTask(Submitted):
    """A run sent to Ray: ``job_id`` is its task id, ``handle`` the task's ObjectRef."""

    ray_job: str = ""  # the driver's Ray job, of which every task of this launch is one
    reason: str = ""  # why the task failed, in Ray's words or the last line of the worker's lab run


class NodeFailed(RuntimeError):
    """The worker's ``lab run`` exited non-zero, so that Ray, too, says the task failed."""


def node_run(argv: list[str], cwd: str, driver_env: dict[str, str]) -> int:
    """What a task does on its worker: run the ``lab run`` that adopts the pending run.

    The command gets the worker's environment, plus what of the driver's the worker does
    not set (a ``WANDB_MODE=offline`` given to ``lab run``, say). ``ray.cancel`` reaches a
    running task as KeyboardInterrupt, through SIGINT, which Ray's workers ignore; it is
    handled while the task runs and passed on, so the run ends ``killed`` with its output.
    """
    env = {k: v for k, v in driver_env.items() if k not in _PLACED and not k.startswith("RAY_")}
    env.update(os.environ)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT)
    if main:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ray's signals to the worker are not the run's
            preexec_fn=_as_a_shell_would(os.getpid()),
        )
        assert proc.stderr is not None
        tail: deque[str] = deque(maxlen=5)
        copier = threading.Thread(target=_copy, args=(proc.stderr, sys.stderr, tail), daemon=True)
        copier.start()
        try:
            code = _wait(proc)
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)  # its lab run stops the command and records the run killed
            try:
                proc.wait(timeout=grace_s() + 10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        copier.join(timeout=5)
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)
    if code != 0:
        last = next((line for line in reversed(tail) if line.strip()), "")
        raise NodeFailed(f"lab run exited with {code}" + (f": {last.strip()}" if last else ""))
    return code


def _as_a_shell_would(worker: int) -> Callable[[], None]:
    """A ``preexec_fn``: the signals a command started from a shell has, and death with the worker.

    Ray's workers block SIGINT and ignore SIGINT and SIGQUIT, and a process inherits both
    across exec: the worker's ``lab run`` would never hear the SIGINT that stops it. Killed
    with its worker (its driver gone, say), the run reads crashed instead of running on.
    """
    die = die_with(worker)

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for sig in (signal.SIGINT, signal.SIGQUIT):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except ValueError:  # not the main thread: lab run installs its own handler anyway
                pass
        if die is not None:
            die()

    return preexec


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait in short steps: a pending KeyboardInterrupt is raised between them, never inside a wait."""
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue


def _copy(source: IO[bytes], sink: IO[str], tail: deque[str]) -> None:
    """The worker's ``lab run`` stderr into the worker's log, keeping its last lines for the driver."""
    for raw in source:
        line = raw.decode(errors="replace")
        tail.append(line)
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            pass


# -- the driver -------------------------------------------------------------------


def connect(options: RayOptions) -> None:
    """Connect to the cluster and check it can run the tasks, before anything is written."""
    options.resources()
    given = None if options.address in ("auto", "local") else _host_port(options.address)
    try:
        import ray
    except ImportError:
        raise LaunchError("--launcher ray needs Ray: pip install 'labbook[ray]'") from None
    if not ray.is_initialized():
        if options.address == "auto":
            given = _head_found(ray)
        if given is not None:
            _check_listening(*given)
        _init(ray, options.address)
    _check_resources(ray, options)


def _host_port(address: str) -> tuple[str, int]:
    """HOST:PORT or ray://HOST:PORT (Ray Client), as the head's address is written."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BadInput(f"--ray-address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def _head_found(ray: Any) -> tuple[str, int] | None:
    """Where ``auto`` leads, as Ray looks: RAY_ADDRESS, then the head started on this machine."""
    if os.environ.get("RAY_ADDRESS"):
        return _host_port(os.environ["RAY_ADDRESS"])
    try:
        found = ray._private.services.canonicalize_bootstrap_address("auto")
    except ConnectionError:
        raise LaunchError(
            "Ray not reachable: no running Ray cluster found (--ray-address auto reads RAY_ADDRESS, "
            "then the head started on this machine); start one with ray start --head or give --ray-address"
        ) from None
    except Exception:
        return None  # Ray's own lookup changed: leave it to ray.init and its deadline
    return _host_port(found) if found else None


def _check_listening(host: str, port: int) -> None:
    """A head that is down makes ray.init retry for minutes: ask its port first."""
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise LaunchError(
            f"Ray not reachable: nothing answers at {host}:{port} ({why}); is the head up (ray start --head)?"
        ) from None


def _init(ray: Any, address: str) -> None:
    """ray.init within ``CONNECT_S``; it runs in a thread of its own, as it cannot be interrupted."""
    failure: list[BaseException] = []

    def connect_now() -> None:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except BaseException as err:
            failure.append(err)

    thread = threading.Thread(target=connect_now, name="ray-init", daemon=True)
    thread.start()
    thread.join(CONNECT_S)
    if thread.is_alive():
        raise LaunchError(
            f"Ray not reachable: no answer from {address} in {CONNECT_S:.0f} s; is it a Ray head's "
            "address, and can this machine reach the address the head gives its nodes?"
        )
    if failure:
        lines = str(failure[0]).strip().splitlines() or [type(failure[0]).__name__]
        raise LaunchError(f"Ray not reachable at {address}: {lines[0]}")


def _check_resources(ray: Any, options: RayOptions) -> None:
    """A task no node can hold would wait forever: refuse it, naming what the nodes have."""
    wanted = options.resources()
    need = {"CPU": wanted["num_cpus"], "GPU": wanted["num_gpus"]}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(have.get(k, 0.0) >= v for k, v in need.items() if v > 0) for have in nodes):
        return
    asked = " and ".join(_amount(v, k) for k, v in need.items() if v > 0)
    kinds = sorted(
        {f"{_amount(have.get('CPU', 0), 'CPU')}, {_amount(have.get('GPU', 0), 'GPU')}" for have in nodes}
    )
    raise LaunchError(
        f"no node of the Ray cluster has {asked} for a task (its nodes: {'; '.join(kinds) or 'none'}); "
        "lower --ray-gpus / --ray-cpus or add such a node"
    )


def _amount(value: float, what: str) -> str:
    return f"no {what}" if value <= 0 else f"{value:g} {what}" + ("s" if value > 1 else "")


def submit(
    notebook: Notebook,
    jobs: list[Job],
    configs: list[dict[str, Any] | None],
    sweep_id: str | None,
    options: RayOptions,
    *,
    names: list[str | None],
    tags: tuple[str, ...],
    note: str | None,
    hypothesis: str | None,
) -> list[RayTask]:
    """Create the runs as pending and submit one task per run; returns them in order."""
    import ray

    from labbook.core.config import flatten

    task = ray.remote(node_run)
    resources = options.resources()
    ray_job = ray.get_runtime_context().get_job_id()
    made: list[RayTask] = []
    for job, config, name in zip(jobs, configs, names, strict=True):
        run = notebook.start_run(
            name=name,
            tags=tags,
            note=note,
            command=list(job.argv),
            params=flatten(config) if config is not None else None,
            source="ray",
            hypothesis=hypothesis,
            sweep_id=sweep_id,
            pending=True,
        )
        job.run_id = run.id
        job.options = [*job.options, "--adopt", run.uid]
        made.append(RayTask(job, run.id, "", ray_job=ray_job))
    env = dict(os.environ)
    try:
        for t in made:
            argv = child_command(notebook, t.job, sweep_id)
            named = task.options(name=f"lab run {t.run_id}", max_retries=0, **resources)  # started once
            t.handle = named.remote(argv, os.getcwd(), env)
    except Exception as err:  # Ray refused the tasks: the runs never were
        for t in made:
            if t.handle is not None:
                ray.cancel(t.handle, force=True)
        notebook.discard_pending([t.run_id for t in made])
        forget_configs(jobs)
        raise LaunchError(f"Ray refused the tasks: {(str(err).strip().splitlines() or ['?'])[0]}") from None
    for t in made:
        t.job_id = _task_id(t.handle)
        notebook.set_job(t.run_id, t.job_id, PENDING.upper())
    return made


def _task_id(ref: Any) -> str:
    """The id Ray's tools name the task by; through Ray Client (``ray://``) the ref's own id."""
    try:
        return str(ref.task_id().hex())
    except (AttributeError, NotImplementedError):
        return str(ref.hex())


@dataclass
class _Watch:
    ended: dict[int, tuple[str, float]] = field(default_factory=dict)  # run id → task's end state, when


def follow(
    notebook: Notebook,
    tasks: list[RayTask],
    on_progress: Callable[[int, int, int], None] | None = None,
    poll_s: float = 0.5,
) -> tuple[dict[int, str], bool]:
    """Wait until every run and task has ended; Ctrl-C cancels the tasks (the runs end killed or cancelled).

    SIGTERM and SIGHUP stop it as Ctrl-C does: left to Ray, they would end the job and
    kill its workers, and the runs would read ``crashed``.

    Returns each run's status and whether the wait was interrupted.
    """
    watch = _Watch()
    try:
        with _stops_as_interrupt():
            return _follow(notebook, tasks, on_progress, poll_s, watch), False
    except KeyboardInterrupt:
        cancel(tasks, watch)
        deadline = time.time() + grace_s() + 20
        statuses = _follow(notebook, tasks, on_progress, poll_s, watch, deadline)
        for t in tasks:  # still queued at the deadline: cancelled, as asked
            if statuses.get(t.run_id) == PENDING:
                notebook.set_job(t.run_id, None, CANCELLED_STATE)
                notebook.end_run(t.run_id, CANCELLED)
                statuses[t.run_id] = CANCELLED
        return statuses, True


@contextmanager
def _stops_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt while the driver follows (not a SIGHUP ``nohup`` ignores)."""
    previous: dict[signal.Signals, Any] = {}

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _follow(
    notebook: Notebook,
    tasks: list[RayTask],
    on_progress: Callable[[int, int, int], None] | None,
    poll_s: float,
    watch: _Watch,
    deadline: float | None = None,
) -> dict[int, str]:
    import ray

    by_ref = {t.handle: t for t in tasks}
    while True:
        going = [t.handle for t in tasks if t.run_id not in watch.ended]
        if going:
            ready, _ = ray.wait(going, num_returns=len(going), timeout=poll_s)
            for ref in ready:
                t = by_ref[ref]
                state, t.reason = _outcome(ray, ref)
                watch.ended[t.run_id] = (state, time.time())
        else:
            time.sleep(poll_s)
        now = time.time()
        statuses: dict[int, str] = {}
        for t in tasks:
            run = notebook.store.runs.get_run(t.run_id)
            assert run is not None
            state, when = watch.ended.get(t.run_id, ("", now))
            statuses[t.run_id] = settle(notebook, run, state or None, now - when)
        unfinished = [r for r, st in statuses.items() if st in (PENDING, RUNNING)]
        if on_progress is not None:
            running = sum(1 for st in statuses.values() if st == RUNNING)
            failed = sum(1 for st in statuses.values() if st not in (PENDING, RUNNING, "finished"))
            on_progress(len(statuses) - len(unfinished), running, failed)
        if not unfinished and len(watch.ended) == len(tasks):
            return statuses
        if deadline is not None and now > deadline:
            return statuses


def _outcome(ray: Any, ref: Any) -> tuple[str, str]:
    """How an ended task ended, in Ray's words: its state, and for a failure the reason."""
    from ray import exceptions as rx

    try:
        ray.get(ref)
        return FINISHED_STATE, ""
    except rx.TaskCancelledError:
        return CANCELLED_STATE, ""
    except rx.RayTaskError as err:  # the task raised: NodeFailed, or an error before lab run began
        cause = err.cause if err.cause is not None else err
        return FAILED_STATE, (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
    except rx.OutOfMemoryError:
        return "OUT_OF_MEMORY", "Ray killed the worker: its node ran out of memory"
    except rx.NodeDiedError:
        return "NODE_DIED", "the node running the task died"
    except rx.RayError as err:  # the worker died under the task, the object was lost, ...
        return "WORKER_DIED" if isinstance(err, rx.WorkerCrashedError) else FAILED_STATE, type(err).__name__


def settle(notebook: Notebook, run: RunRecord, state: str | None, ended_for: float = 0.0) -> str:
    """Record the task's state; end a run the worker could not (never started, or died with its task).

    ``state`` is None while the task goes on; then the run's own status says whether the
    worker's ``lab run`` has started it.
    """
    if state is None:
        if run.status == RUNNING and run.job_state != RUNNING.upper():
            notebook.set_job(run.id, None, RUNNING.upper())
        return run.status
    if run.job_state != state:
        notebook.set_job(run.id, None, state)
    if run.status == PENDING:
        status = CANCELLED if state == CANCELLED_STATE else CRASHED
        notebook.end_run(run.id, status)
        return status
    if run.status == RUNNING and ended_for >= SETTLE_S:
        status = KILLED if state == CANCELLED_STATE else CRASHED
        notebook.end_run(run.id, status)
        return status
    return run.status


def cancel(tasks: list[RayTask], watch: _Watch | None = None) -> None:
    """Cancel the tasks still going: a queued one never runs, a running one's run is stopped."""
    import ray

    for t in tasks:
        if watch is None or t.run_id not in watch.ended:
            try:
                ray.cancel(t.handle)
            except Exception:
                pass  # ended meanwhile


def disconnect() -> None:
    """End this driver's Ray job (and with it any task still going)."""
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


def settle_unfinished(notebook: Notebook) -> None:
    """For readers: pending Ray runs whose driver vanished (killed, say); Ray ended their tasks with it.

    Only a driver on this machine can be looked for; Ray itself is not asked.
    """
    for rid, _, status in notebook.store.runs.unfinished_jobs():
        if status != PENDING:
            continue
        run = notebook.store.runs.get_run(rid)
        if run is None or run.source != "ray" or run.pid is None or run.host != hostname():
            continue
        if process_started(run.pid) is None:
            notebook.set_job(rid, None, DRIVER_EXITED)
            notebook.end_run(rid, CRASHED)
