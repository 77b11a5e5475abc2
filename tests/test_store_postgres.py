"""What only the PostgreSQL store has to get right: its schema versions, a server that goes away, its backups.

Everything a store does is in ``test_store_contract.py``, which runs against this store too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from labbook.errors import BadInput, SchemaTooNew, StoreUnreachable
from labbook.records.runs import BatchSummary, NewRun, Owner
from labbook.service.notebook import Notebook
from labbook.store.postgres import migrations
from labbook.store.postgres.store import PostgresStore

from .conftest import lab


def _run(store: PostgresStore, name: str, uid: str) -> int:
    return store.runs.create_run(
        NewRun(uid=uid, name=name, created_at=1.0, note=None, command=["python", "t.py"], cwd="/w",
               source="cli", owner=Owner("h", 1, 1.0, "b"), params={"lr": 0.1})
    )  # fmt: skip


def test_a_new_database_is_migrated_to_the_latest_schema_once(pg_server: Any) -> None:
    url = pg_server.fresh_database()
    first = PostgresStore(url)
    second = PostgresStore(url)  # opening again migrates nothing and loses nothing
    try:
        _run(first, "a", "a" * 32)
        assert [r.name for r in second.runs.query_runs(None, [], None)[0]] == ["a"]
        with psycopg.connect(url) as conn:
            assert migrations.version(conn) == migrations.LATEST
    finally:
        first.close()
        second.close()


def test_a_schema_newer_than_this_labbook_is_refused_naming_both_versions(pg_server: Any) -> None:
    url = pg_server.fresh_database()
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE labbook_schema SET version = %s", (migrations.LATEST + 5,))
    with pytest.raises(SchemaTooNew) as caught:
        PostgresStore(url)
    message = str(caught.value)
    assert f"v{migrations.LATEST + 5}" in message and f"v{migrations.LATEST}" in message
    assert "\n" not in message


def test_a_restarted_server_is_used_again_and_an_outage_is_one_line(pg_server: Any) -> None:
    store = PostgresStore(pg_server.fresh_database())
    try:
        _run(store, "before", "b" * 32)
        pg_server.stop()
        with pytest.raises(StoreUnreachable) as caught:
            store.runs.merge_metrics(1, [BatchSummary("loss", 1, 0, 0.5, 0, 0.5, 0.5, 0.5, 0)])
        assert "does not answer" in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(StoreUnreachable):
            store.runs.query_runs(None, [], None)
        pg_server.start()
        store.runs.merge_metrics(1, [BatchSummary("loss", 1, 0, 0.5, 0, 0.5, 0.5, 0.5, 0)])
        (run,) = store.runs.query_runs(None, [], None)[0]
        assert (run.name, run.metrics["loss"].count) == ("before", 1)
    finally:
        store.close()


def test_a_database_restarted_between_reads_is_not_noticed(pg_server: Any) -> None:
    store = PostgresStore(pg_server.fresh_database())
    try:
        _run(store, "kept", "c" * 32)
        pg_server.restart()
        assert [r.name for r in store.runs.query_runs(None, [], None)[0]] == ["kept"]
    finally:
        store.close()


def test_a_server_that_does_not_answer_never_shows_the_password(pg_server: Any) -> None:
    url = f"postgresql://ada:s3cret@127.0.0.1:{pg_server.port + 1}/nowhere"
    with pytest.raises(StoreUnreachable) as caught:
        PostgresStore(url)
    assert "s3cret" not in str(caught.value)
    assert f"127.0.0.1:{pg_server.port + 1}/nowhere" in str(caught.value)


def test_values_postgres_cannot_hold_are_refused_in_one_line(pg_server: Any) -> None:
    store = PostgresStore(pg_server.fresh_database())
    try:
        with pytest.raises(BadInput, match="NUL"):
            _run(store, "bad\x00name", "d" * 32)
        assert store.runs.query_runs(None, [], None)[0] == []  # nothing half-written
    finally:
        store.close()


def test_a_backup_is_a_sqlite_notebook_lab_opens(pg_server: Any, tmp_path: Path) -> None:
    """``backup`` writes every row, ids and all, into a SQLite notebook that ``lab ls`` reads."""
    store = PostgresStore(pg_server.fresh_database())
    try:
        for k in range(3):
            _run(store, f"run-{k}", f"{k:032x}")
        store.runs.edit_tags(2, ["best"], [], 5.0)
        root = tmp_path / "copy"
        root.mkdir()
        store.backup(root / "labbook.db")
    finally:
        store.close()
    result = lab("--dir", str(root), "ls", "--json")
    assert result.exit_code == 0, result.output
    import json

    rows = json.loads(result.output)
    assert sorted((r["id"], r["name"]) for r in rows) == [(1, "run-0"), (2, "run-1"), (3, "run-2")]
    assert Notebook(root).store.runs.get_run(2).tags == ("best",)  # type: ignore[union-attr]
