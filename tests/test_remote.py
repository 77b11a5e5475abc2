"""Logging to a team server: local first, sent in the background, nothing lost when the server goes away.

A real ``lab server`` subprocess on a real PostgreSQL; the clients are real processes
(the SDK, ``lab run``) with ``LABBOOK_SERVER`` and ``LABBOOK_TOKEN`` set. Waits are on
states (what the server holds, what the run has logged), never on sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labbook.service.notebook import Notebook
from labbook.service.server import migrate, open_server
from labbook.tracking.remote import Client, Server, config_path

from .conftest import LAB, lab, lab_proc, wait_for, write_script
from .postgres_server import free_port


class LabServer:
    """``lab server`` as a subprocess: started, stopped and started again on the same port."""

    def __init__(self, db: str, files: Path) -> None:
        self.db, self.files, self.port = db, files, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        with open_server(db, files) as nb:
            self.token = nb.tokens.create("trainer", "write")[1]

    def start(self) -> None:
        cmd = [*LAB, "server", "--db", self.db, "--files", str(self.files), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        client = Client(Server(self.url, self.token), timeout=2)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (
                self.proc.stderr.read() if self.proc else ""
            )
            try:
                client.info()
                return True
            except Exception:
                return False

        wait_for(up, label="lab server to answer")
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # as a crash: no goodbye
            self.proc.wait()
        self.proc = None

    @property
    def env(self) -> dict[str, str]:
        return {"LABBOOK_SERVER": self.url, "LABBOOK_TOKEN": self.token}

    def notebook(self) -> Notebook:
        return open_server(self.db, self.files)


@pytest.fixture
def served(pg_server: Any, tmp_path: Path) -> Iterator[LabServer]:
    url = pg_server.fresh_database()
    migrate(url)
    server = LabServer(url, tmp_path / "server-files")
    server.start()
    yield server
    server.stop()


def _same_runs(local: Notebook, remote: Notebook) -> None:
    """Every local run is on the server with every point, once, and the same summaries."""
    mine, _ = local.list_runs()
    theirs = {r.uid: r for r in remote.list_runs()[0]}
    assert set(theirs) == {r.uid for r in mine}
    for run in mine:
        other = theirs[run.uid]
        assert (other.status, other.name, other.params, other.tags) == (
            run.status,
            run.name,
            run.params,
            run.tags,
        )
        assert sorted(other.metrics) == sorted(run.metrics)
        for key in run.metrics:
            a, b = local.series(run, key), remote.series(other, key)
            assert np.array_equal(a.steps, b.steps) and np.array_equal(a.values, b.values, equal_nan=True), (
                key
            )
            assert other.metrics[key].count == run.metrics[key].count == len(a.values)


SCRIPT = """
import json, sys, time
import labbook

n = int(sys.argv[1])
run = labbook.init(name="remote", config={"lr": 0.01}, tags=["team"])
worst = 0.0
for step in range(n):
    t = time.perf_counter()
    run.log({"loss": 1.0 / (step + 1), "acc": step / n}, step=step)
    worst = max(worst, time.perf_counter() - t)
    if step == n // 2 and len(sys.argv) > 2:
        open(sys.argv[2], "w").write("half")  # the test may now take the server away
        while not __import__("os").path.exists(sys.argv[2] + ".go"):
            run.log({"loss": 0.5, "acc": 0.5}, step=step)  # logging goes on while the server is down
            time.sleep(0.001)
