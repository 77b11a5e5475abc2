"""The logging path at its edges: forks, a locked database, tight loops, a full disk.

Nothing here waits on a wall-clock sleep: tests wait for what the logger acknowledges
(``written_points``, ``written_upto``) or for a process to say it is ready.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import labbook
from labbook.service.notebook import Notebook
from labbook.tracking.recorder import MAX_LAG_S

from .conftest import lab, wait_for

PY = sys.executable


# -- fork ------------------------------------------------------------------------------

FORKER = textwrap.dedent("""
    import os, sys, labbook
    run = labbook.init(name="parent")
    for i in range(300):
        run.log({"p": i}, step=i)
    pid = os.fork()
    if pid == 0:
        for i in range(50):
            run.log({"c": i}, step=i)  # through the child's own writer
        sys.exit(0)  # a normal exit: atexit hooks run in the child
    os.waitpid(pid, 0)
    from labbook.service.notebook import Notebook
    with Notebook.open() as reader:
        print("status-after-child", reader.get_run(run.id).status, flush=True)
    for i in range(300, 600):
        run.log({"p": i}, step=i)
    run.finish()
    print("done", flush=True)
""")


def test_a_forked_child_never_ends_flushes_or_compacts_the_parents_run(project: Path) -> None:
    (project / "forker.py").write_text(FORKER)
    proc = subprocess.run([PY, "forker.py"], cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "status-after-child running" in proc.stdout  # the child's exit did not finish the run
    assert proc.stdout.endswith("done\n") and proc.stderr == ""
    with Notebook.open(project) as nb:
        run = nb.get_run(1)
        assert run.status == "finished"
        p = nb.series(run, "p")
        c = nb.series(run, "c")
    assert p.steps.tolist() == list(range(600))  # each point once: the copied buffer was not flushed again
    assert c.values.tolist() == list(range(50))
    assert run.metrics["p"].count == 600 and run.metrics["c"].count == 50


# -- a locked database -----------------------------------------------------------------


@pytest.fixture
def lock_holder(project: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the notebook's write lock until told to let go."""
    db = project / ".labbook" / "labbook.db"
    code = textwrap.dedent(f"""
        import sqlite3, sys
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        sys.stdin.readline()
        c.execute("COMMIT")
        print("released", flush=True)
    """)
    proc = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _hold(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "released\n"


def test_points_keep_reaching_the_disk_while_another_process_holds_the_write_lock(
    project: Path, lock_holder: subprocess.Popen[str]
) -> None:
    run = labbook.init(name="under-lock")
    recorder = run._own_recorder()
    try:
        _hold(lock_holder)
        for batch in range(3):  # before the fix, the second batch waited for the lock
            for i in range(1000):
                run.log({"x": batch * 1000 + i}, step=batch * 1000 + i)
            wait_for(lambda n=(batch + 1) * 1000: recorder.written_points >= n)
        _release(lock_holder)
    finally:
        run.finish()
    with Notebook.open(project) as nb:
        done = nb.get_run(run.id)
        assert done.status == "finished" and done.metrics["x"].count == 3000
        assert nb.series(done, "x").values.tolist() == list(range(3000))


def test_finish_with_the_lock_held_past_the_timeout_keeps_everything_and_ends_the_run_later(
    project: Path, lock_holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    monkeypatch.setenv("LABBOOK_BUSY_TIMEOUT", "0.5")
    run = labbook.init(name="settled-later")
    for i in range(500):
        run.log({"x": i}, step=i)
    _hold(lock_holder)
    run.finish()  # must not raise: the database is locked past the busy timeout
    err = capfd.readouterr().err
    assert "could not record the end of run 1 yet" in err and "Traceback" not in err
    lines = err.splitlines()  # the summaries, the end, perhaps the capture: one line each
    assert lines and all(line.startswith("labbook: ") for line in lines)
    _release(lock_holder)
    monkeypatch.delenv("LABBOOK_BUSY_TIMEOUT")
    with Notebook.open(project) as nb:  # the next reader settles it: finished, not crashed
        done = nb.get_run(run.id)
        assert done.status == "finished"
        assert done.metrics["x"].count == 500
        assert not list((project / ".labbook" / "settle").glob("*.json"))
    assert lab("ls").exit_code == 0


# -- tight loops: the one-second promise, as the logger acknowledges it ----------------

TIGHT = textwrap.dedent("""
    import struct, sys, time, zlib
    import labbook
    keys, with_numpy, ack = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
    if with_numpy:
        import numpy
    assert with_numpy or "numpy" not in sys.modules
    run = labbook.init(name=f"tight-{keys}")
    rec = run._own_recorder()
    names = [f"m{k}" for k in range(keys)]
    fh = open(ack, "r+b")
    import mmap
    mm = mmap.mmap(fh.fileno(), 64)
    worst = 0.0
    i = 0
    while True:
        t0 = time.time()
        run.log(dict.fromkeys(names, float(i)), step=i)
        worst = max(worst, t0 - rec.written_upto)
        i += 1
        if i % 64 == 0:  # two slots with a checksum, so a kill mid-update leaves one whole
            body = struct.pack("<qdd", rec.written_points, rec.written_upto, worst)
            slot = (i // 64) % 2
            mm[slot * 32 : slot * 32 + 28] = body + struct.pack("<I", zlib.crc32(body))
            if i == 64 * 40:
                print("ready", flush=True)
""")


def _acks(path: Path) -> tuple[int, float, float]:
    import struct
    import zlib

    raw = path.read_bytes()
    best = None
    for slot in (0, 1):
        body, crc = raw[slot * 32 : slot * 32 + 24], raw[slot * 32 + 24 : slot * 32 + 28]
        if struct.unpack("<I", crc)[0] == zlib.crc32(body):
            value = struct.unpack("<qdd", body)
            best = value if best is None or value[0] > best[0] else best
    assert best is not None
    return best


@pytest.mark.parametrize(("keys", "with_numpy"), [(1, False), (8, False), (16, True), (100, False)])
def test_kill_9_in_a_tight_loop_keeps_every_point_the_logger_acknowledged(
    project: Path, keys: int, with_numpy: bool
) -> None:
    (project / "tight.py").write_text(TIGHT)
    ack = project / "ack.bin"
    ack.write_bytes(bytes(64))
    proc = subprocess.Popen(
        [PY, "tight.py", str(keys), str(int(with_numpy)), str(ack)], cwd=project, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    written = project / ".labbook" / "runs"
    wait_for(lambda: _acks(ack)[0] >= 3 * keys * 64)  # a few writes acknowledged
    proc.kill()
    proc.wait()
    acked_points, _, worst_lag = _acks(ack)
    assert worst_lag <= MAX_LAG_S + 0.01  # log() never returned with the writer further behind
    with Notebook.open(project) as nb:
        run = nb.get_run(1)
        assert run.status == "crashed"
        kept = {key: nb.series(run, key) for key in (f"m{k}" for k in range(keys))}
    total = sum(len(s.values) for s in kept.values())
    assert total >= acked_points  # nothing the logger acknowledged was lost
    for s in kept.values():
        assert s.steps.tolist() == list(range(len(s.steps)))  # a prefix, no holes
    assert run.metrics["m0"].count == len(kept["m0"].values)
    db = sqlite3.connect(written.parent / "labbook.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


# -- a full disk -------------------------------------------------------------------------

FULL_DISK = textwrap.dedent("""
    import json, os, subprocess, sys
    mount = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mount], check=True)
    os.chdir(mount)
    from pathlib import Path
    from labbook.service.notebook import Notebook
    Notebook.init(Path(mount))[0].close()
    import labbook, labbook.tracking.recorder as recorder
    recorder.MAX_BUFFERED = int(sys.argv[2])
    run = labbook.init(name="full")
    rec = run._own_recorder()
    for i in range(1000):
        run.log({"x": i}, step=i)
    rec.flush()
    fd = os.open("filler", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last byte
    for size in (65536, 512, 1):
        try:
            while os.write(fd, bytes(size)):
                pass
        except OSError:
            pass
    os.close(fd)
    i = 1000
    while rec._failing is None and i < 200_000:  # until a write is refused (the last page fills first)
        for i in range(i, i + 1000):
            run.log({"x": i * 0.37}, step=i)
        i += 1
        rec.write()
    failing = rec._failing is not None
    for i in range(i, i + 60000):  # held in memory, up to the bound
        run.log({"x": i * 0.37}, step=i)
    os.remove("filler")  # space comes back: writing resumes
    for i in range(i + 1, i + 1001):
        run.log({"x": i * 0.37}, step=i)
    logged = i + 1
    run.finish()
    with Notebook.open(mount) as nb:
        r = nb.get_run(run.id)
        s = nb.series(r, "x")
        steps = s.steps.tolist()
        print(json.dumps({"failing": failing, "logged": logged, "status": r.status, "count": r.metrics["x"].count,
                          "lost": r.metrics["x"].lost, "points": len(steps),
                          "unique": len(set(steps)), "sorted": steps == sorted(steps)}))
    show = subprocess.run([sys.executable, "-m", "labbook", "show", str(run.id)], capture_output=True, text=True)
    print(json.dumps({"show": show.stdout, "rc": show.returncode}))
""")


def _in_full_disk_namespace(project: Path, bound: int) -> tuple[dict, dict, str]:
    if shutil.which("unshare") is None:
        pytest.fail("util-linux's unshare is needed to make a real full disk (apt-get install util-linux)")
    (project / "full.py").write_text(FULL_DISK)
    mount = project / "mnt"
    mount.mkdir()
    env = {**os.environ, "LABBOOK_SYSTEM_INTERVAL": "0"}
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", PY, "full.py", str(mount), str(bound)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[-2:]
    return json.loads(first), json.loads(second), proc.stderr


def test_a_full_disk_keeps_points_in_memory_and_writes_them_when_space_returns(project: Path) -> None:
    result, show, err = _in_full_disk_namespace(project, bound=1_000_000)
    assert result["failing"] is True
    n = result["logged"]
    assert result == {**result, "status": "finished", "count": n, "lost": 0, "points": n, "unique": n}
    assert result["sorted"]
    assert "cannot write the metrics of run 1" in err and "No space left on device" in err
    assert "writing the metrics of run 1 again" in err
    assert "Traceback" not in err
    assert show["rc"] == 0 and "lost" not in show["show"]


def test_points_beyond_the_memory_bound_are_counted_lost_and_the_run_says_so(project: Path) -> None:
    result, show, err = _in_full_disk_namespace(project, bound=20_000)
    assert result["failing"] is True
    assert result["lost"] > 0 and result["points"] + result["lost"] == result["logged"]
    assert result["count"] == result["points"] and result["unique"] == result["points"]
    assert f"{result['lost']:,} points could not be kept" in err
    assert show["rc"] == 0 and f"lost {result['lost']:,} points" in show["show"]
