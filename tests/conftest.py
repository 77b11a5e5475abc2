"""Shared fixtures: real notebooks in temporary directories, the CLI in-process and as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from labbook.cli import cli
from labbook.service.notebook import Notebook

LAB = [sys.executable, "-m", "labbook"]

# One cache of slow probes (package lists, GPUs) for the whole session, outside the home directory.
os.environ.setdefault("LABBOOK_CACHE_DIR", tempfile.mkdtemp(prefix="labbook-test-cache-"))
_CONFIG_HOME = Path(tempfile.mkdtemp(prefix="labbook-test-config-"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a notebook or a run from the environment they were started in."""
    for name in ("LABBOOK_DIR", "LABBOOK_RUN_ID", "LABBOOK_DEBUG", "LABBOOK_SERVER", "LABBOOK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABBOOK_SYSTEM_INTERVAL", "0")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_CONFIG_HOME))  # never the user's lab login


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory holding a fresh notebook, as the current directory."""
    nb, _, _ = Notebook.init(tmp_path)
    nb.close()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def notebook(project: Path) -> Iterator[Notebook]:
    nb = Notebook.open(project)
    yield nb
    nb.close()


def namespaces_work() -> bool:
    """Whether this machine lets a test mount in a user namespace of its own (tmpfs, bind mounts)."""
    import shutil

    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


@pytest.fixture
def namespaces() -> None:
    """A real full disk or read-only mount needs a mount namespace of our own: never skipped."""
    if not namespaces_work():
        pytest.fail("this test mounts in `unshare --user --mount`; enable user namespaces")


def lab(*args: str, input: str | None = None) -> Result:
    """Invoke the CLI in-process, the way click documents for testing."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def lab_proc(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``lab`` as a real subprocess (for signals, exit codes and streaming)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [*LAB, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real single-node Slurm (with accounting) for the session, started on first use."""
    from .slurm_cluster import SlurmCluster

    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One real PostgreSQL for the session, started on first use; ``fresh_database()`` gives each test its own."""
    from .postgres_server import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture
def slurm(slurm_cluster: object, monkeypatch: pytest.MonkeyPatch) -> object:
    """The cluster, with SLURM_CONF set for this test's clients (lab, sbatch, squeue, sacct)."""
    for key, value in slurm_cluster.env.items():  # type: ignore[attr-defined]
        monkeypatch.setenv(key, value)
    return slurm_cluster


def wait_for(what: Callable[[], bool], timeout: float = 60.0, label: str = "the condition") -> None:
    """Poll a condition (state, not time, decides); fail after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {label}"
        time.sleep(0.01)