run.finish()
print(json.dumps({"worst_log_s": worst}))
"""


def test_an_sdk_run_arrives_whole_on_the_server(served: LabServer, project: Path) -> None:
    script = write_script(project, "train.py", SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), "3000"], cwd=project, env={**os.environ, **served.env},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "labbook:" not in proc.stderr  # nothing to say: the server answered throughout
    with Notebook.open(project) as local, served.notebook() as remote:
        _same_runs(local, remote)
        assert local.outbox.pending(served.url) == []  # acknowledged whole


def test_lab_run_sends_the_runs_it_starts(served: LabServer, project: Path) -> None:
    script = write_script(
        project, "emit.py", "import json\nfor i in range(50): print(json.dumps({'x': i * 0.5}))\n"
    )
    result = lab_proc(
        "run", "--name", "emitted", "--", sys.executable, str(script), cwd=project, env=served.env
    )
    assert result.returncode == 0, result.stderr
    with Notebook.open(project) as local, served.notebook() as remote:
        _same_runs(local, remote)
        (run,) = remote.list_runs()[0]
        assert (run.name, run.status, run.metrics["x"].count) == ("emitted", "finished", 50)


def test_a_server_and_its_database_going_away_mid_run_lose_nothing(
    served: LabServer, project: Path, pg_server: Any
) -> None:
    """The server is killed, then its database restarted, while a run logs 200k points: all arrive once."""
    script = write_script(project, "train.py", SCRIPT)
    half = project / "half"
    proc = subprocess.Popen(
        [sys.executable, str(script), "100000", str(half)], cwd=project, env={**os.environ, **served.env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(half.exists, timeout=300, label="the run to log half its points")
    with served.notebook() as remote:
        wait_for(lambda: bool(remote.list_runs()[0]) and "loss" in remote.list_runs()[0][0].metrics,
                 timeout=120, label="the server to hold some points")  # fmt: skip
    served.stop()
    with Notebook.open(project) as local:
        (run,) = local.list_runs()[0]
        logged = run.metrics.get("loss")
        before = logged.count if logged else 0
        wait_for(
            lambda: local.get_run(run.id).metrics["loss"].count > before + 2000,
            timeout=120,
            label="the run to go on logging while the server is down",
        )
    served.start()
    pg_server.restart()  # the database goes away too, under a running server
    Path(str(half) + ".go").write_text("")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert err.count("the run goes on here") == 1  # said once, however long it lasted
    worst = json.loads(out.strip().splitlines()[-1])["worst_log_s"]
    assert worst < 1.0, f"run.log waited {worst:.3f} s: it must never wait for the server"
    synced = lab_proc("sync", cwd=project, env=served.env)
    assert synced.returncode == 0, synced.stderr
    with Notebook.open(project) as local, served.notebook() as remote:
        _same_runs(local, remote)
        (run,) = local.list_runs()[0]
        assert run.metrics["loss"].count > 100_000  # the points logged during the outage too
    again = lab_proc("sync", cwd=project, env=served.env)
    assert again.returncode == 0 and "sent 0 points" in again.stdout  # safe to run again


def test_a_server_that_does_not_answer_leaves_the_run_pending(project: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"LABBOOK_SERVER": url, "LABBOOK_TOKEN": "lbk_" + "z" * 43}
    script = write_script(project, "train.py", SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "500"], cwd=project, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("does not answer") == 1 and "lab sync" in proc.stderr
    status = lab_proc("sync", "--status", "--json", cwd=project, env=env)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["reachable"] is False and [r["name"] for r in data["pending"]] == ["remote"]
    failed = lab_proc("sync", cwd=project, env=env)
    assert failed.returncode == 1 and "does not answer" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_a_wrong_token_is_one_line_and_the_run_goes_on(served: LabServer, project: Path) -> None:
    env = {**served.env, "LABBOOK_TOKEN": "lbk_" + "w" * 43}
    script = write_script(project, "train.py", SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "200"], cwd=project, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0
    assert proc.stderr.count("refused the token") == 1
    sync = lab_proc("sync", cwd=project, env=env)
    assert sync.returncode == 2 and "refused the token" in sync.stderr


def test_lab_login_checks_the_token_and_keeps_it_private(served: LabServer, project: Path) -> None:
    bad = lab("login", served.url, "--token", "lbk_" + "q" * 43)
    assert bad.exit_code == 2 and "refused the token" in bad.output
    assert not config_path().exists()
    good = lab("login", served.url + "/", "--token", served.token)
    assert good.exit_code == 0, good.output
    assert "as 'trainer' (write)" in good.output
    assert config_path().stat().st_mode & 0o777 == 0o600
    assert json.loads(config_path().read_text()) == {"url": served.url, "token": served.token}
    # the login is used without any environment
    script = write_script(project, "train.py", SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "100"], cwd=project, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Notebook.open(project) as local, served.notebook() as remote:
        _same_runs(local, remote)
    assert lab("logout").exit_code == 0 and not config_path().exists()
    nothing = lab("sync")
    assert nothing.exit_code == 2 and "lab login" in nothing.output


@pytest.mark.parametrize("url", ["ftp://x", "http://host:8770/api", ""])
def test_a_url_that_is_not_a_server_is_refused(url: str) -> None:
    r = lab("login", url, "--token", "t")
    assert r.exit_code == 2 and "server" in r.output


def _research(project: Path) -> None:
    """A paper, a problem, a hypothesis on it, a prediction made before any result, a run testing it, a note against it."""
    for argv in (
        ("papers", "add", "--title", "Warmup Considered Helpful", "--year", "2024"),
        ("problems", "add", "Unstable early training", "--why", "runs diverge in the first 1k steps"),
        ("hyp", "add", "warmup helps", "--problem", "Unstable early training"),
        ("predict", "H1", "acc ends above 0.4", "-p", "0.7"),
    ):
        r = lab(*argv)
        assert r.exit_code == 0, r.output
    script = write_script(
        project, "emit.py", "import json\nfor i in range(20): print(json.dumps({'acc': i / 40}))\n"
    )
    ran = lab_proc("run", "-H", "H1", "--", sys.executable, str(script), cwd=project)
    assert ran.returncode == 0, ran.stderr
    for argv in (("note", "seed 2 diverged", "--against", "H1"), ("resolve", "P1", "true")):
        r = lab(*argv)
        assert r.exit_code == 0, r.output


def test_lab_push_moves_runs_and_research_once(served: LabServer, project: Path) -> None:
    _research(project)  # written with no server configured
    pushed = lab_proc("push", cwd=project, env=served.env)
    assert pushed.returncode == 0, pushed.stderr
    assert "20 points, 5 research records" in pushed.stdout
    with Notebook.open(project) as local, served.notebook() as remote:
        _same_runs(local, remote)
        (h,) = remote.store.research.list_hypotheses()
        (mine,) = local.store.research.list_hypotheses()
        assert (h.uid, h.text, h.created_at) == (mine.uid, mine.text, mine.created_at)
        (p,) = remote.store.research.list_predictions()
        assert (p.hyp_id, p.late, p.resolution.outcome if p.resolution else None) == (h.id, False, "true")
        (run,) = remote.list_runs()[0]
        assert run.hyp_id == h.id
        (note,) = remote.store.journal.notes()
        assert (note.hyp_id, note.against, note.text) == (h.id, True, "seed 2 diverged")
        (paper,) = remote.store.papers.list_papers()
        assert (paper.title, paper.year) == ("Warmup Considered Helpful", 2024)
        (problem,) = remote.store.problems.list_problems()
        assert (problem.title, problem.hyp_ids) == ("Unstable early training", (h.id,))
    again = lab_proc("push", cwd=project, env=served.env)
    assert again.returncode == 0 and "sent 0 points, 0 research records" in again.stdout
    with served.notebook() as remote:
        assert len(remote.store.research.list_predictions()) == 1 and len(remote.list_runs()[0]) == 1


def test_a_push_whose_uids_clash_is_refused_whole(served: LabServer, project: Path) -> None:
    from labbook.records.research import NewHypothesis

    _research(project)
    with Notebook.open(project) as local:
        (mine,) = local.store.research.list_hypotheses()
    with served.notebook() as remote:
        remote.store.research.create_hypothesis(
            NewHypothesis(mine.uid, "something else entirely", None, "bob", 5.0)
        )
    pushed = lab_proc("push", cwd=project, env=served.env)
    assert pushed.returncode == 2
    assert f"hypothesis {mine.uid}" in pushed.stderr and "nothing was sent" in pushed.stderr
    with served.notebook() as remote:  # not one run, prediction or note was written
        assert remote.list_runs()[0] == [] and remote.store.research.list_predictions() == []
        assert remote.store.journal.notes() == []


def test_the_server_decides_lateness_from_the_runs_it_holds(
    served: LabServer, project: Path, tmp_path: Path
) -> None:
    """A prediction not late where it was written is late on a server that already holds results for it."""
    from labbook.records.research import NewHypothesis, NewPrediction

    _research(project)
    assert lab_proc("push", cwd=project, env=served.env).returncode == 0
    with Notebook.open(project) as first:
        (h,) = first.store.research.list_hypotheses()
    other, _, _ = Notebook.init(tmp_path / "laptop")  # another notebook with the same hypothesis and no runs
    try:
        hyp = other.store.research.create_hypothesis(
            NewHypothesis(h.uid, h.text, None, h.author, h.created_at)
        )
        other.store.research.create_prediction(NewPrediction("late-there", hyp, "acc above 0.3", kind="binary",
                                                             p=0.6, created_at=h.created_at + 1))  # fmt: skip
        assert other.store.research.list_predictions()[0].late is False
    finally:
        other.close()
    pushed = lab_proc("push", cwd=tmp_path / "laptop", env=served.env)
    assert pushed.returncode == 0, pushed.stderr
    with served.notebook() as remote:
        late = {p.uid: p.late for p in remote.store.research.list_predictions()}
    assert late["late-there"] is True


def test_lab_pull_brings_the_team_notebook_once(served: LabServer, project: Path, tmp_path: Path) -> None:
    _research(project)
    assert lab_proc("push", cwd=project, env=served.env).returncode == 0
    laptop, _, _ = Notebook.init(tmp_path / "laptop")
    laptop.close()
    pulled = lab_proc("pull", cwd=tmp_path / "laptop", env=served.env)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled 1 new runs, 20 points, 5 research records" in pulled.stdout
    with Notebook.open(project) as first, Notebook.open(tmp_path / "laptop") as second:
        _same_runs(first, second)
        assert [(h.uid, h.text) for h in second.store.research.list_hypotheses()] == [
            (h.uid, h.text) for h in first.store.research.list_hypotheses()
        ]
        (p,) = second.store.research.list_predictions()
        assert (p.late, p.resolution.outcome if p.resolution else None) == (False, "true")
        assert [n.text for n in second.store.journal.notes()] == ["seed 2 diverged"]
        assert [q.title for q in second.store.problems.list_problems()] == ["Unstable early training"]
        assert [p.title for p in second.store.papers.list_papers()] == ["Warmup Considered Helpful"]
        assert second.outbox.pending(served.url) == []  # not sent back
        (mine,), (theirs,) = first.list_runs()[0], second.list_runs()[0]
        packages = first.blob(first.get_run(mine.id).capture.get("packages"))
        assert packages and second.blob(second.get_run(theirs.id).capture.get("packages")) == packages
    again = lab_proc("pull", cwd=tmp_path / "laptop", env=served.env)
    assert again.returncode == 0 and "pulled 0 new runs, 0 points, 0 research records" in again.stdout


def test_a_pull_whose_uids_clash_here_writes_nothing(
    served: LabServer, project: Path, tmp_path: Path
) -> None:
    from labbook.records.research import NewHypothesis

    _research(project)
    assert lab_proc("push", cwd=project, env=served.env).returncode == 0
    with Notebook.open(project) as first:
        (h,) = first.store.research.list_hypotheses()
    laptop, _, _ = Notebook.init(tmp_path / "laptop")
    try:
        laptop.store.research.create_hypothesis(NewHypothesis(h.uid, "my own idea", None, "me", 1.0))
    finally:
        laptop.close()
    pulled = lab_proc("pull", cwd=tmp_path / "laptop", env=served.env)
    assert pulled.returncode == 2
    assert f"hypothesis {h.uid}" in pulled.stderr and "nothing was written" in pulled.stderr
    with Notebook.open(tmp_path / "laptop") as second:
        assert second.list_runs()[0] == [] and second.store.research.list_predictions() == []


EXAMPLES = """
import labbook

