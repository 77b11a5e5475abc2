"""Where a batch of runs runs: a local pool of child ``lab run`` processes, Slurm jobs or Ray tasks.

``lab run`` and ``lab ablate`` hand their batch to one of these and never ask which it
is until they print the result, so a run reaches a cluster the same way whichever
command sent it. What the caller shows while it waits goes through a ``Watcher``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from labbook.launch.plan import Batch, child_options
from labbook.launch.sweep import Job, SweepResult, child_command, run_sweep
from labbook.service.notebook import Notebook

if TYPE_CHECKING:
    from labbook.launch.ray import RayOptions
    from labbook.launch.slurm import SlurmOptions, Submitted

Progress = Callable[[int, int, int], None]  # (done, running, failed)


class Watcher(Protocol):
    """What the caller shows: the submission, and the progress while the runs go."""

    def submitted(self, submitted: list[Submitted]) -> None: ...
    def waiting(self, total: int) -> AbstractContextManager[Progress | None]: ...


class Quiet:
    """A watcher that shows nothing."""

    def submitted(self, submitted: list[Submitted]) -> None:
        pass

    @contextmanager
    def waiting(self, total: int) -> Iterator[Progress | None]:
        yield None


@dataclass
class Launched:
    """What became of a batch: each job's run status, in order, and how the wait ended."""

    statuses: list[str]
    interrupted: bool = False
    detached: bool = False
    sweep: SweepResult | None = None  # the local pool's account (exit codes, logs, fail-fast)
    submitted: list[Submitted] = field(default_factory=list)  # the Slurm jobs or Ray tasks

    @property
    def all_finished(self) -> bool:
        return all(s == "finished" for s in self.statuses)

    @property
    def exit_code(self) -> int:
        """``lab run``'s exit: 130 after Ctrl-C, 0 when every run finished, else 1."""
        if self.interrupted:
            return 130
        return 0 if self.all_finished else 1


@dataclass(frozen=True)
class Local:
    """Child ``lab run`` processes here, ``parallel`` at a time; ``fail_fast`` stops at the first failure."""

    parallel: int = 1
    fail_fast: bool = False
    name: str = "local"

    def launch(self, notebook: Notebook, batch: Batch, watcher: Watcher | None = None) -> Launched:
        """Run the batch to its end; each child records its own name, tags, note and hypothesis."""
        watcher = watcher or Quiet()
        assert batch.sweep_id is not None, "a local batch is a sweep; a single run is executed in-process"
        for job, name in zip(batch.jobs, batch.names, strict=True):
            job.options = child_options(batch.source, name, batch.tags, batch.note, batch.hypothesis)
            job.options += batch.capture
        with watcher.waiting(len(batch.jobs)) as progress:
            result = run_sweep(notebook, batch.jobs, batch.sweep_id, self.parallel, self.fail_fast, progress)
        statuses = [result.statuses.get(j.run_id or -1, "not started") for j in batch.jobs]
        return Launched(statuses, result.interrupted, sweep=result)


def _for_adoption(batch: Batch) -> dict[str, Any]:
    """A cluster batch: each job's options for the node's ``lab run --adopt``, and what the runs are
    created pending with (names and tags go on the pending run, so the node only adopts it)."""
    for job in batch.jobs:
        job.options = child_options(batch.source, None, (), batch.note, batch.hypothesis)
        job.options += batch.capture
    return {
        "names": list(batch.names),
        "tags": batch.tags,
        "note": batch.note,
        "hypothesis": batch.hypothesis,
    }


@dataclass(frozen=True)
class Slurm:
    """One Slurm array task per run; ``detach`` returns once the jobs are queued."""

    options: SlurmOptions
    detach: bool = False
    name: str = "slurm"

    def launch(self, notebook: Notebook, batch: Batch, watcher: Watcher | None = None) -> Launched:
        """Create the runs as pending, submit them, and follow the jobs unless detached.

        The runs are created here with their names and tags, so the node's ``lab run``
        only adopts them.
        """
        from labbook.launch import slurm

        watcher = watcher or Quiet()
        submitted = slurm.submit(
            notebook, batch.jobs, batch.configs, batch.sweep_id, self.options, **_for_adoption(batch)
        )
        watcher.submitted(submitted)
        if self.detach:
            return Launched(["pending"] * len(submitted), detached=True, submitted=submitted)
        with watcher.waiting(len(submitted)) as progress:
            statuses, interrupted = slurm.follow(notebook, submitted, progress)
        order = [statuses.get(s.run_id, "not started") for s in submitted]
        return Launched(order, interrupted, submitted=submitted)


@dataclass(frozen=True)
class Ray:
    """One Ray task per run on a running cluster, followed to its end: Ray ends a driver's tasks with it."""

    options: RayOptions
    name: str = "ray"

    def launch(self, notebook: Notebook, batch: Batch, watcher: Watcher | None = None) -> Launched:
        """Create the runs as pending, submit their tasks and follow them, as ``Slurm`` does."""
        from labbook.launch import ray

        watcher = watcher or Quiet()
        try:
            submitted = ray.submit(
                notebook, batch.jobs, batch.configs, batch.sweep_id, self.options, **_for_adoption(batch)
            )
            watcher.submitted(list(submitted))
            with watcher.waiting(len(submitted)) as progress:
                statuses, interrupted = ray.follow(notebook, submitted, progress)
        finally:
            ray.disconnect()
        order = [statuses.get(s.run_id, "not started") for s in submitted]
        return Launched(order, interrupted, submitted=list(submitted))


Launcher = Local | Slurm | Ray


def run_alone(notebook: Notebook, job: Job) -> int:
    """One child ``lab run`` in the foreground, its output on this terminal; returns its exit code."""
    import subprocess

    return subprocess.run(child_command(notebook, job, None)).returncode


def slurm_launcher(options: dict[str, Any], detach: bool) -> Slurm:
    """A Slurm launcher for ``options`` (the ``--slurm-*`` values), checked against the cluster.

    The check runs before anything is written, so a cluster that cannot take the jobs
    leaves no pending run behind.
    """
    from labbook.launch.slurm import SlurmOptions, check_reachable

    request = SlurmOptions(**options)
    check_reachable(request)
    return Slurm(request, detach)


def ray_launcher(options: dict[str, Any]) -> Ray:
    """A Ray launcher for ``options`` (the ``--ray-*`` values), connected to its cluster.

    Connecting is the check: an address where no head answers, or resources no node has,
    fail before any run is written.
    """
    from labbook.launch.ray import RayOptions, connect

    request = RayOptions(**options)
    connect(request)
    return Ray(request)
