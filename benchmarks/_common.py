"""Helpers shared by the benchmarks: timing, tables, temporary notebooks, finding peer tools.

Every benchmark imports this module first: ``quiet_environment()`` makes sure no benchmark
attaches to a run of the shell it was started from (``lab run -- python benchmarks/...``)
and that peer tools stay offline and do not print progress into the tables.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

NOT_INSTALLED = "not installed"
#: Debian's Chromium, as the browser benchmarks drive it (Playwright's own download cannot work here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
#: Where the README tells you to install the peer tools; used when this interpreter lacks them.
PEER_VENV = Path(os.environ.get("LABBOOK_BENCH_PEER_VENV", Path(__file__).resolve().parents[2] / "benchvenv"))

_QUIET_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_CODE": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "DO_NOT_TRACK": "true",
    "AIM_UI_TELEMETRY_ENABLED": "0",
    "GIT_PYTHON_REFRESH": "quiet",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def quiet_environment() -> None:
    """Detach from any enclosing labbook run and keep peer tools offline and silent."""
    for name in ("LABBOOK_RUN_ID", "LABBOOK_DIR", "LABBOOK_DEBUG"):
        os.environ.pop(name, None)
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for name in ("mlflow", "alembic", "wandb", "aim", "tensorboardX", "tensorboard", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a benchmark's subprocess: quiet, detached, plus ``extra``.

    PYTHONDONTWRITEBYTECODE is dropped: with it, an editable labbook recompiles every module
    on each start while installed peers load their .pyc, which is neither fair nor what a
    user's machine does (the .pyc files land in ``__pycache__``, which git ignores).
    """
    quiet_environment()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


# -- timing ----------------------------------------------------------------------


def now() -> float:
    return time.perf_counter()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def wall_times(
    argv: list[str], repeats: int = 5, warm_up: bool = True, check: bool = False, timeout: float = 900
) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    """Wall times of ``repeats`` runs of ``argv``, after one warm-up run that writes .pyc files.

    With ``check``, a failing run ends the benchmark with its stderr, since its times would mean nothing.
    """
    env = child_env(COLUMNS="120")
    if warm_up:
        subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    times: list[float] = []
    proc = None
    for _ in range(repeats):
        t0 = now()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        times.append(now() - t0)
        if check and proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    assert proc is not None
    return times, proc


def integrity(project: Path) -> str:
    """``PRAGMA integrity_check`` of a notebook's database, read outside labbook."""
    import sqlite3

    conn = sqlite3.connect(project / ".labbook" / "labbook.db")
    try:
        return ", ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# -- workloads -------------------------------------------------------------------


def loss_values(n: int, seed: int = 0) -> list[float]:
    """A decaying, noisy loss curve: realistic float64s that do not compress to nothing."""
    rng = random.Random(seed)
    return [1.0 / (1.0 + i / 1000.0) + 0.01 * rng.random() for i in range(n)]


# -- files and notebooks ---------------------------------------------------------


#: Where peers would otherwise leave caches and logs in the home directory.
_PEER_HOME_VARS = (
    "WANDB_CACHE_DIR",
    "WANDB_CONFIG_DIR",
    "WANDB_DATA_DIR",
    "WANDB_ARTIFACT_DIR",
    "MPLCONFIGDIR",
)