run = labbook.init(name="graded")
run.log({"acc": 0.5}, step=0)
run.log_examples([{"id": f"q{i:02d}", "output": "x" * i, "target": "x", "correct": i % 3 != 0} for i in range(30)])
run.finish()
"""


def _examples(nb: Notebook, run_id: int, split: str = "eval") -> list[tuple[str, int | None, str]]:
    return nb.store.failures.example_rows(run_id, split, None, 10_000)


def _review(nb: Notebook) -> dict[str, object]:
    """A notebook's failure samples as a reader sees them: members, notes, piles, linked hypotheses."""
    out: dict[str, object] = {}
    for s in nb.store.failures.list_samples():
        run = nb.get_run(s.run_id)
        items = [(i.ex_id, i.note, sorted(i.piles)) for i in nb.store.failures.sample_items(s)]
        links = [(h, p, n, r) for h, p, n, r in nb.store.failures.sample_hypotheses(s.id)]
        hyps = {h.id: h.uid for h in nb.store.research.list_hypotheses()}
        out[f"{run.uid}/{s.split}/{s.seed}"] = (
            s.population,
            items,
            [(hyps[h], p, n, r) for h, p, n, r in links],
        )
    return out


def test_failures_travel_with_the_run_push_sync_and_pull(
    served: LabServer, project: Path, tmp_path: Path
) -> None:
    """Per-example results go with the run's end; samples, piles and notes with push; a pull brings them back."""
    script = write_script(project, "graded.py", EXAMPLES)
    proc = subprocess.run([sys.executable, str(script)], cwd=project, env={**os.environ, **served.env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Notebook.open(project) as local, served.notebook() as remote:
        (mine,), (theirs,) = local.list_runs()[0], remote.list_runs()[0]
        assert (
            _examples(remote, theirs.id) == _examples(local, mine.id) and len(_examples(local, mine.id)) == 30
        )
    for argv in (
        ("failures", "sample", "1", "-n", "6", "--seed", "3"),
        ("failures", "tag", "r1-eval-1", "q00", "empty-output", "--note", "nothing came out"),
        ("failures", "tag", "r1-eval-1", "q03", "too-long"),
        ("hyp", "add", "long outputs are truncated targets", "--from-pile", "r1-eval-1:too-long"),
    ):
        r = lab(*argv)
        assert r.exit_code == 0, r.output
    pushed = lab_proc("push", cwd=project, env=served.env)
    assert pushed.returncode == 0, pushed.stderr
    assert "2 research records" in pushed.stdout  # the hypothesis, the sample
    with Notebook.open(project) as local, served.notebook() as remote:
        assert _review(remote) == _review(local) and len(_review(local)) == 1
        assert [s.name for s in remote.store.failures.list_samples()] == ["r1-eval-1"]
    # more review and a second split here; the status names them, sync sends them, as they are now
    extra = project / "test.jsonl"
    extra.write_text("".join(json.dumps({"id": f"t{i}", "correct": i % 2 == 0}) + "\n" for i in range(8)))
    for argv in (
        ("failures", "tag", "r1-eval-1", "q03", "truncated", "--note", "cut at 3 chars"),
        ("failures", "import", "1", str(extra), "--split", "test"),
    ):
        r = lab(*argv)
        assert r.exit_code == 0, r.output
    status = lab_proc("sync", "--status", "--json", cwd=project, env=served.env)
    assert status.returncode == 0, status.stderr
    pending = json.loads(status.stdout)
    assert pending["records"] == {"samples": 1} and pending["examples"] == [{"run": 1, "split": "test"}]
    synced = lab_proc("sync", cwd=project, env=served.env)
    assert (
        synced.returncode == 0 and "1 research records" in synced.stdout and "8 per-example" in synced.stdout
    )
    with Notebook.open(project) as local, served.notebook() as remote:
        assert _review(remote) == _review(local)
        (theirs,) = remote.list_runs()[0]
        assert [r[0] for r in _examples(remote, theirs.id, "test")] == [f"t{i}" for i in range(8)]
    # a laptop with its own sample name taken and a note of its own pulls the team's notebook
    home = tmp_path / "laptop"
    laptop, _, _ = Notebook.init(home)
    laptop.close()
    own = subprocess.run([sys.executable, str(script)], cwd=home, env={**os.environ, "LABBOOK_SERVER": "off"},
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert own.returncode == 0, own.stderr
    for argv in (("failures", "sample", "1", "-n", "2"), ("note", "my own note")):
        assert lab_proc(*argv, cwd=home).returncode == 0
    pulled = lab_proc("pull", cwd=home, env=served.env)
    assert pulled.returncode == 0, pulled.stderr
    assert "38 per-example results" in pulled.stdout
    with Notebook.open(project) as first, Notebook.open(home) as second:
        team = _review(first)
        assert {k: v for k, v in _review(second).items() if k in team} == team
        assert sorted(s.name for s in second.store.failures.list_samples()) == ["r1-eval-1", "r1-eval-1-2"]
        (a,), b = first.list_runs()[0], second.get_run(2)
        assert (b.uid, _examples(second, b.id)) == (a.uid, _examples(first, a.id))
        assert second.failures.piles("r1-eval-1-2").reviewed == 2
    still = json.loads(lab_proc("sync", "--status", "--json", cwd=home, env=served.env).stdout)
    assert still["records"] == {"notes": 1, "samples": 1}  # its own note and sample are still to send
    assert [r["id"] for r in still["pending"]] == [1] and still["examples"] == [{"run": 1, "split": "eval"}]
    again = lab_proc("pull", cwd=tmp_path / "laptop", env=served.env)
    assert again.returncode == 0 and "0 research records" in again.stdout and "0 per-example" in again.stdout


def test_research_written_with_a_server_set_goes_at_once_and_waits_when_it_is_down(
    served: LabServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    for argv in (("hyp", "add", "warmup helps"), ("predict", "H1", "acc ends above 0.4", "-p", "0.7")):
        r = lab(*argv)
        assert r.exit_code == 0 and "warning" not in r.output, r.output
    with served.notebook() as remote:  # no lab sync: the server judged the prediction as it was made
        (p,) = remote.store.research.list_predictions()
        assert (p.text, p.late) == ("acc ends above 0.4", False)
    served.stop()
    down = lab("predict", "H1", "loss ends below 0.2", "-p", "0.6")
    assert down.exit_code == 0, down.output  # kept here; the server's absence is one warning line
    (warning,) = [line for line in down.output.splitlines() if line.startswith("warning:")]
    assert served.url in warning and "lab sync" in warning
    status = json.loads(lab("sync", "--status", "--json").output)
    assert status["reachable"] is False and status["records"] == {"predictions": 1}
    served.start()
    assert lab("sync").exit_code == 0
    with served.notebook() as remote:
        assert sorted(p.text for p in remote.store.research.list_predictions()) == [
            "acc ends above 0.4", "loss ends below 0.2"
        ]  # fmt: skip


def test_a_server_speaking_a_newer_api_is_refused_in_one_line_naming_both(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer labbook's server (its answer to /api/v1/server, served on loopback) is not written to."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from labbook import __version__

    asked: list[str] = []

    class Newer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps({"api": 2, "version": "9.0.0", "name": "ci", "role": "write"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Newer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        login = lab("login", url, "--token", "t")
        assert login.exit_code == 2 and not config_path().exists()
        (line,) = login.output.strip().splitlines()
        assert "API v2 (labbook 9.0.0)" in line and f"({__version__}) speaks v1" in line
        monkeypatch.setenv("LABBOOK_SERVER", url)
        monkeypatch.setenv("LABBOOK_TOKEN", "t")
        r = lab("hyp", "add", "kept here")  # written here; the server is not written to
        assert r.exit_code == 0 and "API v2" in r.output
        synced = lab("sync")
        assert synced.exit_code == 2 and "API v2" in synced.output
        assert set(asked) == {"/api/v1/server"}  # nothing but the question was ever sent
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_more_records_than_one_request_takes_go_in_parts(served: LabServer, project: Path) -> None:
    from labbook.records.journal import NewNote

    with Notebook.open(project) as local:
        for i in range(1_100):  # more than the server takes in one request
            local.store.journal.add_note(
                NewNote(f"note-{i:04d}", f"observation {i}", None, None, False, "me", 10.0 + i)
            )
    pushed = lab_proc("push", cwd=project, env=served.env)
    assert pushed.returncode == 0, pushed.stderr
    assert "1,100 research records" in pushed.stdout
    with served.notebook() as remote:
        assert sorted(n.uid for n in remote.store.journal.notes()) == [f"note-{i:04d}" for i in range(1_100)]
