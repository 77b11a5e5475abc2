"""The gate every request passes: host, token, CSRF and body size, as one ASGI middleware.

- On a loopback bind the ``Host`` header must name the loopback too, so a web page on
  another site cannot reach the app through DNS rebinding.
- With a token (any non-loopback bind), every request carries it: ``Authorization:
  Bearer T``, or the cookie set by the one login link ``/login?token=T`` (SameSite=Lax,
  so the redirect after a link opened from another site carries it).
- A write (any method but GET/HEAD/OPTIONS) from a browser must echo the ``lab_csrf``
  cookie in an ``X-CSRF-Token`` header (double submit): another site can make the
  browser send the cookie but cannot read it. A client that authenticates with the
  ``Authorization`` header is not a browser acting for someone else and needs no echo.
- A body larger than ``max_body`` is refused with 413 before it is read whole.
- A team server (``WebSettings.server``) checks every request's token against the
  notebook's tokens (``authorize``): reading needs the ``read`` role, anything else
  ``write``; the token's name is the request's ``principal``. An address that sends more
  than ``bad_tokens`` bad tokens in ``bad_token_window`` seconds is refused (429) until
  the window has passed, good token or not.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from labbook.records.server import Principal
from labbook.web.settings import WebSettings, is_loopback

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "lab_token"
CSRF_COOKIE = "lab_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


Authorize = Callable[[str], Principal | None]


class Attempts:
    """Bad tokens per address in a sliding window; ``clock`` is injectable so tests need no waiting."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str) -> deque[float]:
        now = self.clock()
        seen = self._seen.setdefault(who, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        return seen

    def blocked(self, who: str) -> bool:
        with self._lock:
            return len(self._recent(who)) >= self.limit

    def failed(self, who: str) -> None:
        with self._lock:
            self._recent(who).append(self.clock())


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        settings: WebSettings,
        authorize: Authorize | None = None,
        attempts: Attempts | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.authorize = authorize
        self.attempts = attempts or Attempts(settings.bad_tokens, settings.bad_token_window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        cookies = _cookies(headers.get("cookie", ""))
        refusal = None
        if self.settings.server:  # who it is comes first: without a token, every request is a 401
            refusal = await self._check_token(scope, headers, cookies)
        refusal = refusal or self._refusal(scope, headers, cookies)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        if scope["path"] == "/login":
            await self._login(scope, send)
            return
        if scope["method"] not in SAFE_METHODS and "content-length" not in headers:
            body = await _read_body(receive, self.settings.max_body)
            if body is None:
                await _reply(
                    send, 413, "TooLarge", f"the request body is over {self.settings.max_body:,} bytes"
                )
                return
            receive = _replay(body)
        csrf = cookies.get(CSRF_COOKIE, "")
        fresh = not _TOKEN_SHAPE.fullmatch(csrf)  # only ever one of ours: pages embed it as it is
        if fresh:
            csrf = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csrf"] = csrf
        await self.app(scope, receive, _with_cookie(send, csrf) if fresh else send)

    def _refusal(
        self, scope: Scope, headers: dict[str, str], cookies: dict[str, str]
    ) -> tuple[int, str, str] | None:
        """(status, kind, one line) when the request may not go on."""
        host = _host_name(headers.get("host", ""))
        # A team server checks a token on every request instead: a rebound name carries none.
        if self.settings.loopback and not self.settings.server and host and not is_loopback(host):
            return 403, "Forbidden", f"host {host!r} is not this machine; open {self.settings.base_url}"
        bearer = headers.get("authorization", "")
        by_header = bearer.lower().startswith("bearer ")
        if self.settings.token and not self.settings.server and scope["path"] != "/login":
            given = bearer[7:].strip() if by_header else cookies.get(TOKEN_COOKIE, "")
            if not secrets.compare_digest(given.encode(), self.settings.token.encode()):
                return (
                    401,
                    "Unauthorized",
                    "a token is needed: open the login link lab ui printed, or send Authorization: Bearer TOKEN",
                )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.settings.max_body:
            return 413, "TooLarge", f"the request body is over {self.settings.max_body:,} bytes"
        if scope["method"] not in SAFE_METHODS and not (
            by_header and (self.settings.token or self.settings.server)
        ):
            echo = headers.get(CSRF_HEADER, "")
            cookie = cookies.get(CSRF_COOKIE, "")
            if not cookie or not secrets.compare_digest(echo.encode(), cookie.encode()):
                return 403, "Forbidden", "a write needs the page's CSRF token (X-CSRF-Token); reload the page"
        return None

    async def _check_token(
        self, scope: Scope, headers: dict[str, str], cookies: dict[str, str]
    ) -> tuple[int, str, str] | None:
        """A team server's check: a known, active token whose role allows the request."""
        from starlette.concurrency import run_in_threadpool

        who = (scope.get("client") or ("?",))[0]
        if self.attempts.blocked(who):
            return (
                429,
                "TooManyRequests",
                "too many bad tokens from this address; wait a minute and try again",
            )
        bearer = headers.get("authorization", "")
        if scope["path"] == "/login":
            given = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        elif bearer.lower().startswith("bearer "):
            given = bearer[7:].strip()
        else:
            given = cookies.get(TOKEN_COOKIE, "")
        if not given:
            return (
                401,
                "Unauthorized",
                "a token is needed: send Authorization: Bearer TOKEN (`lab server token create NAME` makes one)",
            )
        principal = await run_in_threadpool(self.authorize, given) if self.authorize else None
        if principal is None:
            self.attempts.failed(who)
            return (
                401,
                "Unauthorized",
                "the token is not valid on this server (wrong, or revoked); ask for a new one",
            )
        needed = "read" if scope["method"] in SAFE_METHODS else "write"
        if not principal.may(needed):
            return (
                403,
                "Forbidden",
                f"the token {principal.name!r} may only {principal.role}; this needs {needed}",
            )
        scope.setdefault("state", {})["principal"] = principal
        scope["state"]["token"] = given
        return None

    async def _login(self, scope: Scope, send: Send) -> None:
        """``/login?token=T``: the token becomes a cookie, then the app opens."""
        given = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
        expected = self.settings.token or ""
        if self.settings.server:
            expected = scope.get("state", {}).get("token", "")  # checked against the notebook's tokens
        if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
            await _reply(send, 401, "Unauthorized", "that login link's token is not this server's")
            return
        # Lax, not Strict: the login link is usually opened from another site (a chat, a
        # terminal), and a Strict cookie would not go with the redirect that follows it.
        # Writes are guarded by the CSRF token, which no other site can read.
        cookie = f"{TOKEN_COOKIE}={expected}; Path=/; HttpOnly; SameSite=Lax"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8765`` → ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


async def _reply(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": message, "kind": kind}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _with_cookie(send: Send, csrf: str) -> Send:
    cookie = f"{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict".encode()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message, headers=[*message.get("headers", []), (b"set-cookie", cookie)])
        await send(message)

    return wrapped


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """A body sent without a length (chunked), read whole if it is within ``limit``, else None."""
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
