"""The store at its edges: busy, full, read-only and damaged notebooks, values SQLite
cannot hold, and --where nested past what the parser takes.

Real SQLite files throughout, and a second process wherever the situation needs one: a
process holding the write lock, a reader that file modes bind, a tmpfs that fills up, a
read-only bind mount. Every failure must reach the user as one line saying what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import labbook
from labbook.core.exquery import parse_example_where
from labbook.core.query import MAX_DEPTH
from labbook.errors import BadInput, NotebookBusy, QueryError, StoreError
from labbook.records.runs import RunRecord
from labbook.service.notebook import Notebook
from labbook.store.sqlite.query import where_sql

from .conftest import LAB, lab_proc


def one_line(text: str) -> str:
    """The only line of ``text``, which must be neither a traceback nor an internal error."""
    assert "Traceback" not in text and "internal error" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def read_run(project: Path, ref: int) -> RunRecord:
    with Notebook.open(project) as nb:
        return nb.get_run(ref)


# -- a busy notebook ------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()  # hold the write lock until the test closes our stdin
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def write_lock_held(db: Path) -> Iterator[None]:
    """Another process holds the notebook's write lock for the duration of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_write_that_waits_out_the_busy_timeout_is_one_line_naming_the_file_and_wait(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABBOOK_BUSY_TIMEOUT", "1")
    db = (project / ".labbook" / "labbook.db").resolve()
    with Notebook.open(project) as nb:
        run = nb.start_run(name="r")
        with write_lock_held(db):
            with pytest.raises(NotebookBusy) as caught:
                nb.set_summary(run.id, {"best": 1})  # what run.summary["best"] = 1 does
            proc = lab_proc("note", "written while locked", cwd=project)
        nb.set_summary(run.id, {"best": 1})  # the lock is gone: trying again works
        assert nb.get_run(run.id).summary == {"best": 1}
    message = str(caught.value)
    assert isinstance(caught.value, StoreError) and "\n" not in message
    assert str(db) in message and "1 s" in message and "try again" in message
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("error: ") and str(db) in line and "1 s" in line and "LABBOOK_BUSY_TIMEOUT" in line
    assert "written while locked" not in lab_proc("journal", "--since", "all", cwd=project).stdout


# -- a full disk ----------------------------------------------------------------------


needs_namespaces = pytest.mark.usefixtures("namespaces")

FILL_THEN_WRITE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pathlib import Path
    from labbook.service.notebook import Notebook

    disk = Path(sys.argv[1])
    nb, _, _ = Notebook.init(disk / "project")
    run = nb.start_run(name="r")
    nb.set_summary(run.id, {"kept": 1})
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    for size in (1 << 16, 512, 1):  # down to the last byte
        try:
            while os.write(fd, b"0" * size):
                pass
        except OSError:
            pass
    os.close(fd)
    out = {}
    try:
        nb.set_summary(run.id, {"notes": "x" * 300_000})
    except Exception as err:
        out["error"] = [type(err).__name__, isinstance(err, Exception) and type(err).__mro__[1].__name__, str(err)]
    out["summary"] = sorted(nb.get_run(run.id).summary)
    note = subprocess.run(
        [sys.executable, "-m", "labbook", "note", "y" * 100_000],
        cwd=disk / "project", capture_output=True, text=True,
    )
    out["note"] = [note.returncode, note.stderr]
    print(json.dumps(out))
    """
)


def in_mount_namespace(mount: str, path: Path, code: str) -> Any:
    """Run ``code`` (with ``path`` as its argument) after ``mount`` in a user and mount namespace
    of its own; the JSON it prints."""
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         f'{mount} && exec "$2" -c "$3" "$1"', "sh", str(path), sys.executable, code],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_namespaces
def test_a_full_disk_is_one_line_and_keeps_what_was_there(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    out = in_mount_namespace('mount -t tmpfs -o size=1m tmpfs "$1"', disk, FILL_THEN_WRITE)
    kind, base, message = out["error"]
    assert (kind, base) == ("NotebookFull", "StoreError")
    assert "full" in message and "free some space" in message and "\n" not in message
    assert out["summary"] == ["kept"]  # the refused write left the notebook as it was
    code, stderr = out["note"]
    assert code == 1
    assert "is full; free some space" in one_line(stderr)


# -- a read-only notebook ---------------------------------------------------------------

AS_READER = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: how root ignores modes
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone for every program exec'd from here
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    os.execv(sys.executable, [sys.executable, "-m", "labbook", *sys.argv[1:]])
    """
)


