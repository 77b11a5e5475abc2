"""What the team server's commands print: its tokens, what a client has left to send."""

from __future__ import annotations

from typing import Any

from labbook.records.server import TokenRow
from labbook.views.tables import plain_table, short_when


def token_rows(rows: list[TokenRow]) -> list[dict[str, Any]]:
    """``lab server token ls --json``: never the token, only what it is and how it was used."""
    return [
        {"id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at,
         "last_used_at": t.last_used_at, "revoked_at": t.revoked_at, "active": t.active}
        for t in rows
    ]  # fmt: skip


def tokens_table(rows: list[TokenRow]) -> str:
    if not rows:
        return "no tokens yet: `lab server token create NAME` makes one"
    body = [
        [str(t.id), t.name, t.role, short_when(t.created_at), short_when(t.last_used_at) if t.last_used_at else "never",
         short_when(t.revoked_at) if t.revoked_at else ""]
        for t in rows
    ]  # fmt: skip
    return plain_table(["id", "name", "role", "created", "last used", "revoked"], body, right={0})
