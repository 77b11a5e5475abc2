"""How the two sides differ besides the metric: parameters, code, environment and artifacts.

All from the runs' captures (git, the patch blob, the package list blob, the system) and
their artifact rows, so a reader sees at once whether a difference could come from
something other than the change being tested.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from labbook.records.runs import RunRecord
from labbook.service.compare.variants import NOISE

if TYPE_CHECKING:
    from labbook.records.artifacts import ArtifactDiff
    from labbook.service.notebook import Notebook


def _values_of(runs: list[RunRecord], key: str) -> list[Any]:
    seen: dict[str, Any] = {}
    for r in runs:
        v = r.params.get(key)
        seen.setdefault(repr(v), v)
    return list(seen.values())


def config_diff(
    a: list[RunRecord], b: list[RunRecord], noise: tuple[str, ...] = NOISE
) -> list[tuple[str, list[Any], list[Any]]]:
    """(key, A's values, B's values) for every parameter that differs, noise keys aside."""
    keys = sorted({k for r in a + b for k in r.params} - set(noise))
    out = []
    for key in keys:
        va, vb = _values_of(a, key), _values_of(b, key)
        if sorted(map(repr, va)) != sorted(map(repr, vb)):
            out.append((key, va, vb))
    return out


def _side_code(nb: Notebook, runs: list[RunRecord]) -> dict[str, Any]:
    commits: dict[str, int] = defaultdict(int)
    patches: dict[str, str] = {}
    for r in runs:
        git = r.capture.get("git") or {}
        commits[(git.get("commit") or "none")[:10]] += 1
        ref = r.capture.get("patch")
        digest = ref.get("blob") if isinstance(ref, dict) else None
        if git.get("dirty") and digest and digest not in patches:
            patches[digest] = nb.blob(ref) or ""
    return {"commits": dict(commits), "patches": patches}


def code_diff(nb: Notebook, a: list[RunRecord], b: list[RunRecord]) -> dict[str, Any]:
    """Commits per side, and the uncommitted patches (with their diff) when they differ."""
    ca, cb = _side_code(nb, a), _side_code(nb, b)
    same_commits = set(ca["commits"]) == set(cb["commits"])
    same_patches = set(ca["patches"]) == set(cb["patches"])
    out: dict[str, Any] = {
        "a_commits": ca["commits"],
        "b_commits": cb["commits"],
        "same_commits": same_commits,
        "same_patches": same_patches,
        "patch_diff": "",
    }
    if not same_patches:
        pa = next(iter(ca["patches"].values()), "")
        pb = next(iter(cb["patches"].values()), "")
        out["a_patch"], out["b_patch"] = pa, pb
        out["patch_diff"] = "".join(
            difflib.unified_diff(
                pa.splitlines(keepends=True), pb.splitlines(keepends=True), "A's patch", "B's patch"
            )
        )
    return out


def _packages(nb: Notebook, runs: list[RunRecord]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    for r in runs:
        ref = r.capture.get("packages")
        digest = ref.get("blob") if isinstance(ref, dict) else None
        if digest is None or digest in seen:
            continue
        seen.add(digest)
        for line in (nb.blob(ref) or "").splitlines():
            name, sep, version = line.partition("==")
            if sep:
                out[name.lower()].add(version)
            elif line.strip():
                out[line.split(" @ ")[0].removeprefix("-e ").strip().lower()].add(line.strip())
    return out


def _gpu(r: RunRecord) -> str:
    gpus = (r.capture.get("system") or {}).get("gpus") or []
    return ", ".join(g.get("name", "?") for g in gpus) or "none"


def environment_diff(nb: Notebook, a: list[RunRecord], b: list[RunRecord]) -> dict[str, Any]:
    """Packages whose versions differ, and Python, host and GPU when they differ."""
    pa, pb = _packages(nb, a), _packages(nb, b)
    packages = [
        (name, sorted(pa.get(name, {"-"})), sorted(pb.get(name, {"-"})))
        for name in sorted(set(pa) | set(pb))
        if pa.get(name) != pb.get(name) and (pa and pb)
    ]
    out: dict[str, Any] = {"packages": packages}
    for label, get in (
        ("python", lambda r: (r.capture.get("python") or {}).get("version") or "?"),
        ("host", lambda r: r.host or "?"),
        ("gpu", _gpu),
    ):
        va, vb = sorted({get(r) for r in a}), sorted({get(r) for r in b})
        out[label] = (va, vb, va != vb)
    return out


def artifact_diff(nb: Notebook, a: list[RunRecord], b: list[RunRecord]) -> tuple[ArtifactDiff, ArtifactDiff]:
    """(outputs, snapshot files) by name: the same name with another content, or on one side only.

    Snapshots are apart: an untracked source file that differs is a code difference, a
    checkpoint that differs is a result.
    """
    from labbook.service.artifacts import split_diff

    ids_a = {r.id for r in a}
    rows = nb.artifacts.of_runs([r.id for r in a + b])
    return split_diff([x for x in rows if x.run_id in ids_a], [x for x in rows if x.run_id not in ids_a])
