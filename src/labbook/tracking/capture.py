"""What a run needs to be reproduced: code state, environment, interpreter, machine.

Slow probes are cached: the package list per interpreter (keyed on its site-packages
directories' modification times, so an install or upgrade invalidates it) and the GPU
list per boot. Nothing here raises on a missing tool; it records why something is absent.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

#: Environment variables worth recording. Globs; extend with LABBOOK_ENV_ALLOW="A,B_*".
ENV_ALLOW = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_VISIBLE_DEVICES",
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "PYTHONOPTIMIZE",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TORCH_*",
    "PYTORCH_*",
    "NCCL_*",
    "XLA_*",
    "JAX_*",
    "TF_*",
    "HF_HOME",
    "HF_DATASETS_*",
    "TRANSFORMERS_*",
    "TOKENIZERS_PARALLELISM",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "SLURM_JOB_ID",
    "SLURM_ARRAY_*",
    "SLURM_JOB_NAME",
    "SLURM_NODELIST",
    "SLURM_JOB_PARTITION",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "LANG",
    "LC_ALL",
    "TZ",
)
#: Never recorded, whatever the allow-list says.
ENV_DENY = (
    "*TOKEN*",
    "*KEY*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*PRIVATE*",
    "*AUTH*",
    "*COOKIE*",
    "*SESSION*",
)

MAX_PATCH_BYTES = 5_000_000
MAX_UNTRACKED = 200  # paths kept of the untracked files; all of them are counted
#: What marks a directory as a Python environment (venv, virtualenv, uv, conda).
VENV_MARKERS = ("pyvenv.cfg", "bin/python", "Scripts/python.exe", "conda-meta")


_T = TypeVar("_T")


def env_vars(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment, secrets removed."""
    environ = dict(os.environ if environ is None else environ)
    allow = list(ENV_ALLOW) + [
        p.strip() for p in environ.get("LABBOOK_ENV_ALLOW", "").split(",") if p.strip()
    ]
    out = {}
    for name, value in environ.items():
        upper = name.upper()
        if any(fnmatch.fnmatchcase(upper, d) for d in ENV_DENY):
            continue
        if any(fnmatch.fnmatchcase(name, a) for a in allow):
            out[name] = value
    return dict(sorted(out.items()))


