"""Records of the team server: its tokens, who a request is, and what a client has sent."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("read", "write", "admin")  # each may do what the ones before it may
#: The version of what clients and server say to each other under /api/v1; a server speaking a
#: newer one is refused by an older client, in one line naming both.
API_VERSION = 1


@dataclass(frozen=True)
class TokenRow:
    """A token as the server keeps it: never the token itself, only its digest."""

    id: int
    name: str
    role: str
    created_at: float
    revoked_at: float | None
    last_used_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """Who a request is: the token's name (the author of what it writes) and its role."""

    name: str
    role: str
    token_id: int | None = None

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class UploadMark:
    """What the server holds of one writer file of a run: its length and the points of each key."""

    bytes: int
    counts: dict[str, int]
