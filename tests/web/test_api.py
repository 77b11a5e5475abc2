"""Every endpoint through the in-process client: the CLI's --json shapes exactly, errors as the tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import labbook
from labbook.core.downsample import m4
from labbook.service.notebook import Notebook
from tests.web.conftest import cli_json, csrf


def test_runs_are_lab_ls_with_paging_and_the_table_cells(client: TestClient) -> None:
    got = client.get("/api/runs", params={"where": "lr == 0.1", "sort": "-acc.max", "limit": 2}).json()
    assert got["runs"] == cli_json("ls", "--where", "lr == 0.1", "--sort", "-acc.max", "--limit", "2")
    assert got["total"] == 3 and got["offset"] == 0 and got["limit"] == 2
    rest = client.get("/api/runs", params={"where": "lr == 0.1", "sort": "-acc.max", "offset": 2}).json()
    assert [r["id"] for r in got["runs"] + rest["runs"]] == [
        r["id"] for r in cli_json("ls", "--where", "lr == 0.1", "--sort", "-acc.max")
    ]
    cols = client.get("/api/runs", params={"columns": "id,name,lr,acc.max", "limit": 1}).json()
    newest = cli_json("ls", "--limit", "1")[0]
    assert cols["columns"] == ["id", "name", "lr", "acc.max"]
    assert cols["cells"] == [[newest["id"], newest["name"], None, None]]  # the evaluated run has neither
    assert cols["numeric"] == [True, False, False, False]


def test_groups_are_lab_ls_group_by(client: TestClient) -> None:
    got = client.get("/api/runs/groups", params={"columns": "acc.last,loss.min"}).json()
    assert got == cli_json("ls", "--group-by", "variant", "--columns", "acc.last,loss.min")
    assert [g["label"] for g in got["groups"]] == ["lr=0.1", "lr=0.01", "lr=null"]  # null: the evaluated run


def test_one_run_is_lab_show(client: TestClient) -> None:
    assert client.get("/api/runs/fast-1").json() == cli_json("show", "fast-1")
    assert client.get("/api/runs/fast-1/metrics").json() == cli_json("metrics", "fast-1")


def test_a_short_series_comes_back_whole_and_a_long_one_as_m4(client: TestClient, filled: Path) -> None:
    whole = client.get("/api/runs/fast-0/metrics/acc", params={"width": 100}).json()
    full = cli_json("metrics", "fast-0", "acc")
    assert whole["downsampled"] is False and whole["points"] == 50
    assert (whole["steps"], whole["values"], whole["times"]) == (full["steps"], full["values"], full["times"])
    rng = np.random.default_rng(3)
    values = rng.normal(size=20_000)
    values[12_345] = 99.0  # one spike
    values[100] = np.nan
    with labbook.init(name="long") as run:
        for i, v in enumerate(values):
            run.log({"noisy": float(v)}, step=i)
    got = client.get("/api/runs/long/metrics/noisy", params={"width": 200}).json()
    assert got["downsampled"] is True and got["points"] == 20_000 and len(got["steps"]) <= 800
    steps = np.array(got["steps"])
    kept = np.array([np.nan if v is None else v for v in got["values"]])
    assert np.array_equal(kept, values[steps], equal_nan=True)  # real points, nothing invented
    assert kept[np.isfinite(kept)].max() == 99.0  # the spike
    # Read from the run's overview: each pixel's extremes are there, give or take a neighbour
    # (the overview's buckets are a quarter of a pixel at this width).
    pixel = np.minimum(np.arange(20_000) * 200 // 20_000, 199)
    for j in range(200):
        near = kept[(np.abs(pixel[steps] - j) <= 1) & np.isfinite(kept)]
        inside = values[(pixel == j) & np.isfinite(values)]
        assert near.max() >= inside.max() and near.min() <= inside.min()
    exact = m4(np.arange(20_000, dtype=float), values, 2000).index  # wider than an overview serves
    wide = client.get("/api/runs/long/metrics/noisy", params={"width": 2000}).json()
    assert wide["steps"] == exact.tolist()
    zoom = client.get(
        "/api/runs/long/metrics/noisy", params={"width": 200, "start": 12_000, "end": 12_500}
    ).json()
    assert zoom["points"] == 501 and zoom["downsampled"] is False  # 501 points fit in 200 px × 4
    assert zoom["steps"][0] == 11_999 and zoom["steps"][-1] == 12_501  # the line runs to the edges


def test_output_tail_follows_from_an_offset(client: TestClient, filled: Path) -> None:
    with Notebook.open(filled) as nb:
        run = nb.get_run("fast-0")
        path = nb.output_path(run)
    path.write_text("first line\n")
    first = client.get("/api/runs/fast-0/output").json()
    assert first["text"] == "first line\n" and first["next"] == 11
    with path.open("a") as fh:
        fh.write("second ünïcode line\n")
    more = client.get("/api/runs/fast-0/output", params={"offset": first["next"]}).json()
    assert more["text"] == "second ünïcode line\n" and more["next"] == path.stat().st_size
    past = client.get("/api/runs/fast-0/output", params={"offset": 10_000})
    assert past.status_code == 400 and "past the end" in past.json()["error"]


def test_curves_pool_seeds_with_the_band_lab_plot_draws(client: TestClient, filled: Path) -> None:
    from labbook.service.curves import gather

    got = client.get("/api/curves", params={"metric": "acc", "width": 400}).json()
    with Notebook.open(filled) as nb:
        curves, _ = gather(nb, "acc")
    assert (
        [c["label"] for c in got["curves"]] == [c.label for c in curves] == ["lr=0.1 (n=3)", "lr=0.01 (n=3)"]
    )
    for mine, theirs in zip(got["curves"], curves, strict=True):
        assert mine["x"] == theirs.x.tolist() and np.allclose(mine["mean"], theirs.mean)
        assert np.allclose(mine["band"]["low"], theirs.low) and np.allclose(mine["band"]["high"], theirs.high)
        assert mine["run_ids"] == theirs.run_ids
    per_run = client.get(
        "/api/curves", params={"metric": "acc", "group": "run", "runs": "fast-0,slow-0"}
    ).json()
    assert [c["n"] for c in per_run["curves"]] == [1, 1] and all(c["band"] is None for c in per_run["curves"])
    smooth = client.get(
        "/api/curves", params={"metric": "acc", "smooth": "ema:0.9", "group": "run", "runs": "fast-0"}
    ).json()
    raw = cli_json("metrics", "fast-0", "acc")["values"]
    expected, last = [], 0.0
    for i, v in enumerate(raw, 1):  # TensorBoard's debiased EMA, written out
        last = last * 0.9 + 0.1 * v
        expected.append(last / (1 - 0.9**i))
    assert np.allclose(smooth["curves"][0]["mean"], expected)


def test_compare_is_exactly_lab_compare_json(client: TestClient) -> None:
    got = client.get("/api/compare", params={"a": "lr=0.1", "b": "lr=0.01", "metric": "acc"}).json()
    assert got == cli_json("compare", "lr=0.1", "lr=0.01", "--metric", "acc")
    assert "better" in got["metrics"][0]["sentence"] or "higher" in got["metrics"][0]["sentence"]


def test_hypotheses_calibration_journal_search_today(client: TestClient) -> None:
    assert client.get("/api/hypotheses").json() == cli_json("hyp", "ls")
    assert client.get("/api/hypotheses/H1").json() == cli_json("hyp", "show", "H1")
    assert client.get("/api/calibration").json() == dict(cli_json("calibration"), figure=None)
    assert client.get("/api/due").json() == cli_json("due")
    assert client.get("/api/journal", params={"since": "all"}).json() == cli_json("journal", "--since", "all")
    assert client.get("/api/search", params={"q": "plateau"}).json() == cli_json("search", "plateau")
    assert client.get("/api/today").json() == cli_json("today")


def test_failures_and_papers(client: TestClient) -> None:
    assert client.get("/api/failures").json() == cli_json("failures", "ls")
    assert client.get("/api/failures/errs/piles").json() == cli_json("failures", "piles", "errs")
    items = client.get("/api/failures/errs").json()
    assert items["items"] == cli_json("failures", "show", "errs") and items["cursor"] == 0
    assert client.get("/api/papers").json() == cli_json("papers", "ls")
    queue = client.get("/api/papers/queue").json()
    assert [p["title"] for p in queue["papers"]] == [
        p["title"] for p in cli_json("papers", "ls", "--status", "untriaged")
    ]
    assert client.get("/api/papers/R1").json() == cli_json("papers", "show", "R1")


def test_writes_go_through_the_service(client: TestClient, filled: Path) -> None:
    headers = csrf(client)
    h = client.post(
        "/api/hypotheses", json={"text": "warm restarts help", "tags": ["sched"]}, headers=headers
    )
    assert h.status_code == 201 and h.json()["ref"] == "H2"
    p = client.post(
        "/api/predictions", json={"hypothesis": "H2", "text": "a small gain", "p": 0.6}, headers=headers
    )
    assert p.status_code == 201 and p.json()["late"] is False and p.json()["p"] == 0.6
    late = client.post(
        "/api/predictions", json={"hypothesis": "H1", "text": "after the fact", "p": 0.9}, headers=headers
    )
    assert late.status_code == 201 and late.json()["late"] is True  # H1's runs have results
    note = client.post("/api/notes", json={"text": "try cosine", "hypothesis": "H2"}, headers=headers)
    assert note.status_code == 201 and note.json()["text"] == "try cosine"
    first = client.get("/api/failures/errs").json()["items"][0]["id"]
    put = client.put(
        f"/api/failures/errs/items/{first}",
        json={"piles": ["confusion"], "note": "dog vs cat"},
        headers=headers,
    )
    assert put.status_code == 200 and put.json()["piles"] == ["confusion"]
    assert (
        client.put("/api/failures/errs/cursor", params={"position": 1}, headers=headers).json()["cursor"] == 1
    )
    piles = cli_json("failures", "piles", "errs")
    assert piles["reviewed"] == 1 and piles["piles"][0]["pile"] == "confusion"
    t = client.post(
        "/api/papers/R1/triage",
        json={"decision": "read", "kind": "recipe", "changes": "yes"},
        headers=headers,
    )
    assert t.status_code == 200 and t.json()["status"] == "read"
    assert [p["ref"] for p in cli_json("hyp", "ls")] == ["H1", "H2"]


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "kind", "words"),
    [
        ("get", "/api/runs?where=acc.max >", None, 400, "QueryError", "ends too early"),
        ("get", "/api/runs?where=nosuch == 1", None, 400, "QueryError", "nosuch"),
        ("get", "/api/runs?limit=0", None, 400, "BadInput", "limit"),
        ("get", "/api/runs?columns=bogus", None, 400, "BadInput", "unknown column 'bogus'"),
        ("get", "/api/runs/999", None, 404, "RunNotFound", "no run '999'"),
        ("get", "/api/runs/fast-0/metrics/nothing", None, 400, "BadInput", "no metric 'nothing'"),
        ("get", "/api/runs/fast-0/metrics/acc?width=abc", None, 400, "BadInput", "width"),
        ("get", "/api/curves?metric=acc&smooth=wiggly", None, 400, "BadInput", "smoothing 'wiggly'"),
        ("get", "/api/compare?a=lr=0.1&b=lr=9", None, 400, "BadInput", "lr=9"),
        ("get", "/api/hypotheses/H9", None, 404, "NotFound", "H9"),
        ("get", "/api/failures/nosample", None, 404, "NotFound", "nosample"),
        ("post", "/api/predictions", {"hypothesis": "H1", "text": "x"}, 400, "BadInput", "-p"),
        ("post", "/api/hypotheses", {"text": ""}, 400, "BadInput", "text"),
        ("post", "/api/papers/R1/triage", {"decision": "burn"}, 400, "BadInput", "decision"),
        ("get", "/api/nothing-here", None, 404, "NotFound", "no such page"),
    ],
)
def test_bad_requests_are_one_line_of_the_tree(
    client: TestClient, method: str, url: str, body: dict | None, status: int, kind: str, words: str
) -> None:
    r = client.request(method, url, json=body, headers=csrf(client))
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "kind"} and "\n" not in r.json()["error"]
    assert r.json()["kind"] == kind and words in r.json()["error"]


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run}",
        "/api/runs/{run}/metrics/{key}",
        "/api/compare",
        "/api/curves",
        "/api/hypotheses",
        "/api/hypotheses/{ref}",
        "/api/calibration",
        "/api/journal",
        "/api/search",
        "/api/today",
        "/api/predictions",
        "/api/failures/{sample}/items/{example}",
        "/api/papers/{paper}/triage",
    ):
        assert path in paths, path
    assert not any(p.startswith("/runs") for p in paths)  # pages are not part of the API


def test_a_tail_never_cuts_a_character_in_two(client: TestClient, filled: Path) -> None:
    from labbook.web.api import runs as api

    with Notebook.open(filled) as nb:
        path = nb.output_path(nb.get_run("fast-1"))
    text = "é" * (api.OUTPUT_TAIL // 2 + 10) + "→end\n"  # two bytes each: the tail starts mid-character
    path.write_text(text)
    tail = client.get("/api/runs/fast-1/output").json()
    assert (
        "\ufffd" not in tail["text"] and text.endswith(tail["text"]) and tail["next"] == path.stat().st_size
    )
    path.write_bytes(text.encode()[: api.OUTPUT_TAIL + 1])  # the file ends half-way through an "é"
    page = client.get("/api/runs/fast-1/output", params={"offset": 0}).json()
    assert "\ufffd" not in page["text"] and page["next"] == api.OUTPUT_TAIL
    rest = client.get("/api/runs/fast-1/output", params={"offset": page["next"]}).json()
    assert rest["offset"] == api.OUTPUT_TAIL and rest["next"] == api.OUTPUT_TAIL  # half a character waits


def test_nan_is_spelled_as_the_cli_spells_it_and_a_chart_gets_a_gap(client: TestClient) -> None:
    with labbook.init(name="diverged") as run:
        for i, v in enumerate([0.5, 0.4, float("nan"), float("inf")]):
            run.log({"loss": v}, step=i)
    shown = client.get("/api/runs/diverged").json()
    assert shown == cli_json("show", "diverged")
    assert shown["metrics"]["loss"]["last"] == "Infinity" and shown["metrics"]["loss"]["nan_count"] == 1
    series = client.get("/api/runs/diverged/metrics/loss").json()
    assert series["values"] == [0.5, 0.4, None, None] and series["steps"] == [0, 1, 2, 3]


def test_pooled_curves_are_kept_only_while_their_runs_stay_the_same(client: TestClient, filled: Path) -> None:
    from tests.web.conftest import log_run

    first = client.get("/api/curves", params={"metric": "acc"}).json()
    assert client.get("/api/curves", params={"metric": "acc"}).json() == first  # from the cache
    log_run({"lr": 0.1, "seed": 7}, 0.9)  # a fourth seed of lr=0.1
    again = client.get("/api/curves", params={"metric": "acc"}).json()
    assert [c["label"] for c in again["curves"]] == ["lr=0.1 (n=4)", "lr=0.01 (n=3)"]
    assert again["curves"][0]["mean"][-1] == pytest.approx((0.81 + 0.83 + 0.80 + 0.9) / 4)


def test_failure_diff_is_lab_failures_diff(client: TestClient) -> None:
    from tests.web.conftest import examples

    with labbook.init(name="evaluated-again") as run:
        run.log_examples(examples(1))
    got = client.get("/api/failures/diff", params={"a": "evaluated", "b": "evaluated-again"}).json()
    assert got == cli_json("failures", "diff", "evaluated", "evaluated-again")


def test_a_calibration_bin_is_lab_calibration_bin(client: TestClient) -> None:
    got = client.get("/api/calibration/bin", params={"lo": 0.6, "hi": 0.8}).json()
    assert got == cli_json("calibration", "--bin", "0.6-0.8")
    assert [p["ref"] for p in got] == ["P1"] and got[0]["outcome"] == "true"  # lr=0.1 did beat lr=0.01
    bad = client.get("/api/calibration/bin", params={"lo": 0.8, "hi": 0.6})
    assert bad.status_code == 400 and bad.json()["kind"] == "BadInput"
