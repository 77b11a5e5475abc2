"""A small notebook holding every kind of record the pages show, and an in-process client."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import labbook
from labbook.service.notebook import Notebook
from labbook.web import WebSettings, create_app
from tests.conftest import lab

A_ACC = [0.81, 0.83, 0.80]
B_ACC = [0.74, 0.77, 0.75]


def log_run(config: dict[str, Any], acc: float, steps: int = 50, name: str | None = None) -> int:
    with labbook.init(config=config, name=name) as run:
        for step in range(steps):
            frac = (step + 1) / steps
            run.log({"acc": acc * frac, "loss": 1 - acc * frac}, step=step)
        return run.id


def examples(seed: int, n: int = 30) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        target = rng.choice(["cat", "dog", "bird"])
        output = target if rng.random() < 0.6 else rng.choice(["cat", "dog", "bird"])
        out.append(
            {
                "id": f"q{i}",
                "input": f"picture {i}",
                "output": output,
                "target": target,
                "correct": output == target,
            }
        )
    return out


@pytest.fixture
def filled(project: Path) -> Path:
    """Two variants of three seeds, a hypothesis with a prediction made before them, a note,
    per-example results with a reviewed sample, and two untriaged papers."""
    hyp = lab("hyp", "add", "a higher learning rate helps", "--json")
    assert hyp.exit_code == 0, hyp.output
    pred = lab(
        "predict",
        "H1",
        "lr=0.1 beats lr=0.01",
        "-p",
        "0.7",
        "--metric",
        "acc",
        "--verdict",
        "lr=0.1",
        "lr=0.01",
        "better",
        "--runs",
        "3",
    )
    assert pred.exit_code == 0, pred.output
    for seed, (a, b) in enumerate(zip(A_ACC, B_ACC, strict=True)):
        log_run({"lr": 0.1, "seed": seed}, a, name=f"fast-{seed}")
        log_run({"lr": 0.01, "seed": seed}, b, name=f"slow-{seed}")
    with Notebook.open(project) as nb:
        for run in nb.list_runs(limit=0)[0]:
            nb.link_run(run.id, "H1")
    with labbook.init(name="evaluated") as run:
        run.log_examples(examples(0))
    assert lab("failures", "sample", str(run.id), "-n", "10", "--name", "errs").exit_code == 0
    assert lab("note", "the slow runs plateau early", "--against", "H1").exit_code == 0
    bib = project / "refs.bib"
    bib.write_text(
        "@article{adam, title={Adam: A Method for Stochastic Optimization}, author={Kingma, Diederik and Ba, Jimmy}, year={2015}}\n"
        "@article{sgdr, title={SGDR: Stochastic Gradient Descent with Warm Restarts}, author={Loshchilov, Ilya}, year={2017}}\n"
    )
    assert lab("papers", "import", str(bib)).exit_code == 0
    return project


@pytest.fixture
def client(filled: Path) -> Iterator[TestClient]:
    nb = Notebook.open(filled)
    with TestClient(create_app(nb, WebSettings()), base_url="http://127.0.0.1:8765") as c:
        yield c
    nb.close()


def cli_json(*args: str) -> Any:
    result = lab(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def csrf(client: TestClient) -> dict[str, str]:
    """The header a page's scripts send with a write: the CSRF cookie echoed."""
    client.get("/runs")
    return {"X-CSRF-Token": client.cookies["lab_csrf"]}


# -- a real server and a real browser ---------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"


class Served:
    """``lab ui``'s app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, nb: Notebook, live_every: float = 2.0, host: str = "127.0.0.1") -> None:
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        port = self.sock.getsockname()[1]
        self.app = create_app(nb, WebSettings(host=host, port=port, live_every=live_every))
        self.settings = self.app.state.settings  # with the token made for a non-loopback host
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        from tests.conftest import wait_for

        wait_for(lambda: self.server.started or not self.thread.is_alive(), label="the server to start")
        assert self.server.started, "the server did not start"
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.sock.close()


@pytest.fixture
def served(filled: Path) -> Iterator[Served]:
    nb = Notebook.open(filled)
    s = Served(nb, live_every=0.2)  # what is running refreshes quickly, so a test waits little
    yield s
    s.stop()
    nb.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a loaded CI machine is slow, never wrong: wait on states

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests drive Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser page; a JavaScript error on any page fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=served.url)
    context.set_default_timeout(60_000)  # a loaded CI machine is slow, never wrong
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda err: errors.append(str(err)))
    yield p
    context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> Path:
    """A screenshot kept as a test artifact (test-artifacts/screenshots/NAME.png)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
