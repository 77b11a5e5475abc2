"""A team server as a client sees it: where it is (``lab login``, or the environment) and how to talk to it.

``lab login URL --token T`` checks the token against the server and keeps both in the
user's config (``$XDG_CONFIG_HOME/labbook/server.json``, mode 0600); a batch job sets
``LABBOOK_SERVER`` and ``LABBOOK_TOKEN`` instead, which win. ``LABBOOK_SERVER=off`` logs
locally only whatever the config says.

The client speaks HTTP with the standard library (``http.client``, imported when there
is something to send): a training process must not pay for importing an HTTP stack. Every failure is one ``LabbookError``:
``StoreUnreachable`` when the server does not answer (the caller keeps the data and tries
later), ``NotAuthorized`` for a wrong or revoked token, ``BadInput`` for what the server
refused, with its one line.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from labbook.errors import BadInput, LabbookError, NotAuthorized, Refused, SchemaTooNew, StoreUnreachable

if TYPE_CHECKING:
    import http.client

ENV_SERVER = "LABBOOK_SERVER"
ENV_TOKEN = "LABBOOK_TOKEN"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Server:
    url: str  # scheme://host[:port], no trailing slash
    token: str

    @property
    def label(self) -> str:
        return self.url


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "labbook" / "server.json"


def normal_url(url: str) -> str:
    """``host:8770`` or ``http://host:8770/`` → ``http://host:8770``; BadInput for what is not a server URL."""
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{url!r} is not a server URL; give one like http://lab-server:8770")
    if parts.path or parts.query:
        raise BadInput(f"give the server's address without a path: {parts.scheme}://{parts.netloc}")
    return f"{parts.scheme}://{parts.netloc}"


def configured() -> Server | None:
    """The server runs are sent to, or None: the environment first, then ``lab login``'s config."""
    url = os.environ.get(ENV_SERVER, "").strip()
    if url.lower() == "off":
        return None
    if url:
        token = os.environ.get(ENV_TOKEN, "").strip()
        if not token:
            raise BadInput(f"{ENV_SERVER} is set but {ENV_TOKEN} is not; set both, or neither")
        return Server(normal_url(url), token)
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise BadInput(f"cannot read {path} ({err}); run `lab login URL --token T` again") from None
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        raise BadInput(f"{path} holds no server; run `lab login URL --token T` again")
    return Server(str(data["url"]), str(data["token"]))


def save_login(server: Server) -> Path:
    """Keep the server and its token for this user: the file is made 0600 before the token is in it."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps({"url": server.url, "token": server.token}, indent=2).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def forget_login() -> bool:
    try:
        config_path().unlink()
    except FileNotFoundError:
        return False
    return True


class Client:
    """One keep-alive connection to a server; not shared between threads."""

    def __init__(self, server: Server, timeout: float = TIMEOUT_S) -> None:
        self.server = server
        self.timeout = timeout
        parts = urlsplit(server.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._conn: http.client.HTTPConnection | None = None
        self._spoken = False  # whether the server's API was checked

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        import http.client  # only once there is something to send: a run without a server never pays
        import ssl

        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """The JSON the server answered; one ``LabbookError`` for anything else."""
        if not self._spoken:
            self.info()  # first, whether this client can speak to it at all
        status, raw = self.exchange(method, path, body, content_type)
        return self._answer(status, raw)

    def raw(self, path: str) -> bytes:
        """The bytes a GET answered (a writer file); one ``LabbookError`` for an error."""
        status, raw = self.exchange("GET", path)
        if not 200 <= status < 300:
            self._answer(status, raw)
        return raw

    def exchange(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """(status, body) of one request, once more on a fresh connection if a kept-alive one was closed."""
        import http.client

        headers = {"Authorization": f"Bearer {self.server.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more, afresh
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException) as err:
                self.close()
                if attempt == 2 or not isinstance(
                    err, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
                    raise StoreUnreachable(
                        f"the server at {self.server.url} does not answer ({reason})"
                    ) from None
        return response.status, raw

    def _answer(self, status: int, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if 200 <= status < 300:
            return data
        message = str(data.get("error") or f"HTTP {status}")
        if status == 401:
            raise NotAuthorized(f"the server at {self.server.url} refused the token: {message}")
        if status == 403:
            raise NotAuthorized(f"the server at {self.server.url}: {message}")
        if status in (502, 503, 504) or status == 429:
            raise StoreUnreachable(f"the server at {self.server.url} cannot take it now ({message})")
        if 400 <= status < 500:
            raise Refused(f"the server at {self.server.url} refused: {message}", status, data)
        raise LabbookError(f"the server at {self.server.url} failed: {message}")

    # -- the calls ---------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Who the server is and who the token is; ``SchemaTooNew`` when it speaks a newer API than this."""
        from labbook import __version__
        from labbook.records.server import API_VERSION

        answer = self._answer(*self.exchange("GET", "/api/v1/server"))
        theirs = answer.get("api", 1)
        if not isinstance(theirs, int) or theirs > API_VERSION:
            raise SchemaTooNew(
                f"the server at {self.server.url} speaks labbook API v{theirs} (labbook {answer.get('version')});"
                f" this labbook ({__version__}) speaks v{API_VERSION}: upgrade it (pip install -U labbook)"
            )
        self._spoken = True
        return answer

    def save_runs(self, runs: list[dict[str, Any]], check: bool = False) -> dict[str, Any]:
        return self.request("POST", "/api/v1/runs", json.dumps({"runs": runs, "check": check}).encode())

    def save_records(self, records: dict[str, list[dict[str, Any]]], check: bool = False) -> dict[str, Any]:
        return self.request(
            "POST", "/api/v1/records", json.dumps({**records, "check": check}, default=str).encode()
        )

    def marks(self, uid: str) -> dict[str, dict[str, int]]:
        return dict(self.request("GET", f"/api/v1/runs/{quote(uid)}/marks").get("writers", {}))

    def save_points(self, uid: str, writer: str, starts: dict[str, int], blocks: bytes) -> dict[str, int]:
        body = json.dumps({"starts": starts}).encode() + b"\n" + blocks
        query = urlencode({"writer": writer})
        answer = self.request(
            "POST", f"/api/v1/runs/{quote(uid)}/points?{query}", body, "application/octet-stream"
        )
        return dict(answer.get("counts", {}))

    def save_examples(self, uid: str, split: str, rows: list[tuple[str, int | None, str]]) -> int:
        query = urlencode({"split": split})
        body = json.dumps({"rows": rows}).encode("utf-8", "surrogatepass")
        return int(self.request("POST", f"/api/v1/runs/{quote(uid)}/examples?{query}", body).get("saved", 0))
