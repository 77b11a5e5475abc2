"""``lab server``: tokens, their roles and limits, and points accepted exactly once, on a real PostgreSQL."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labbook.formats.series import encode_block
from labbook.service.notebook import Notebook
from labbook.service.server import migrate, open_server
from labbook.web import WebSettings, create_app

from .conftest import lab

UID = "ab" * 16


@pytest.fixture
def db(pg_server: Any) -> str:
    url = str(pg_server.fresh_database())
    migrate(url)
    return url


@pytest.fixture
def server(db: str, tmp_path: Path) -> Iterator[Notebook]:
    nb = open_server(db, tmp_path / "files")
    yield nb
    nb.close()


def client_for(nb: Notebook, token: str | None = None, **settings: Any) -> TestClient:
    app = create_app(nb, WebSettings(server=True, max_body=8 << 20, **settings))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, headers=headers)


@pytest.fixture
def writer_token(server: Notebook) -> str:
    return server.tokens.create("ada-laptop", "write")[1]


@pytest.fixture
def api(server: Notebook, writer_token: str) -> Iterator[TestClient]:
    with client_for(server, writer_token) as c:
        yield c


def sent_run(**kw: Any) -> dict[str, Any]:
    run = {"uid": UID, "created_at": 1000.0, "source": "sdk", "status": "running", "name": "base",
           "command": ["python", "train.py"], "cwd": "/w", "host": "laptop", "params": {"lr": 0.1},
           "tags": ["remote"]}  # fmt: skip
    run.update(kw)
    return run


def batch(starts: dict[str, int], series: dict[str, tuple[list[int], list[float]]]) -> bytes:
    blocks = b"".join(
        encode_block(key, steps, [1_000_000 + s for s in steps], values)
        for key, (steps, values) in series.items()
    )
    return json.dumps({"starts": starts}).encode() + b"\n" + blocks


def send_points(api: TestClient, body: bytes, writer: str = "sdk-1") -> Any:
    return api.post(f"/api/v1/runs/{UID}/points", params={"writer": writer}, content=body)


# -- tokens ------------------------------------------------------------------------


def test_every_request_needs_a_token_and_its_role_decides(server: Notebook) -> None:
    reader = server.tokens.create("viewer", "read")[1]
    writer = server.tokens.create("trainer", "write")[1]
    with client_for(server) as anon:
        for path in ("/api/runs", "/api/v1/server", "/", "/runs"):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert "token" in r.json()["error"]
    with client_for(server, reader) as c:
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/v1/server").json()["name"] == "viewer"
        r = c.post("/api/v1/runs", json={"runs": [sent_run()]})
        assert r.status_code == 403 and "read" in r.json()["error"]
    with client_for(server, writer) as c:
        assert c.post("/api/v1/runs", json={"runs": [sent_run()]}).status_code == 200
    assert [r.uid for r in server.list_runs()[0]] == [UID]


def test_a_revoked_token_is_refused_at_its_next_request(server: Notebook) -> None:
    token = server.tokens.create("old-laptop", "write")[1]
    with client_for(server, token) as c:
        assert c.get("/api/runs").status_code == 200
        server.tokens.revoke("old-laptop")
        r = c.get("/api/runs")
        assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_tokens_are_kept_as_digests_only(server: Notebook, db: str) -> None:
    import psycopg

    _, token = server.tokens.create("ada", "admin")
    with psycopg.connect(db) as conn:
        dumped = " ".join(str(row) for row in conn.execute("SELECT * FROM tokens").fetchall())
    assert token not in dumped and token[4:] not in dumped


def test_an_address_sending_bad_tokens_is_refused_for_a_while(server: Notebook) -> None:
    good = server.tokens.create("ada", "read")[1]
    with client_for(server, bad_tokens=3) as c:
        for _ in range(3):
            assert c.get("/api/runs", headers={"Authorization": "Bearer lbk_" + "x" * 43}).status_code == 401
        r = c.get("/api/runs", headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 429 and "too many bad tokens" in r.json()["error"]


def test_the_login_link_works_with_a_notebook_token(server: Notebook) -> None:
    token = server.tokens.create("ada", "read")[1]
    with client_for(server) as c:
        assert c.get("/login", params={"token": "lbk_" + "y" * 43}, follow_redirects=False).status_code == 401
        r = c.get("/login", params={"token": token}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/api/runs").status_code == 200  # the cookie now carries the token


# -- runs and points -----------------------------------------------------------------


def test_a_run_sent_twice_is_one_run_brought_up_to_date(api: TestClient, server: Notebook) -> None:
    assert api.post("/api/v1/runs", json={"runs": [sent_run()]}).status_code == 200
    ended = sent_run(
        status="finished", ended_at=1100.0, exit_code=0, tags=["remote", "best"], summary={"acc": 0.9}
    )
    r = api.post("/api/v1/runs", json={"runs": [ended]})
    assert r.status_code == 200
    (run,) = server.list_runs()[0]
    assert (run.status, run.ended_at, run.exit_code, run.tags) == ("finished", 1100.0, 0, ("best", "remote"))
    assert (run.params, run.summary, run.command) == ({"lr": 0.1}, {"acc": 0.9}, ["python", "train.py"])


def test_points_are_kept_once_whatever_is_resent(api: TestClient, server: Notebook) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    loss = [float(v) for v in np.linspace(2.0, 0.1, 10)]
    first = batch({"loss": 0}, {"loss": (list(range(6)), loss[:6])})
    assert send_points(api, first).json() == {"counts": {"loss": 6}}
    assert send_points(api, first).json() == {"counts": {"loss": 6}}  # the same batch again: no change
    overlap = batch({"loss": 4, "acc": 0}, {"loss": (list(range(4, 10)), loss[4:]), "acc": ([9], [0.5])})
    assert send_points(api, overlap).json() == {"counts": {"loss": 10, "acc": 1}}
    (run,) = server.list_runs()[0]
    series = server.series(run, "loss")
    assert series.values.tolist() == loss and series.steps.tolist() == list(range(10))
    m = run.metrics["loss"]
    assert (m.count, m.min, m.max, m.last) == (10, min(loss), max(loss), loss[-1])
    assert math.isclose(m.sum, sum(loss))
    assert api.get(f"/api/v1/runs/{UID}/marks").json() == {"writers": {"sdk-1": {"acc": 1, "loss": 10}}}


def test_a_batch_past_what_the_server_holds_is_refused_with_its_counts(
    api: TestClient, server: Notebook
) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    send_points(api, batch({"loss": 0}, {"loss": ([0, 1], [1.0, 0.9])}))
    r = send_points(api, batch({"loss": 5}, {"loss": ([5], [0.5])}))
    assert r.status_code == 409
    assert r.json()["counts"] == {"loss": 2} and "send from there" in r.json()["error"]
    (run,) = server.list_runs()[0]
    assert run.metrics["loss"].count == 2


def test_an_append_that_never_committed_is_cut_back_not_counted(api: TestClient, server: Notebook) -> None:
    """A crash between writing a batch and committing its mark leaves bytes no one counted; they go."""
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    send_points(api, batch({"loss": 0}, {"loss": ([0, 1], [1.0, 0.9])}))
    (run,) = server.list_runs()[0]
    path = server.run_dir(run) / "metrics" / "sdk-1.lbm"
    with path.open("ab") as f:  # the batch the client never saw acknowledged, written without its mark
        f.write(encode_block("loss", [2, 3], [1, 2], [0.8, 0.7]))
    assert send_points(api, batch({"loss": 2}, {"loss": ([2, 3], [0.8, 0.7])})).json() == {
        "counts": {"loss": 4}
    }
    (run,) = server.list_runs()[0]
    assert server.series(run, "loss").values.tolist() == [1.0, 0.9, 0.8, 0.7]
    assert run.metrics["loss"].count == 4


@pytest.mark.parametrize(
    ("writer", "body", "status", "says"),
    [
        ("../escape", None, 400, "a writer is a file name"),
        (
            "sdk-1",
            b'{"starts": {}}\n' + encode_block("loss", [0], [0], [1.0]),
            400,
            "does not say where 'loss' starts",
        ),
        ("sdk-1", b"no header", 400, "begins with a line"),
        (
            "sdk-1",
            b'{"starts": {"loss": 0}}\n' + encode_block("loss", [0], [0], [1.0])[:-3],
            400,
            "not intact",
        ),
        (
            "sdk-1",
            b'{"starts": {"loss": -1}}\n' + encode_block("loss", [0], [0], [1.0]),
            400,
            "count of points",
        ),
    ],
)
def test_bad_batches_are_refused_in_one_line(
    api: TestClient, server: Notebook, writer: str, body: bytes | None, status: int, says: str
) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    r = send_points(api, body or batch({"loss": 0}, {"loss": ([0], [1.0])}), writer=writer)
    assert r.status_code == status and says in r.json()["error"]
    (run,) = server.list_runs()[0]
    assert "loss" not in run.metrics
    assert (
        not list((server.run_dir(run) / "metrics").glob("*.lbm"))
        if (server.run_dir(run) / "metrics").exists()
        else True
    )


def test_points_for_a_run_the_server_does_not_hold_are_404(api: TestClient) -> None:
    r = send_points(api, batch({"loss": 0}, {"loss": ([0], [1.0])}))
    assert r.status_code == 404 and "send the run before its points" in r.json()["error"]


def test_a_uid_held_with_other_content_is_refused_whole(api: TestClient, server: Notebook) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    other = "cd" * 16
    r = api.post(
        "/api/v1/runs", json={"runs": [sent_run(uid=other), sent_run(created_at=5.0, name="impostor")]}
    )
    assert r.status_code == 409 and r.json()["conflicts"] == [UID]
    assert [(x.uid, x.name) for x in server.list_runs()[0]] == [
        (UID, "base")
    ]  # the other run was not written


# -- per-example results and failure samples -------------------------------------------


def test_examples_are_upserted_by_id_and_read_back_in_pages(api: TestClient, server: Notebook) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    rows = [[f"e{i}", i % 2, json.dumps({"id": f"e{i}", "output": i})] for i in range(7)]
    for page in (rows[:4], rows[2:]):  # an overlapping resend
        r = api.post(f"/api/v1/runs/{UID}/examples", params={"split": "eval"}, json={"rows": page})
        assert r.status_code == 200, r.text
    splits = api.get(f"/api/v1/runs/{UID}/examples").json()["splits"]
    assert splits["eval"]["count"] == 7
    first = api.get(f"/api/v1/runs/{UID}/examples/rows", params={"split": "eval", "limit": 4}).json()["rows"]
    rest = api.get(
        f"/api/v1/runs/{UID}/examples/rows", params={"split": "eval", "after": first[-1][0]}
    ).json()
    assert first + rest["rows"] == rows
    (run,) = server.list_runs()[0]
    assert server.failures.splits(run.id) == {"eval": 7}
    assert server.store.failures.example_fields(run.id, "eval") == {"id", "output"}


@pytest.mark.parametrize(
    ("split", "rows", "says"),
    [
        ("eval", [["e1", 1, "not json"]], "a JSON object as text"),
        ("eval", [["e1", 2, "{}"]], "correct 0/1/null"),
        ("eval", [["", 1, "{}"]], "[id, correct"),
        ("eval", [["e1", 1, "{}"], ["e1", 0, "{}"]], "names an id twice"),
        ("eval", [], "1 to 20000 rows"),
        ("../x", [["e1", 1, "{}"]], "split name '../x' is not allowed"),
    ],
)
def test_bad_examples_are_refused_in_one_line_and_nothing_is_written(
    api: TestClient, server: Notebook, split: str, rows: list[Any], says: str
) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    r = api.post(f"/api/v1/runs/{UID}/examples", params={"split": split}, json={"rows": rows})
    assert r.status_code == 400 and says in r.json()["error"], r.text
    (run,) = server.list_runs()[0]
    assert server.failures.splits(run.id) == {}


def _sample(**kw: Any) -> dict[str, Any]:
    sample = {
        "uid": f"{UID}/eval/5.0",
        "name": "r1-eval-1",
        "run_uid": UID,
        "split": "eval",
        "where": None,
        "stratify": None,
        "seed": 0,
        "requested": 2,
        "population": 2,
        "created_at": 5.0,
        "items": [["e1", None], ["e2", "odd"]],
        "piles": [["e1", "typo", "tag", 6.0]],
        "hypotheses": [],
    }
    sample.update(kw)  # fmt: skip
    return sample


@pytest.mark.parametrize(
    ("sample", "status", "says"),
    [
        (_sample(run_uid="cd" * 16), 400, "which is not here; send it first"),
        (_sample(items=[["e1", None], ["e1", None]]), 400, "names an example twice"),
        (_sample(items="e1"), 400, "items are [example id, note or null] pairs"),
        (_sample(piles=[["e1", "no/slash", "tag", 6.0]]), 400, "pile name 'no/slash' is not allowed"),
        (_sample(seed="x"), 400, "a record is missing a field or has a wrong one"),
    ],
)
def test_bad_samples_are_refused_in_one_line(
    api: TestClient, server: Notebook, sample: dict[str, Any], status: int, says: str
) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    r = api.post("/api/v1/records", json={"samples": [sample]})
    assert r.status_code == status and says in r.json()["error"], r.text
    assert server.store.failures.list_samples() == []


def test_a_sample_under_a_taken_name_keeps_its_own_and_a_clash_is_refused(
    api: TestClient, server: Notebook
) -> None:
    api.post("/api/v1/runs", json={"runs": [sent_run()]})
    assert api.post("/api/v1/records", json={"samples": [_sample()]}).status_code == 200
    other = _sample(uid=f"{UID}/eval/9.0", created_at=9.0, piles=[])  # another notebook's r1-eval-1
    assert api.post("/api/v1/records", json={"samples": [other]}).status_code == 200
    assert [s.name for s in server.store.failures.list_samples()] == ["r1-eval-1", "r1-eval-1-2"]
    clash = api.post("/api/v1/records", json={"samples": [_sample(seed=4)]})
    assert clash.status_code == 409 and clash.json()["conflicts"] == [f"sample {UID}/eval/5.0"]
    assert server.failures.piles("r1-eval-1").reviewed == 1


# -- the command line ----------------------------------------------------------------


def test_lab_server_tokens_from_the_command_line(db: str) -> None:
    made = lab("server", "--db", db, "token", "create", "ada laptop", "--role", "read")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("lbk_") and "shown only now" in made.stderr
    listed = json.loads(lab("server", "token", "ls", "--json", "--db", db).stdout)
    assert [(t["name"], t["role"], t["active"]) for t in listed] == [("ada laptop", "read", True)]
    assert token not in lab("server", "token", "ls", "--db", db).output
    assert lab("server", "token", "revoke", "ada laptop", "--db", db).exit_code == 0
    again = lab("server", "token", "revoke", "ada laptop", "--db", db)
    assert again.exit_code == 2 and "revoked already" in again.output
    bad = lab("server", "token", "create", "x", "--role", "root", "--db", db)
    assert bad.exit_code == 2


def test_lab_server_migrate_and_a_database_not_yet_migrated(pg_server: Any, tmp_path: Path) -> None:
    url = pg_server.fresh_database()
    refused = lab("server", "--db", url, "--files", str(tmp_path / "f"), "--port", "0")
    assert refused.exit_code == 2
    assert "holds no notebook yet" in refused.output and "lab server migrate" in refused.output
    first = lab("server", "migrate", "--db", url)
    assert first.exit_code == 0 and "created the schema" in first.output
    second = lab("server", "migrate", "--db", url)
    assert second.exit_code == 0 and "up to date" in second.output


def test_a_server_that_does_not_answer_is_one_line(pg_server: Any) -> None:
    r = lab("server", "migrate", "--db", f"postgresql://postgres@127.0.0.1:{pg_server.port + 1}/x")
    assert r.exit_code == 1 and "does not answer" in r.output and len(r.output.strip().splitlines()) == 1
