"""The team server's rows: token digests, what it holds of each writer file; a client's acknowledgements.

``record_upload`` is the one write of received points: their metric summaries and the
writer file's new length and counts, in one transaction, so what the server says it holds
is always what its summaries count. A file longer than its mark ends in an append whose
transaction never committed; the ingest service cuts it back before appending again.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from labbook.records.server import TokenRow, UploadMark
from labbook.store.sql.db import Database
from labbook.store.sql.runs import merge_metrics_sql, metric_row

if TYPE_CHECKING:
    from labbook.records.runs import BatchSummary

_TOKEN = "id, name, role, created_at, revoked_at, last_used_at"


class SqlServer:
    """``ServerStore`` over a ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tokens ------------------------------------------------------------------
    def create_token(self, name: str, role: str, digest: str, at: float) -> int:
        with self.db.tx() as c:
            (token_id,) = c.execute(
                "INSERT INTO tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (name, role, digest, at),
            ).fetchone()
        return int(token_id)

    def tokens(self) -> list[TokenRow]:
        return [TokenRow(*r) for r in self.db.read(f"SELECT {_TOKEN} FROM tokens ORDER BY id")]

    def token_by_digest(self, digest: str) -> TokenRow | None:
        rows = self.db.read(f"SELECT {_TOKEN} FROM tokens WHERE hash = ?", (digest,))
        return TokenRow(*rows[0]) if rows else None

    def revoke_tokens(self, ids: list[int], at: float) -> list[int]:
        """The ids revoked now (an already revoked token is left as it was)."""
        done = []
        with self.db.tx() as c:
            for token_id in ids:
                if c.execute(
                    "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, token_id)
                ).rowcount:
                    done.append(token_id)
        return done

    def touch_token(self, token_id: int, at: float) -> None:
        with self.db.tx() as c:
            c.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (at, token_id))

    # -- what the server holds -------------------------------------------------------
    def upload_marks(self, run_id: int) -> dict[str, UploadMark]:
        rows = self.db.read("SELECT writer, bytes, counts FROM uploads WHERE run_id = ?", (run_id,))
        return {w: UploadMark(int(b), json.loads(c)) for w, b, c in rows}

    def record_upload(self, run_id: int, writer: str, mark: UploadMark, batches: list[BatchSummary]) -> None:
        """The summaries of points just appended to ``writer``'s file, and its new mark, at once."""
        now = time.time()
        with self.db.tx() as c:
            if batches:
                c.executemany(
                    merge_metrics_sql(self.db.dialect), [metric_row(run_id, b, now) for b in batches]
                )
            c.execute(  # points arriving are a heartbeat, as a local writer's merge is
                "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (now, run_id)
            )
            c.execute(
                "INSERT INTO uploads (run_id, writer, bytes, counts) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, writer) DO UPDATE SET bytes = excluded.bytes, counts = excluded.counts",
                (run_id, writer, mark.bytes, json.dumps(mark.counts, sort_keys=True)),
            )

    # -- a client's acknowledgements ---------------------------------------------------
    def sync_marks(self, server: str) -> dict[tuple[str, str], tuple[str, bool]]:
        """{(kind, uid): (digest, done)} of what ``server`` has acknowledged."""
        rows = self.db.read("SELECT kind, uid, digest, done FROM sync_state WHERE server = ?", (server,))
        return {(k, u): (d, bool(done)) for k, u, d, done in rows}

    def set_sync_mark(self, server: str, kind: str, uid: str, digest: str, done: bool, at: float) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO sync_state (server, kind, uid, digest, done, at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (server, kind, uid) DO UPDATE SET digest = excluded.digest,"
                " done = excluded.done, at = excluded.at",
                (server, kind, uid, digest, int(done), at),
            )
