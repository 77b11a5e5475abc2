"""Artifacts: files kept with runs by content (SDK, ``lab artifacts``, ``lab run --artifact / --snapshot``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

import labbook
from labbook.errors import BadInput, NotFound
from labbook.service.notebook import Notebook

from .conftest import lab, lab_proc

PY = sys.executable


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def contents(project: Path) -> list[Path]:
    """Every file of the artifacts folder, partial copies included."""
    folder = project / ".labbook" / "artifacts"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def new_run(project: Path) -> int:
    with Notebook.open(project) as nb:
        return nb.start_run(name="r").id


# -- the SDK ---------------------------------------------------------------------------


def test_two_runs_logging_the_same_file_keep_one_content_with_its_sha256(project: Path) -> None:
    model = project / "model.bin"
    model.write_bytes(os.urandom(300_000))
    with labbook.init() as run:
        first = run.log_artifact(model, kind="checkpoint")
    with labbook.init() as run:
        second = labbook.log_artifact(str(model), name="best/model.bin")
    assert first is not None and second is not None
    assert first.hash == second.hash == sha(model) and first.size == 300_000 and first.files == 1
    assert (first.name, second.name) == ("model.bin", "best/model.bin")
    assert contents(project) == [project / ".labbook" / "artifacts" / first.hash[:2] / first.hash]
    with Notebook.open(project) as nb:
        kept = nb.artifacts.get(1, "model.bin")
        assert sha(kept) == sha(model)
        assert [(a.name, a.kind) for a in nb.artifacts.list(1)] == [("model.bin", "checkpoint")]


def test_log_artifact_never_raises_into_training(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (project / "ckpt").mkdir()
    (project / "ckpt" / "a.pt").write_bytes(b"a")
    (project / "huge.pt").write_bytes(b"h" * 2048)
    assert lab("settings", "set", "artifact.limit", "1KB").exit_code == 0
    with labbook.init() as run:
        assert run.log_artifact(project / "missing.pt") is None
        assert run.log_artifact(project / "ckpt") is None  # a directory needs recursive=True
        assert run.log_artifact(project / "huge.pt") is None
        whole = run.log_artifact(project / "ckpt", recursive=True)
        run.log({"loss": 1.0})
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 3, err
    assert err[0].startswith("labbook: artifact ") and "no file or directory" in err[0]
    assert "is a directory; --recursive (recursive=True)" in err[1]
    assert "huge.pt is 2.0 KB, over the artifact limit of 1.0 KB; nothing was stored" in err[2]
    assert whole is not None and (whole.name, whole.files, whole.size) == ("ckpt", 1, 1)
    with Notebook.open(project) as nb:
        assert [a.name for a in nb.artifacts.list(1)] == ["ckpt/a.pt"]


def test_a_file_that_vanishes_mid_copy_leaves_nothing(project: Path) -> None:
    src = project / "growing.bin"
    src.write_bytes(os.urandom(20 << 20))  # large enough to be written by a second thread
    run_id = new_run(project)

    def vanish(done: int) -> None:
        if src.exists():
            src.unlink()

    with Notebook.open(project) as nb:
        with pytest.raises(BadInput, match="vanished while it was copied; nothing was stored"):
            nb.artifacts.add(run_id, src, progress=vanish)
        assert nb.artifacts.list(run_id) == []
    assert contents(project) == []  # neither a partial copy nor a content under its final name


def test_a_file_that_changes_mid_copy_is_refused(project: Path) -> None:
    src = project / "log.txt"
    src.write_bytes(b"x" * (3 << 20))

    def append(done: int) -> None:
        with src.open("ab") as fh:
            fh.write(b"more")

    with Notebook.open(project) as nb:
        run_id = nb.start_run().id
        with pytest.raises(BadInput, match="changed while it was copied"):
            nb.artifacts.add(run_id, src, progress=append)
        assert nb.artifacts.list(run_id) == []
    assert contents(project) == []


def test_an_unreadable_file_is_one_warning(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with labbook.init() as run:  # reading /proc/self/mem from its start fails with EIO, even as root
        assert run.log_artifact("/proc/self/mem", name="mem") is None
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "cannot read /proc/self/mem" in err and "nothing was stored" in err
    assert contents(project) == []


def test_a_large_file_is_streamed(project: Path) -> None:
    src = project / "big.bin"
    block = os.urandom(1 << 20)
    with src.open("wb") as fh:
        for _ in range(50):
            fh.write(block)
    with Notebook.open(project) as nb:
        run_id = nb.start_run().id
        tracemalloc.start()
        try:
            (art,) = nb.artifacts.add(run_id, src)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak:,} bytes for a 50 MB file"
    assert art.size == 50 << 20 and art.hash == sha(src)


def test_garbage_collection_deletes_only_unreferenced_contents(project: Path) -> None:
    kept = project / "kept.bin"
    kept.write_bytes(b"kept")
    with labbook.init() as run:
        run.log_artifact(kept)
    folder = project / ".labbook" / "artifacts"
    orphan = os.urandom(1000)
    digest = hashlib.sha256(orphan).hexdigest()
    (folder / digest[:2]).mkdir(exist_ok=True)
    (folder / digest[:2] / digest).write_bytes(orphan)  # as a process killed before its row leaves it
    (folder / ".partial-0123abcd").write_bytes(b"half")  # a copy killed half way
    young = os.urandom(10)
    young_digest = hashlib.sha256(young).hexdigest()
    (folder / young_digest[:2]).mkdir(exist_ok=True)
    (folder / young_digest[:2] / young_digest).write_bytes(young)
    hour_ago = time.time() - 7200
    for p in contents(project):
        if young_digest not in p.name:
            os.utime(p, (hour_ago, hour_ago))
    with Notebook.open(project) as nb:
        assert nb.artifacts.collect_garbage() == (2, 1004)
        assert sha(nb.artifacts.get(1, "kept.bin")) == sha(kept)
    left = [p.name for p in contents(project)]
    assert sorted(left) == sorted([sha(kept), young_digest])  # a fresh one may belong to an add under way


def test_a_content_named_again_before_collection_is_kept(project: Path) -> None:
    """An old content nobody named is taken only if no row names it once it is out of place."""
    data = project / "again.bin"
    data.write_bytes(b"again")
    run_id = new_run(project)
    with Notebook.open(project) as nb:
        nb.artifacts.add(run_id, data)
        path = nb.artifacts.get(run_id, "again.bin")
        os.utime(path, (0, 0))
        assert nb.artifacts.collect_garbage() == (0, 0)
        assert path.read_bytes() == b"again"


# -- lab artifacts ---------------------------------------------------------------------


def test_lab_artifacts_add_ls_get(project: Path, tmp_path: Path) -> None:
    run_id = new_run(project)
    (project / "model.pt").write_bytes(b"weights")
    out = lab("artifacts", "add", str(run_id), "model.pt", "--kind", "checkpoint")
    assert out.exit_code == 0, out.output
    assert out.output == f"stored model.pt (7 B, sha256 {sha(project / 'model.pt')[:12]})\n"
    listed = lab("artifacts", "ls", str(run_id))
    assert listed.output.splitlines()[2].split() == [
        "model.pt",
        "checkpoint",
        "7",
        "B",
        sha(project / "model.pt")[:12],
    ]
    rows = json.loads(lab("artifacts", "ls", str(run_id), "--json").output)
    assert [(r["name"], r["kind"], r["size"], r["hash"]) for r in rows] == [
        ("model.pt", "checkpoint", 7, sha(project / "model.pt"))
    ]
    dest = tmp_path / "elsewhere"
    dest.mkdir()
    got = lab("artifacts", "get", str(run_id), "model.pt", "-o", str(dest))
    assert got.exit_code == 0 and (dest / "model.pt").read_bytes() == b"weights"


def test_get_never_overwrites_without_force(project: Path) -> None:
    run_id = new_run(project)
    (project / "sub").mkdir()
    (project / "sub" / "a.txt").write_text("stored")
    assert lab("artifacts", "add", str(run_id), "sub/a.txt", "--name", "dir/a.txt").exit_code == 0
    (project / "a.txt").write_text("mine")
    refused = lab("artifacts", "get", str(run_id), "dir/a.txt")  # default: ./a.txt
    assert refused.exit_code == 2
    assert refused.output == "error: a.txt exists; --force replaces it\n"
    assert (project / "a.txt").read_text() == "mine"
    assert [p.name for p in project.iterdir() if p.name.startswith(".partial-")] == []  # no partial left
    assert lab("artifacts", "get", str(run_id), "dir/a.txt", "--force").exit_code == 0
    assert (project / "a.txt").read_text() == "stored"


def test_an_unknown_name_lists_the_names(project: Path) -> None:
    run_id = new_run(project)
    for name in ("b.txt", "a.txt"):
        (project / name).write_text(name)
        lab("artifacts", "add", str(run_id), name)
    out = lab("artifacts", "get", str(run_id), "c.txt")
    assert out.exit_code == 2
    assert out.output == f"error: run {run_id} has no artifact 'c.txt'; its artifacts: a.txt, b.txt\n"


def test_a_directory_needs_recursive(project: Path) -> None:
    run_id = new_run(project)
    (project / "ckpt" / "deep").mkdir(parents=True)
    (project / "ckpt" / "deep" / "w.pt").write_text("w")
    (project / "ckpt" / "opt.pt").write_text("o")
    refused = lab("artifacts", "add", str(run_id), "ckpt")
    assert refused.exit_code == 2
    assert (
        refused.output
        == "error: ckpt is a directory; --recursive (recursive=True) keeps every file under it\n"
    )
    assert lab("artifacts", "add", str(run_id), "ckpt", "--recursive", "--name", "last").exit_code == 0
    names = [r["name"] for r in json.loads(lab("artifacts", "ls", str(run_id), "--json").output)]
    assert names == ["last/deep/w.pt", "last/opt.pt"]


def test_over_the_limit_is_refused_and_nothing_stored(project: Path) -> None:
    assert lab("settings", "set", "artifact.limit", "1KB").exit_code == 0
    run_id = new_run(project)
    (project / "ckpt").mkdir()
    (project / "ckpt" / "small.pt").write_bytes(b"s" * 100)
    (project / "ckpt" / "large.pt").write_bytes(b"l" * 2000)
    out = lab("artifacts", "add", str(run_id), "ckpt", "--recursive")
    assert out.exit_code == 2
    assert out.output.startswith("error: ckpt/large.pt is 2.0 KB, over the artifact limit of 1.0 KB; nothing")
    assert lab("artifacts", "ls", str(run_id), "--json").output.strip() == "[]"
    assert contents(project) == []


def test_size_settings_are_checked(project: Path) -> None:
    bad = lab("settings", "set", "snapshot.limit", "lots")
    assert bad.exit_code == 2 and "'lots' is not a size" in bad.output
    assert lab("settings", "set", "snapshot", "maybe").exit_code == 2
    assert lab("settings", "set", "snapshot.file-limit", "2MB").output == 'snapshot.file-limit = "2MB"\n'


# -- lab run --artifact -----------------------------------------------------------------

WRITER = """\
import os, sys
os.makedirs("out/deep", exist_ok=True)
open("out/model.pt", "w").write("model " + sys.argv[1])
open("out/deep/metrics.json", "w").write("{}")
sys.exit(int(sys.argv[2]))
"""


def test_lab_run_keeps_the_matching_files_whatever_the_exit(project: Path) -> None:
    (project / "write.py").write_text(WRITER)
    proc = lab_proc(
        "run", "--artifact", "out/**/*.json", "--artifact", "out/*.pt", "--artifact", "logs/*.txt",
        "--", PY, "write.py", "x", "3", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 3
    assert f"labbook: --artifact 'logs/*.txt' matched no file in {project}" in proc.stderr.splitlines()
    shown = json.loads(lab("show", "1", "--json").output)
    assert shown["status"] == "failed"
    assert [(a["name"], a["kind"]) for a in shown["artifacts"]] == [
        ("out/deep/metrics.json", "output"),
        ("out/model.pt", "output"),
    ]
    text = lab("show", "1").output
    assert f"artifacts  out/deep/metrics.json (2 B, {shown['artifacts'][0]['hash'][:12]})" in text


def test_every_run_of_a_sweep_keeps_its_files(project: Path) -> None:
    (project / "write.py").write_text(WRITER)
    (project / "cfg.yaml").write_text("tag: a\n")
    proc = lab_proc(
        "run", "-q", "-c", "cfg.yaml", "tag=a,b", "--artifact", "out/model.pt",
        "--", PY, "write.py", "{tag}", "0", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Notebook.open(project) as nb:
        kept = {r.id: [a.name for a in nb.artifacts.list(r)] for r in nb.list_runs()[0]}
        assert kept == {1: ["out/model.pt"], 2: ["out/model.pt"]}
        assert nb.artifacts.differ(1, 2).changed == ["out/model.pt"]


# -- lab run --snapshot -----------------------------------------------------------------


def repo(project: Path) -> None:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".labbook/\nignored/\n")
    (project / "train.py").write_text("import helper\nprint(helper.X)\n")
    git(project, "add", ".gitignore", "train.py")
    git(project, "commit", "-q", "-m", "first")
    (project / "helper.py").write_text("X = 1\n")
    (project / "notes").mkdir()
    (project / "notes" / "big.txt").write_text("n" * 5000)
    (project / "ignored").mkdir()
    (project / "ignored" / "data.csv").write_text("a,b\n")
    (project / "venv" / "lib").mkdir(parents=True)
    (project / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (project / "venv" / "lib" / "site.py").write_text("")


def test_snapshot_keeps_untracked_source_within_the_limits(project: Path) -> None:
    repo(project)
    lab("settings", "set", "snapshot.file-limit", "1KB")
    proc = lab_proc("run", "--snapshot", "--", PY, "train.py", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (
        "snapshot: kept 1 untracked file(s), 6 B; skipped 1 over the limits (lab show 1 lists them)"
        in proc.stderr
    )
    shown = json.loads(lab("show", "1", "--json").output)
    assert [(a["name"], a["kind"]) for a in shown["artifacts"]] == [("helper.py", "snapshot")]
    snap = shown["capture"]["snapshot"]
    assert snap["files"] == 1 and snap["skipped_count"] == 1 and snap["environments"] == ["venv/"]
    assert snap["skipped"] == [
        {"path": "notes/big.txt", "size": 5000, "why": "over the per-file limit of 1.0 KB"}
    ]
    assert (
        "snapshot   1 untracked file, 6 B; 1 skipped over the limits: notes/big.txt"
        in lab("show", "1").output
    )


def test_the_snapshot_setting_turns_it_on_and_no_snapshot_off(project: Path) -> None:
    repo(project)
    assert lab("settings", "set", "snapshot", "on").output == "snapshot = true\n"
    assert lab_proc("run", "-q", "--", PY, "train.py", cwd=project).returncode == 0
    assert lab_proc("run", "-q", "--no-snapshot", "--", PY, "train.py", cwd=project).returncode == 0
    with Notebook.open(project) as nb:
        assert [a.name for a in nb.artifacts.list(1)] == ["helper.py", "notes/big.txt"]
        assert nb.artifacts.list(2) == []


def test_names_that_would_leave_the_run_are_refused(project: Path) -> None:
    run_id = new_run(project)
    (project / "f.txt").write_text("f")
    with Notebook.open(project) as nb:
        for name in ("../f.txt", "/etc/f.txt", "a/../../f", "."):
            with pytest.raises(BadInput, match="give a relative path"):
                nb.artifacts.add(run_id, project / "f.txt", name=name)
        with pytest.raises(NotFound):
            nb.artifacts.get(run_id, "f.txt")


def test_collection_during_an_add_of_the_same_content_keeps_it(project: Path) -> None:
    """An old orphan is collected while an add of the same bytes is under way: the add's own copy
    takes its place, so the new row never names a missing content."""
    src = project / "weights.bin"
    src.write_bytes(os.urandom(3 << 20))
    digest = sha(src)
    folder = project / ".labbook" / "artifacts" / digest[:2]
    folder.mkdir(parents=True)
    (folder / digest).write_bytes(src.read_bytes())  # left by a deleted run
    os.utime(folder / digest, (0, 0))
    run_id = new_run(project)
    collected: list[tuple[int, int]] = []

    def collect_meanwhile(done: int) -> None:
        if not collected:
            with Notebook.open(project) as other:  # another process's connection
                collected.append(other.artifacts.collect_garbage(grace_s=60))

    with Notebook.open(project) as nb:
        nb.artifacts.add(run_id, src, progress=collect_meanwhile)
        assert collected == [(1, 3 << 20)]  # the orphan went (no row named it yet)
        assert sha(nb.artifacts.get(run_id, "weights.bin")) == digest
