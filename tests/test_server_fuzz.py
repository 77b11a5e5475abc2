"""The team server's whole OpenAPI surface, fuzzed (schemathesis): never a 5xx; without a token, always 401.

The server holds a few runs with points, a hypothesis with a prediction and a note, so
generated requests reach real rows as well as missing ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings

from labbook.formats.series import encode_block
from labbook.records.journal import NewNote
from labbook.records.research import NewHypothesis, NewPrediction
from labbook.service.ingest import SentRun
from labbook.service.server import migrate, open_server
from labbook.web import WebSettings, create_app

EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    url = pg_server.fresh_database()
    migrate(url)
    nb = open_server(url, Path(tmp_path_factory.mktemp("fuzz-files")))
    token = nb.tokens.create("fuzzer", "admin")[1]
    h = nb.store.research.create_hypothesis(NewHypothesis("h1", "warmup helps", None, "ada", 1.0))
    nb.store.research.create_prediction(
        NewPrediction("p1", h, "acc > 0.8", kind="binary", p=0.7, created_at=2.0)
    )
    nb.store.journal.add_note(NewNote("n1", "seed 3 diverged", h, None, True, "ada", 3.0))
    for k in range(3):
        uid = f"{k + 1:032x}"
        nb.ingest.save_runs(
            [SentRun(uid, 10.0 + k, "sdk", "finished", name=f"run-{k}", params={"lr": 0.1 * k})]
        )
        nb.ingest.save_points(
            uid, "sdk-1", {"loss": 0}, encode_block("loss", [0, 1, 2], [1, 2, 3], [1.0, 0.5, 0.25])
        )
    app = create_app(nb, WebSettings(server=True, max_body=8 << 20))
    yield app, token
    nb.close()


def operations(app: FastAPI, token: str) -> list[Any]:
    """Every operation of the server's OpenAPI document (which itself needs a token, as every request does)."""
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers={"Authorization": f"Bearer {token}"}
    )
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, examples: int, check: Any) -> None:
    """``check`` every case Hypothesis draws for ``operation`` (schemathesis's strategy)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate]
    )
    def run(case: Any) -> None:
        check(case)

    run()


def test_no_request_with_a_token_is_a_server_error(fuzzed: tuple[FastAPI, str]) -> None:
    app, token = fuzzed
    ops = operations(app, token)
    assert len(ops) > 30  # the whole API: runs, charts, compare, research, journal, failures, papers, ingest

    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"

    for op in ops:
        fuzz(op, EXAMPLES, check)


def test_every_endpoint_without_a_token_is_401(fuzzed: tuple[FastAPI, str]) -> None:
    app, token = fuzzed

    def check(case: Any) -> None:
        response = case.call()
        assert response.status_code == 401, f"{case.method} {case.formatted_path}: {response.status_code}"

    for op in operations(app, token):
        fuzz(op, 2, check)
