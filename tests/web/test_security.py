"""The gate: tokens off the loopback, CSRF on writes, the Host check, size limits, no path out."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labbook.service.notebook import Notebook
from labbook.web import WebSettings, create_app
from tests.conftest import LAB


@pytest.fixture
def open_app(notebook: Notebook) -> Iterator[TestClient]:
    """Bound to every address: a token is made and required."""
    app = create_app(notebook, WebSettings(host="0.0.0.0", port=9999))
    with TestClient(app, base_url="http://10.1.2.3:9999") as c:
        c.token = app.state.settings.token  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def local_app(notebook: Notebook) -> Iterator[TestClient]:
    with TestClient(create_app(notebook, WebSettings(max_body=1000)), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_a_non_loopback_bind_needs_the_token_on_every_request(open_app: TestClient) -> None:
    token: str = open_app.token  # type: ignore[attr-defined]
    assert token and len(token) >= 24
    for path in ("/api/runs", "/runs", "/openapi.json", "/static/labbook.css", "/api/nothing"):
        r = open_app.get(path)
        assert r.status_code == 401 and r.json()["kind"] == "Unauthorized", path
    assert open_app.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert open_app.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert open_app.get("/login", params={"token": "wrong"}).status_code == 401
    login = open_app.get("/login", params={"token": token}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=Lax" in login.headers["set-cookie"]
    assert open_app.get("/api/runs").status_code == 200  # the cookie from the login link now


def test_a_bearer_client_writes_without_csrf_a_cookie_one_does_not(open_app: TestClient) -> None:
    token: str = open_app.token  # type: ignore[attr-defined]
    by_header = open_app.post(
        "/api/hypotheses", json={"text": "h"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert by_header.status_code == 201
    open_app.get("/login", params={"token": token})
    by_cookie = open_app.post("/api/hypotheses", json={"text": "h"})
    assert by_cookie.status_code == 403 and "CSRF" in by_cookie.json()["error"]


def test_a_forged_write_without_the_csrf_echo_is_refused(local_app: TestClient, notebook: Notebook) -> None:
    assert local_app.post("/api/hypotheses", json={"text": "forged"}).status_code == 403
    local_app.get("/runs")  # the page sets the cookie
    wrong = local_app.post("/api/hypotheses", json={"text": "forged"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403 and wrong.json() == {
        "error": "a write needs the page's CSRF token (X-CSRF-Token); reload the page",
        "kind": "Forbidden",
    }
    assert notebook.hypotheses.list() == []  # nothing was written
    ok = local_app.post(
        "/api/hypotheses", json={"text": "real"}, headers={"X-CSRF-Token": local_app.cookies["lab_csrf"]}
    )
    assert ok.status_code == 201


def test_another_host_name_on_a_loopback_bind_is_refused(local_app: TestClient) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the notebook."""
    r = local_app.get("/api/runs", headers={"Host": "evil.example:8765"})
    assert r.status_code == 403 and "not this machine" in r.json()["error"]
    for name in ("localhost:8765", "127.0.0.1", "[::1]:8765", "[::1]", "localhost"):
        assert local_app.get("/api/runs", headers={"Host": name}).status_code == 200, name
    for name in ("evil.example", "[2001:db8::1]:8765", "127.0.0.1.evil.example:8765"):
        assert local_app.get("/api/runs", headers={"Host": name}).status_code == 403, name


def test_a_body_over_the_limit_is_refused_and_nothing_written(
    local_app: TestClient, notebook: Notebook
) -> None:
    local_app.get("/runs")
    headers = {"X-CSRF-Token": local_app.cookies["lab_csrf"], "Content-Type": "application/json"}
    big = b'{"text": "' + b"x" * 2000 + b'"}'
    r = local_app.post("/api/hypotheses", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["kind"] == "TooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big[:500]
        yield big[500:]

    r = local_app.post("/api/hypotheses", content=chunks(), headers=headers)
    assert r.status_code == 413
    assert notebook.hypotheses.list() == []


@pytest.fixture
def served(project: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``lab ui --port 0`` as a real process; yields it and the URL it printed."""
    proc = subprocess.Popen(
        [*LAB, "ui", "--port", "0"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
    yield proc, match.group(0)
    proc.terminate()
    proc.wait(timeout=60)


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """A request with the path sent exactly as written (no client normalises the dots away)."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.endheaders()
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_lab_ui_serves_and_no_path_leaves_the_package(served: tuple[subprocess.Popen[str], str]) -> None:
    _, url = served
    status, body = raw_get(url, "/api/runs")
    assert status == 200 and b'"total":0' in body
    for path in (
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fetc/passwd",
        "/static//etc/passwd",
        "/../../etc/passwd",
        "/api/runs/..%2f..%2f..%2fetc%2fpasswd",
    ):
        status, body = raw_get(url, path)
        assert status in (404, 400) and b"root:" not in body, path


def test_lab_ui_on_a_port_in_use_says_so(project: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run(
            [*LAB, "ui", "--port", str(port)], cwd=project, capture_output=True, text=True, timeout=120
        )
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == f"error: port {port} on 127.0.0.1 is in use; pick another with --port (0: any free one)"
    )


def test_lab_ui_without_the_web_extra_says_how_to_install_it(project: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    (blocked / "fastapi").mkdir(parents=True)
    (blocked / "fastapi" / "__init__.py").write_text("raise ImportError('not installed', name='fastapi')\n")
    env = dict(os.environ, PYTHONPATH=f"{blocked}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = subprocess.run(
        [sys.executable, "-m", "labbook", "ui"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "error: lab ui needs the web extra (fastapi is missing): pip install 'labbook[web]'"
    )


def test_lab_ui_open_opens_the_printed_link_once_it_answers(project: Path, tmp_path: Path) -> None:
    """--open hands the URL to the user's browser ($BROWSER here: a script noting what it got)."""
    from tests.conftest import wait_for

    got = tmp_path / "opened.txt"
    opener = tmp_path / "browser.py"
    opener.write_text(
        "import sys, urllib.request\n"
        "status = urllib.request.urlopen(sys.argv[1]).status\n"  # the server answers by then
        f"open({str(got)!r}, 'w').write(f'{{sys.argv[1]}} {{status}}')\n"
    )
    env = dict(os.environ, BROWSER=f"{sys.executable} {opener} %s")
    proc = subprocess.Popen(
        [*LAB, "ui", "--port", "0", "--open"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"http://\S+", proc.stdout.readline()).group(0)  # type: ignore[union-attr]
        wait_for(lambda: got.exists() and got.read_text().endswith(" 200"), label="the browser to be opened")
        assert got.read_text() == f"{url} 200"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_a_planted_csrf_cookie_is_replaced_not_echoed_into_pages(local_app: TestClient) -> None:
    local_app.cookies.set("lab_csrf", 'x"><script>alert(1)</script>')
    page = local_app.get("/runs")
    assert "<script>alert(1)" not in page.text and "alert(1)" not in page.headers.get("set-cookie", "")
    fresh = page.cookies["lab_csrf"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", fresh) and f'content="{fresh}"' in page.text