def _git(cwd: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _out(proc: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def _strip_credentials(url: str) -> str:
    return re.sub(r"//[^/@]+@", "//", url)


def git_state(cwd: str) -> dict[str, Any]:
    """Commit, branch, dirty patch and untracked files of the repository around ``cwd``."""
    if shutil.which("git") is None:
        return {"repo": None, "reason": "git is not installed"}
    # Independent queries run at once: capture is on the path of labbook.init().
    # Untracked directories come collapsed ("dir/"), so a virtualenv of 30k files costs nothing here.
    status = _git(cwd, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal")
    top = _git(cwd, "rev-parse", "--show-toplevel")
    remote = _git(cwd, "remote", "get-url", "origin")
    code, raw = _out(status)
    top_code, top_out = _out(top)
    remote_code, remote_out = _out(remote)
    if code != 0:
        return {"repo": None, "reason": "not a git repository"}
    commit = branch = None
    untracked: list[str] = []
    dirty = False
    for entry in raw.decode("utf-8", "replace").split("\0"):
        if entry.startswith("# branch.oid "):
            oid = entry.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry.split(" ", 2)[-1]
            branch = None if head == "(detached)" else head
        elif entry.startswith("? "):
            untracked.append(entry[2:])
        elif entry and not entry.startswith("#"):
            dirty = True
    root = top_out.decode().strip() if top_code == 0 else None
    files, count, envs = _untracked(root or cwd, untracked)
    patch = ""
    if dirty:
        args = ("diff", "HEAD", "--binary") if commit else ("diff", "--cached", "--binary")
        patch = _out(_git(cwd, *args))[1].decode("utf-8", "replace")
    out: dict[str, Any] = {
        "repo": root,
        "commit": commit,
        "branch": branch,
        "dirty": dirty,
        "untracked": files,
        "untracked_count": count,
        "remote": _strip_credentials(remote_out.decode().strip()) if remote_code == 0 else None,
        "patch_bytes": len(patch.encode("utf-8")),
    }
    if envs:
        out["untracked_envs"] = envs
    if commit is None:
        out["reason"] = "the repository has no commit yet"
    if out["patch_bytes"] > MAX_PATCH_BYTES:
        out["patch_truncated"] = True
        patch = patch.encode("utf-8")[:MAX_PATCH_BYTES].decode("utf-8", "ignore")
    out["patch"] = patch
    return out


def _untracked(root: str, entries: list[str]) -> tuple[list[str], int, list[str]]:
    """The first ``MAX_UNTRACKED`` untracked files, how many there are, and the Python
    environments among them (set aside, neither listed nor counted: they are not code).

    ``entries`` is ``git status``'s collapsed list; its directories other than
    environments are expanded with ``git ls-files``, by git's own ignore rules. Only the
    paths kept are decoded, so a large data directory costs one count.
    """
    dirs = [e for e in entries if e.endswith("/")]
    envs = [d for d in dirs if _is_env(Path(root, d))]
    files = [e for e in entries if not e.endswith("/")]
    if len(envs) == len(dirs):
        return files[:MAX_UNTRACKED], len(files), envs
    skip = [f":(exclude){d}" for d in envs]
    code, raw = _out(_git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".", *skip))
    if code != 0:
        return files[:MAX_UNTRACKED], len(entries) - len(envs), envs
    found = raw.split(b"\0")[:-1]
    if b"pyvenv.cfg" in raw or b"conda-meta/" in raw:  # an environment deeper down
        found, nested = without_environments(found)
        envs += nested
    names = [f.decode("utf-8", "replace") for f in found[:MAX_UNTRACKED]]
    return names, len(found), envs


def _is_env(path: Path) -> bool:
    return any((path / marker).exists() for marker in VENV_MARKERS)


def without_environments(found: list[bytes]) -> tuple[list[bytes], list[str]]:
    """Untracked paths (git's, as bytes) without the files of Python environments among them
    (``envs/py311/``), and those environments' folders; an environment at the root is not one."""
    prefixes = {
        f[: f.rindex(marker) + 1]
        for f in found
        for marker in (b"/pyvenv.cfg", b"/conda-meta/history")
        if f.endswith(marker)
    }
    if not prefixes:
        return found, []
    starts = tuple(prefixes)
    kept = [f for f in found if not f.startswith(starts)]
    return kept, sorted(p.decode("utf-8", "replace") for p in prefixes)


def env_hint(git: dict[str, Any], cache_dir: Path | None) -> str | None:
    """A line asking to ignore the first untracked environment, once per environment and
    user (a marker in ``cache_dir``): repeated on every run it would be noise."""
    envs = git.get("untracked_envs") or []
    if not envs or cache_dir is None or git.get("repo") is None:
        return None
    where = os.path.join(git["repo"], envs[0])
    marker = cache_dir / "hints" / f"untracked-env-{hashlib.sha256(where.encode()).hexdigest()[:16]}"
    if marker.exists():
        return None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        return None  # better never said than said on every run
    return (
        f"{envs[0]} in {git['repo']} looks like a Python environment that git does not ignore; "
        f"add {envs[0]} to .gitignore (runs leave it out of their untracked files)"
    )


# -- interpreter and packages ----------------------------------------------------

_FREEZE = r"""
import importlib.metadata as md, json, sys
rows = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if not name or name.lower() in rows:
        continue
    line = f"{name}=={d.version}"
    raw = d.read_text("direct_url.json")
    if raw:
        info = json.loads(raw)
        if info.get("dir_info", {}).get("editable"):
            line = f"-e {info['url']}"
        elif "vcs_info" in info or "archive_info" in info:
            line = f"{name} @ {info['url']}"
    rows[name.lower()] = line
result = {"version": sys.version.split()[0], "implementation": sys.implementation.name,
          "executable": sys.executable, "freeze": "\n".join(rows[k] for k in sorted(rows))}
"""


def _site_dirs(executable: str) -> list[Path]:
    prefix = Path(executable).parent.parent
    dirs = sorted(prefix.glob("lib/python*/site-packages")) + sorted(prefix.glob("Lib/site-packages"))
    if Path(executable).absolute() == Path(sys.executable).absolute():
        dirs += [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return sorted(set(dirs))


def _cache_key(executable: str) -> str:
    parts = [os.path.abspath(executable)]
    for d in _site_dirs(executable):
        try:
            parts.append(f"{d}:{d.stat().st_mtime_ns}")
        except OSError:
            pass
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _cached(path: Path | None, compute: Callable[[], _T]) -> _T:
    """``compute()``, remembered as JSON at ``path`` (written atomically) when a path is given."""
    if path is not None and path.is_file():
        try:
            return cast(_T, json.loads(path.read_text()))  # what compute() returned and was saved
        except (OSError, ValueError):
            pass
    value = compute()
    if path is not None and value is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(value))
            os.replace(tmp, path)
        except OSError:
            pass
    return value


def _query_python(executable: str) -> dict[str, Any] | None:
    if os.path.abspath(executable) == os.path.abspath(sys.executable):
        # Run here without touching sys.stdout: this runs in a background thread while the
        # user's code prints, and redirecting stdout would swallow their lines.
        scope: dict[str, Any] = {"__name__": "labbook_freeze"}
        exec(_FREEZE, scope)
        return scope["result"]  # type: ignore[no-any-return]
    try:
        code = _FREEZE + "print(json.dumps(result))\n"
        proc = subprocess.run([executable, "-c", code], capture_output=True, timeout=120)
        frozen: dict[str, Any] | None = json.loads(proc.stdout)
        return frozen
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def python_info(executable: str | None = None, cache_dir: Path | None = None) -> dict[str, Any]:
    """Version and ``pip freeze``-style package list of an interpreter (cached)."""
    executable = executable or sys.executable
    cache = cache_dir / f"python-{_cache_key(executable)}.json" if cache_dir else None
    info = _cached(cache, lambda: _query_python(executable))
    return info or {"executable": executable, "reason": "could not query this interpreter"}


def command_python(argv: list[str]) -> str | None:
    """The interpreter a command will run, when it is a Python command."""
    if not argv:
        return None
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    if re.fullmatch(r"python[\d.]*", Path(exe).name):
        return exe
    try:
        with open(exe, "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return None
    if first.startswith(b"#!"):
        tokens = first[2:].decode("utf-8", "replace").split()
        if tokens and Path(tokens[0]).name == "env" and len(tokens) > 1:
            tokens = tokens[1:]
        if tokens and re.fullmatch(r"python[\d.]*", Path(tokens[0]).name):
            return shutil.which(tokens[0]) or tokens[0]
    return None


# -- machine ---------------------------------------------------------------------


def _query_gpus() -> list[dict[str, Any]]:
    if shutil.which("nvidia-smi") is None:
        return []
    query = [
        "nvidia-smi",
        "--query-gpu=index,name,memory.total,driver_version",
        "--format=csv,noheader,nounits",
    ]
    try:
        proc = subprocess.run(query, capture_output=True, text=True, timeout=20)
        out = []
        for line in proc.stdout.strip().splitlines():
            idx, name, mem, driver = (x.strip() for x in line.split(","))
            out.append({"index": int(idx), "name": name, "memory_mb": float(mem), "driver": driver})
        return out
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def gpus(cache_dir: Path | None = None, boot: str = "") -> list[dict[str, Any]]:
    """GPUs seen by ``nvidia-smi`` (empty when there is none); cached per boot."""
    return _cached(cache_dir / f"gpus-{boot or 'unknown'}.json" if cache_dir else None, _query_gpus)


def system_info(cache_dir: Path | None = None) -> dict[str, Any]:
    from labbook.service.liveness import boot_id, hostname

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    boot = boot_id()
    return {
        "hostname": hostname(),
        **_platform(cache_dir, boot),
        "cpu_count": os.cpu_count(),
        "ram_bytes": ram,
        "gpus": gpus(cache_dir, boot),
    }


def _platform(cache_dir: Path | None, boot: str) -> dict[str, str]:
    """OS and machine; cached per boot, since ``platform.platform()`` reads the interpreter's
    binary to find the C library (tens of milliseconds a run otherwise)."""
    path = (
        cache_dir / f"platform-{boot or 'unknown'}-{_cache_key(sys.executable)[:8]}.json"
        if cache_dir
        else None
    )
    return _cached(path, lambda: {"platform": platform.platform(), "machine": platform.machine()})


def capture_all(
    argv: list[str],
    cwd: str,
    environ: dict[str, str] | None = None,
    python: str | None = None,
    cache_dir: Path | None = None,
    with_python: bool = True,
) -> dict[str, Any]:
    """Everything recorded about a run at its start.

    ``with_python=False``: the command is not a Python one, so which interpreter (if any)
    it ends up running is unknown here; an SDK attaching to the run records its own.
    """
    git = git_state(cwd)
    patch = git.pop("patch", "")
    hint = env_hint(git, cache_dir)
    if hint:
        _say(hint)
    from labbook import __version__

    out: dict[str, Any] = {
        "argv": argv,
        "cwd": cwd,
        "git": git,
        "env": env_vars(environ),
        "system": system_info(cache_dir),
        "labbook": __version__,
    }
    if patch:
        out["patch"] = patch
    if with_python:
        out.update(python_capture(python, cache_dir))
    return out


def _say(message: str) -> None:
    try:
        print(f"labbook: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # no stderr left (a closed pipe): the run goes on regardless
        pass


def python_capture(executable: str | None = None, cache_dir: Path | None = None) -> dict[str, Any]:
    """The ``python`` and ``packages`` entries of a capture, for ``executable`` (default: this one)."""
    py = python_info(executable, cache_dir)
    packages = py.pop("freeze", None)
    return {"python": py, **({"packages": packages} if packages is not None else {})}
