"""The team server's tokens: made once, kept only as a digest, checked on every request.

A token is 256 random bits (``lbk_`` + URL-safe base64), so one sha256 is enough to
keep it: there is nothing to guess. It is shown once, when it is made. Its role says
what it may do (``read`` < ``write`` < ``admin``); its name is the author of what it
writes. Revoking is immediate: every request looks its token up.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING

from labbook.errors import BadInput, NotFound
from labbook.records.server import ROLES, Principal, TokenRow

if TYPE_CHECKING:
    from labbook.service.notebook import Notebook

PREFIX = "lbk_"
_SHAPE = re.compile(r"lbk_[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[^\s][^\x00-\x1f]{0,79}")
TOUCH_EVERY_S = 60.0  # how often a token's last use is written: not on every request


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """The tokens part of the notebook service (``notebook.tokens``)."""

    def __init__(self, notebook: Notebook) -> None:
        self.store = notebook.store.server

    def create(self, name: str, role: str = "write") -> tuple[TokenRow, str]:
        """A new token for ``name``: its row, and the token itself (never stored)."""
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise BadInput(
                "a token's name is a few words saying whose it is (at most 80 characters), such as ada-laptop"
            )
        if role not in ROLES:
            raise BadInput(f"a token's role is one of {', '.join(ROLES)}, not {role!r}")
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = self.store.create_token(name, role, digest(token), time.time())
        (row,) = [t for t in self.store.tokens() if t.id == token_id]
        return row, token

    def all(self) -> list[TokenRow]:
        return self.store.tokens()

    def revoke(self, ref: str) -> list[TokenRow]:
        """Revoke the token with id ``ref``, or every active token named ``ref``; the rows revoked."""
        rows = self.store.tokens()
        chosen = [t for t in rows if str(t.id) == ref.strip()] or [t for t in rows if t.name == ref.strip()]
        if not chosen:
            raise NotFound(f"no token {ref!r} on this server; `lab server token ls` lists them")
        done = set(self.store.revoke_tokens([t.id for t in chosen if t.active], time.time()))
        if not done:
            raise BadInput(f"the token {ref!r} is revoked already")
        return [t for t in self.store.tokens() if t.id in done]

    def check(self, token: str) -> Principal | None:
        """Who ``token`` is, or None for a token that is malformed, unknown or revoked."""
        if not _SHAPE.fullmatch(token):
            return None
        row = self.store.token_by_digest(digest(token))
        if row is None or not row.active:
            return None
        now = time.time()
        if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY_S:
            self.store.touch_token(row.id, now)
        return Principal(row.name, row.role, row.id)