def lab_as_reader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lab`` in a process that file modes bind, as they bind any user.

    Root ignores modes through three capabilities; this drops them before ``lab`` starts
    (setuid to nobody would do too, but the interpreter may live in root's 0700 home, as
    it does on the machine these tests were written on). Not root: modes bind already.
    """
    command = [sys.executable, "-c", AS_READER, *args] if os.geteuid() == 0 else [*LAB, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def _writable_again(base: Path) -> None:
    for directory, _, _ in os.walk(base):
        os.chmod(directory, 0o755)


MAKE_RUNS = textwrap.dedent(
    """
    import sys
    import labbook
    for lr in (0.1, 0.01):
        for seed in range(3):
            with labbook.init(config={"lr": lr, "seed": seed}, name=f"lr{lr}-s{seed}", dir=sys.argv[1]) as run:
                for step in range(5):
                    run.log({"loss": 1 / (step + 1) + lr + seed / 100}, step=step)
    """
)


@pytest.fixture
def shared_project() -> Iterator[Path]:
    """A project with six finished runs (lr 0.1 and 0.01, three seeds each) in a directory
    any user may read: pytest's own temporary directories are 0o700."""
    base = Path(tempfile.mkdtemp(prefix="labbook-shared-"))
    base.chmod(0o755)
    project = base / "project"
    project.mkdir()
    project.chmod(0o755)
    Notebook.init(project)[0].close()
    # In a process of its own, so that every connection is closed (no -wal, no -shm) when
    # the notebook becomes read-only: the case that could not even be listed.
    subprocess.run([sys.executable, "-c", MAKE_RUNS, str(project)], check=True, timeout=300)
    try:
        yield project
    finally:
        _writable_again(base)
        shutil.rmtree(base)


def _read_only(path: Path) -> None:
    subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)


def test_a_read_only_notebook_can_be_read_and_refuses_writes_in_one_line(shared_project: Path) -> None:
    _read_only(shared_project)
    root = shared_project / ".labbook"
    before = sorted(p.name for p in root.iterdir())
    assert before == [".gitignore", "labbook.db", "runs"]  # no -shm, and none can be made
    listed = lab_as_reader("ls", cwd=shared_project)
    assert listed.returncode == 0, listed.stderr
    assert all(f"lr{lr}-s{seed}" in listed.stdout for lr in (0.1, 0.01) for seed in range(3))
    filtered = lab_as_reader("ls", "--where", "params.lr > 0.05", "--json", cwd=shared_project)
    assert filtered.returncode == 0, filtered.stderr
    assert sorted(r["name"] for r in json.loads(filtered.stdout)) == ["lr0.1-s0", "lr0.1-s1", "lr0.1-s2"]
    shown = lab_as_reader("show", "1", cwd=shared_project)
    assert shown.returncode == 0 and "lr0.1-s0" in shown.stdout, shown.stderr
    series = lab_as_reader("metrics", "1", "loss", "--json", cwd=shared_project)
    assert series.returncode == 0, series.stderr
    assert "1.1" in series.stdout
    compared = lab_as_reader("compare", "lr=0.1", "lr=0.01", "--metric", "loss", cwd=shared_project)
    assert compared.returncode == 0, compared.stderr
    assert "verdict" in compared.stdout

    note = lab_as_reader("note", "cannot be written", cwd=shared_project)
    assert note.returncode == 1
    line = one_line(note.stderr)
    assert f"the notebook at {root} is read-only" in line and "lab backup" in line
    assert sorted(p.name for p in root.iterdir()) == before


RO_MOUNT_DRIVER = textwrap.dedent(
    """
    import json, subprocess, sys
    out = {}
    for args in (["ls", "--json"], ["show", "4"], ["note", "on a read-only mount"]):
        p = subprocess.run([sys.executable, "-m", "labbook", *args], cwd=sys.argv[1], capture_output=True, text=True)
        out[args[0]] = [p.returncode, p.stdout, p.stderr]
    print(json.dumps(out))
    """
)


@needs_namespaces
def test_a_notebook_on_a_read_only_mount_can_be_read_and_refuses_writes(shared_project: Path) -> None:
    out = in_mount_namespace('mount -o bind,ro "$1" "$1"', shared_project, RO_MOUNT_DRIVER)
    code, stdout, stderr = out["ls"]
    assert code == 0, stderr
    assert len(json.loads(stdout)) == 6
    code, stdout, stderr = out["show"]
    assert code == 0 and "lr0.01-s0" in stdout, stderr
    code, _, stderr = out["note"]
    assert code == 1
    assert "is read-only" in one_line(stderr)


# -- values SQLite cannot hold ------------------------------------------------------------


def test_integers_beyond_64_bits_are_kept_exactly_and_can_be_filtered(project: Path) -> None:
    config = {"big": 10**400, "neg": -(10**400), "wide": 2**70, "small": 3}
    with labbook.init(config=config, name="huge") as run:
        run.summary["best"] = 10**401
    rec = read_run(project, run.id)
    assert rec.status == "finished"  # not crashed halfway through writing its params
    assert rec.params == config and rec.summary == {"best": 10**401}
    proc = lab_proc(
        "ls", "--json", "--where", "params.big > 5 and neg < -1e308 and wide > 1e21 and best > 1", cwd=project
    )
    assert proc.returncode == 0, proc.stderr
    (found,) = json.loads(proc.stdout)
    assert found["name"] == "huge" and found["params"]["big"] == 10**400