@contextlib.contextmanager
def temp_dir(label: str) -> Iterator[Path]:
    """A temporary directory removed afterwards, even when a peer left files open in it.

    While it exists, peers' home-directory caches (W&B logs, matplotlib's font cache) go
    inside it too, for this process and the subprocesses it starts, and so does TMPDIR for
    subprocesses (a child that leaves by ``os._exit`` cannot clean up its own temp files).
    """
    with tempfile.TemporaryDirectory(prefix=f"labbook-bench-{label}-", ignore_cleanup_errors=True) as tmp:
        saved = {name: os.environ.get(name) for name in (*_PEER_HOME_VARS, "TMPDIR")}
        for name in _PEER_HOME_VARS:
            os.environ[name] = str(Path(tmp) / ".peer-home" / name.lower())
        child_tmp = Path(tmp) / ".peer-home" / "tmp"
        child_tmp.mkdir(parents=True)
        os.environ["TMPDIR"] = str(child_tmp)
        try:
            yield Path(tmp)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def new_notebook(project: Path) -> Path:
    """Create ``project/.labbook`` and return ``project`` (what ``labbook.init(dir=...)`` takes)."""
    from labbook.service.notebook import Notebook

    project.mkdir(parents=True, exist_ok=True)
    nb, _, _ = Notebook.init(project)
    nb.close()
    return project


def dir_size(path: Path) -> int:
    """Bytes in the files under ``path`` (or of the file ``path``)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:  # a peer's temporary file vanished while we walked
            pass
    return total


def make_git_repo(path: Path) -> Path:
    """A small git repository with one commit, so that run capture has real work to do."""
    path.mkdir(parents=True, exist_ok=True)
    env = child_env(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    (path / "train.py").write_text("print('training')\n")
    (path / "README.md").write_text("a project\n")
    (path / "src").mkdir(exist_ok=True)
    for i in range(20):
        (path / "src" / f"mod{i}.py").write_text(f"X = {i}\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path


def commit_all(path: Path, message: str) -> None:
    env = child_env(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)


# -- peer tools ------------------------------------------------------------------


def try_import(name: str) -> ModuleType | None:
    """The module, or None when it is not installed (or fails to import at all)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:
        return None


def venv_bin(name: str) -> Path | None:
    """An executable of this interpreter's environment, else of the peer venv."""
    for directory in (Path(sys.prefix) / "bin", PEER_VENV / "bin"):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def lab_command() -> list[str]:
    """How to start ``lab``: the entry point next to this interpreter, else ``python -m labbook``."""
    exe = Path(sys.prefix) / "bin" / "lab"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("lab")
    return [found] if found else [sys.executable, "-m", "labbook"]


def run_python(
    code: str, *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one), capturing its output."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def child_output(argv: list[str], timeout: float, cwd: Path | None = None) -> tuple[dict[str, Any], str]:
    """Run ``argv``; (the JSON object of its last ``{`` line, its stderr), or a RuntimeError with
    stderr's last line when it printed none or failed."""
    import json

    proc = subprocess.run(argv, cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines or (cwd is not None and proc.returncode != 0):
        raise RuntimeError((proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
    result: dict[str, Any] = json.loads(lines[-1])
    return result, proc.stderr.strip()


def child_json(argv: list[str], timeout: float) -> dict[str, Any]:
    """``child_output`` without the stderr."""
    return child_output(argv, timeout)[0]


# -- printing --------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    """Seconds in the unit that reads best (ns, µs, ms, s)."""
    if seconds is None or seconds != seconds:
        return "—"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float | None) -> str:
    if n is None or n != n:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def against(measured: float | None, target: float, fmt: Callable[[float], str]) -> str:
    """The target beside a verdict, e.g. ``≤ 2.00 µs ok`` or ``≤ 100.0 ms MISSED``."""
    if measured is None or measured != measured:
        return f"≤ {fmt(target)}"
    return f"≤ {fmt(target)} {'ok' if measured <= target else 'MISSED'}"


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()
) -> None:
    """A plain fixed-width table: first column left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    print()
    print(title)
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def header(title: str) -> None:
    """What is being run, on what, so a pasted result explains itself."""
    import platform

    print(f"== {title} ==")
    print(
        f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPUs, {platform.platform()}"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start: {load} (anything else running skews these figures)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set; subprocesses are started without it")
    sys.stdout.flush()


def progress(message: str) -> None:
    """A line on stderr while a slow step runs, kept out of the tables on stdout."""
    print(f"... {message}", file=sys.stderr, flush=True)
