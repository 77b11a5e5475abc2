"""How one web app is served: where it listens, its token, its limits.

Passed to ``create_app`` by the command that builds it, never read from the environment,
so what a test builds is exactly what ``lab ui`` serves.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, replace

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    #: Required on every request when set; ``lab ui`` sets one for any non-loopback bind.
    token: str | None = None
    #: The largest request body accepted (a form, a note); larger is refused with 413.
    max_body: int = 1 << 20
    #: Seconds between refreshes of what is still running (runs table, output tail).
    live_every: float = 2.0
    #: A team server (``lab server``): every request needs one of the notebook's tokens,
    #: whatever the bind, and its role decides what it may do.
    server: bool = False
    #: Bad tokens one address may send per ``bad_token_window`` seconds before it is refused (429).
    bad_tokens: int = 20
    bad_token_window: float = 60.0

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def secured(self) -> WebSettings:
        """These settings, with a fresh token when the bind is reachable from other machines."""
        if self.token or self.loopback or self.server:
            return self
        return replace(self, token=secrets.token_urlsafe(24))

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