def test_lab_run_with_a_huge_integer_in_its_config(project: Path) -> None:
    (project / "cfg.yaml").write_text(f"big: {10**400}\nlr: 0.1\n")
    proc = lab_proc("run", "-c", "cfg.yaml", "--", sys.executable, "-c", "pass", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr
    listed = lab_proc("ls", "--json", "--where", "big > 1e300", cwd=project)
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)
    assert found["params"] == {"big": 10**400, "lr": 0.1} and found["status"] == "finished"


def test_a_value_that_cannot_be_stored_is_refused_before_anything_is_written(project: Path) -> None:
    loop: list[object] = []
    loop.append(loop)
    for config in ({"ok": 1, "digits": 10**5000}, {"ok": 1, "loop": loop}):
        with pytest.raises(BadInput, match="cannot be stored") as caught:
            labbook.init(config=config, name="refused")
        assert "\n" not in str(caught.value) and repr(list(config)[1]) in str(caught.value)
    with Notebook.open(project) as nb:
        assert nb.list_runs()[1] == 0  # no run row, so nothing to be reaped as crashed later
    assert list((project / ".labbook" / "runs").iterdir()) == []

    with labbook.init(name="kept") as run:
        run.summary["ok"] = 1
        with pytest.raises(BadInput, match="'digits' cannot be stored"):
            run.summary["digits"] = 10**5000
        with Notebook.open(project) as nb, pytest.raises(BadInput, match="'loop' cannot be stored"):
            nb.set_params(run.id, {"fine": 2, "loop": loop})
    rec = read_run(project, run.id)
    assert rec.summary == {"ok": 1} and rec.params == {}  # each refusal wrote none of its values


# -- a damaged notebook ---------------------------------------------------------------------


def test_a_database_damaged_under_the_runs_table_is_one_line(project: Path) -> None:
    with Notebook.open(project) as nb:
        for i in range(30):
            nb.start_run(name=f"r{i}", params={"i": i})
    db = project / ".labbook" / "labbook.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (root_page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()
    conn.close()
    with db.open("r+b") as fh:  # the schema still reads; the first read of a run does not
        fh.seek((root_page - 1) * page_size)
        fh.write(b"\xa5" * page_size)
    proc = lab_proc("ls", cwd=project)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "is damaged" in line and str(db.resolve()) in line


# -- --where nested past the limit ---------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "(" * 5000 + "lr > 1" + ")" * 5000,
        "not " * 5000 + "lr > 1",
        "(not " * (MAX_DEPTH // 2 + 1) + "lr > 1" + ")" * (MAX_DEPTH // 2 + 1),
    ],
    ids=["parentheses", "not", "just-past-the-limit"],
)
def test_a_where_nested_too_deeply_is_one_line_and_exit_2(project: Path, where: str) -> None:
    proc = lab_proc("ls", "--where", where, cwd=project)
    assert proc.returncode == 2
    assert f"--where nests deeper than {MAX_DEPTH} levels" in one_line(proc.stderr)


def test_a_where_nested_to_the_limit_runs_in_sqlite(notebook: Notebook) -> None:
    """The limit is what SQLite's parser (a fixed stack before 3.46) takes in its costliest shape."""
    notebook.start_run(name="r", params={"lr": 0.5, "opt": "adam"})
    deepest = "(lr > 1 or opt ~ 'a' and " * MAX_DEPTH + "lr > 0.1" + ")" * MAX_DEPTH
    assert notebook.list_runs(deepest)[1] == 1
    negated = "not (lr > 1 or " * (MAX_DEPTH // 2) + "opt == 'x'" + ")" * (MAX_DEPTH // 2)
    assert notebook.list_runs(negated)[1] == (1 if MAX_DEPTH // 2 % 2 else 0)
    with pytest.raises(QueryError, match="deeper than"):
        notebook.list_runs("(" + deepest + ")")


def test_the_examples_where_has_the_same_limit() -> None:
    known = frozenset({"loss"})
    with pytest.raises(QueryError, match=f"--where nests deeper than {MAX_DEPTH} levels"):
        parse_example_where("(" * 5000 + "loss > 1" + ")" * 5000, known)
    with pytest.raises(QueryError, match="deeper than"):
        parse_example_where("not " * 5000 + "loss > 1", known)
    assert where_sql(parse_example_where("not " * MAX_DEPTH + "loss > 1", known))[1] == ['$."loss"', 1]
