"""A real single-node Ray cluster for the tests: ``ray start --head`` in a session of its own.

It is stopped by its process group, never with ``ray stop`` (which ends every Ray process
on the machine by name, a developer's own cluster too). Facts this relies on (measured
here): the head and every driver need ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and
``RAY_AUTH_MODE=disabled``, or Ray swaps 127.0.0.1 for an outside address; the head's
temporary folder holds Unix sockets, so its path must stay short.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
CPUS = 2
READY = f"import ray; ray.init(address={{!r}}); assert ray.cluster_resources()['CPU'] == {CPUS}"


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayCluster:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` is what drivers need."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lbray-"))  # short: Unix socket paths are limited
        self.address = f"127.0.0.1:{free_port()}"
        self.env = {**ENV, "RAY_ADDRESS": self.address}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ray = Path(sys.executable).with_name("ray")
        if not ray.exists():
            raise ClusterError("the Ray tests need Ray beside this Python: pip install -e '.[test]'")
        port = self.address.rsplit(":", 1)[1]
        log = open(self.root / "head.log", "ab")
        self.proc = subprocess.Popen(
            [str(ray), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
             f"--num-cpus={CPUS}", "--num-gpus=0", "--object-store-memory=100000000",
             "--disable-usage-stats", "--include-dashboard=false", f"--temp-dir={self.root}"],
            stdout=log, stderr=log, env={**os.environ, **ENV}, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._wait_ready(timeout=180)

    def _wait_ready(self, timeout: float) -> None:
        """Until a driver connects and sees the head's CPUs: state decides, never a fixed sleep."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ClusterError(f"ray start exited ({self.proc.returncode}); see {self.root / 'head.log'}")
            probe = subprocess.run(
                [sys.executable, "-c", READY.format(self.address)],
                env={**os.environ, **self.env},
                capture_output=True,
                timeout=max(10.0, deadline - time.monotonic()),
            )
            if probe.returncode == 0:
                return
            time.sleep(0.5)
        raise ClusterError(f"the Ray head did not come up; see {self.root / 'head.log'}")

    def stop(self) -> None:
        """SIGTERM to ``ray start`` alone (it stops its GCS, raylet and workers in turn; a
        SIGTERM to all of them at once hangs their shutdown), then SIGKILL to whatever of its
        process tree is left (workers live in process groups of their own), each by PID."""
        import psutil

        if self.proc is not None:
            try:
                tree = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            _, alive = psutil.wait_procs(tree, timeout=10)
            for leftover in alive:  # psutil checks the start time: a reused pid is left alone
                try:
                    leftover.kill()
                except psutil.NoSuchProcess:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One real Ray head for the session, started on first use."""
    cluster = RayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def ray_head(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> RayCluster:
    """The cluster, with the environment this test's drivers need (RAY_ADDRESS: ``auto`` finds it)."""
    for key, value in ray_cluster.env.items():
        monkeypatch.setenv(key, value)
    return ray_cluster
